import BitPacking
import Foundation
import Quantization
import TensorGraph

/// Decodes and checks the packed layout. Every failure names the file and the section.
enum PackedReader {
    static func decode(_ bytes: [UInt8], file: String, verifyValues: Bool = true) throws -> PackedModel {
        func fail(_ message: String) -> FormatError { FormatError(file: file, message) }
        guard bytes.count >= PackedLayout.headerSize else {
            throw fail(bytes.isEmpty ? "the file is empty: expected a packed .bmq model" : "file header: truncated (\(bytes.count) bytes)")
        }
        guard Array(bytes[0..<8]) == PackedLayout.magic else { throw fail("file header: not a packed bmq file (bad magic)") }
        var header = ByteReader(bytes, offset: 8)
        let major = try header.u16(), minor = try header.u16()
        let count = Int(try header.u32()), flags = try header.u32(), crc = try header.u32()
        guard CRC32.checksum(bytes[0..<20]) == crc else { throw fail("file header: CRC mismatch (corrupt)") }
        guard major == PackedLayout.major else { throw fail("file header: format version \(major).\(minor) is not supported (this bmq reads \(PackedLayout.major).x)") }
        guard flags == 0 else { throw fail("file header: unknown flags \(flags)") }
        guard count >= 1, count <= (bytes.count - PackedLayout.headerSize) / 24 else {
            throw fail("file header: \(count) sections cannot fit in \(bytes.count) bytes")
        }

        var offset = PackedLayout.headerSize
        var description: GraphDescription?
        var tensors: [PackedTensor] = []
        for index in 0..<count {
            let label = "section \(index + 1) of \(count)"
            guard bytes.count - offset >= 24 else { throw fail("\(label): truncated (file ends at byte \(bytes.count))") }
            var reader = ByteReader(bytes, offset: offset)
            let tagBytes = try reader.raw(4)
            let sectionFlags = try reader.u32()
            let length = try reader.u64()
            guard length <= UInt64(bytes.count - offset - 24) else {
                throw fail("\(label): claims \(length) payload bytes, more than the file holds (truncated?)")
            }
            let padded = (Int(length) + 7) / 8 * 8
            guard bytes.count - offset - 24 >= padded else {
                throw fail("\(label): claims \(length) payload bytes, more than the file holds (truncated?)")
            }
            let payloadStart = offset + 16, payloadEnd = payloadStart + Int(length)
            let crcOffset = payloadStart + padded
            var trailer = ByteReader(bytes, offset: crcOffset)
            let storedCRC = try trailer.u32(), zero = try trailer.u32()
            guard CRC32.checksum(bytes[offset..<payloadEnd]) == storedCRC else { throw fail("\(label): CRC mismatch (corrupt)") }
            guard zero == 0, bytes[payloadEnd..<crcOffset].allSatisfy({ $0 == 0 }) else { throw fail("\(label): non-zero padding (corrupt)") }
            guard sectionFlags == 0 else { throw fail("\(label): unknown flags \(sectionFlags)") }
            let tag = String(decoding: tagBytes, as: UTF8.self)
            let payload = Array(bytes[payloadStart..<payloadEnd])
            switch tag {
            case PackedLayout.networkTag:
                guard description == nil, index == 0 else { throw fail("\(label): the network description must come first, once") }
                do {
                    description = try JSONDecoder().decode(GraphDescription.self, from: Data(payload))
                } catch let error as GraphError {
                    throw fail("network description: \(error)")
                } catch {
                    throw fail("\(label) (network description): invalid JSON")
                }
            case PackedLayout.tensorTag:
                guard description != nil else { throw fail("\(label): a tensor before the network description") }
                tensors.append(try decodeTensor(payload, label: label, file: file, verifyValues: verifyValues))
            default:
                throw fail("\(label): unknown section tag '\(tag)'")
            }
            offset = crcOffset + 8
        }
        guard offset == bytes.count else { throw fail("\(bytes.count - offset) bytes after the last section (corrupt or not a bmq file)") }
        guard let description else { throw fail("no network description section") }
        return PackedModel(description: description, tensors: tensors)
    }

    static func decodeTensor(_ payload: [UInt8], label: String, file: String, verifyValues: Bool) throws -> PackedTensor {
        var reader = ByteReader(payload)
        var name = "?"
        func fail(_ message: String) -> FormatError { FormatError(file: file, "\(label) (tensor '\(name)'): \(message)") }
        do {
            let nameLength = Int(try reader.u16())
            name = String(decoding: try reader.raw(nameLength), as: UTF8.self)
            guard try reader.padding(to: 4) else { throw fail("non-zero padding") }
            let rank = Int(try reader.u8()), encodingCode = try reader.u8()
            guard try reader.u16() == 0 else { throw fail("non-zero reserved field") }
            guard rank <= 8 else { throw fail("rank \(rank) is too large") }
            var dims: [Int] = []
            for _ in 0..<rank { dims.append(Int(try reader.u32())) }
            let shape = Shape(dims)
            guard let elementCount = shape.checkedCount else { throw fail("shape \(shape) overflows") }
            let encoding: TensorEncoding
            switch encodingCode {
            case 0: encoding = .float32
            case 1:
                let n = Int(try reader.u8()), m = Int(try reader.u8())
                let shift = Int(Int8(bitPattern: try reader.u8())), roundingCode = try reader.u8()
                var masked: [Int] = []
                for _ in 0..<m { masked.append(Int(try reader.u8())) }
                guard try reader.padding(to: 4) else { throw fail("non-zero padding") }
                guard roundingCode <= 1 else { throw fail("unknown rounding code \(roundingCode)") }
                let pattern: BitPattern
                do { pattern = try BitPattern(totalBits: n, masked: masked, shift: shift) } catch { throw fail("invalid pattern: \(error)") }
                guard pattern.masked == masked else { throw fail("masked positions are not in ascending order") }
                encoding = .pattern(pattern, roundingCode == 0 ? .maskAfter : .nearest)
            case 2:
                let bits = Int(try reader.u8())
                guard try reader.u8() == 0, try reader.u16() == 0 else { throw fail("non-zero reserved field") }
                let scaleCount = Int(try reader.u32())
                guard (2...16).contains(bits) else { throw fail("integer width \(bits) is outside 2...16") }
                guard scaleCount == 1 || (rank > 0 && scaleCount == dims[0]) else {
                    throw fail("\(scaleCount) scales for shape \(shape): need 1 or one per first-dimension slice")
                }
                guard scaleCount * 4 <= reader.remaining else { throw fail("truncated scales") }
                var scales: [Float] = []
                for _ in 0..<scaleCount { scales.append(try reader.f32()) }
                guard scales.allSatisfy({ $0.isFinite && $0 >= 0 }) else { throw fail("a scale is negative or not finite") }
                encoding = .scaledInteger(bits: bits, scales: scales)
            default:
                throw fail("unknown encoding \(encodingCode)")
            }
            let count = try reader.u64(), dataLength = try reader.u64()
            guard count == UInt64(elementCount) else { throw fail("element count \(count) does not match shape \(shape)") }
            guard try reader.padding(to: 8) else { throw fail("non-zero padding") }
            // Sizes are checked against what the payload holds before anything is allocated.
            let bits = encoding.bitsPerValue
            guard elementCount <= reader.remaining * 8 else {
                throw fail("\(elementCount) values cannot fit in the \(reader.remaining) payload bytes left")
            }
            let needed = (elementCount * bits + 7) / 8
            let expected = encoding == .float32 ? needed : (needed + 3) / 4 * 4
            guard dataLength == UInt64(expected), Int(dataLength) == reader.remaining else {
                throw fail("data length \(dataLength) does not match \(elementCount) values of \(bits) bits in \(reader.remaining) payload bytes")
            }
            let data = try reader.raw(Int(dataLength))
            let values = try decodeValues(data, count: elementCount, encoding: encoding, fail: fail)
            return PackedTensor(name: name, shape: shape, encoding: encoding, data: data, values: Tensor(shape: shape, data: values))
        } catch is ByteReader.Overrun {
            throw fail("truncated")
        }
    }

    static func decodeValues(_ data: [UInt8], count: Int, encoding: TensorEncoding, fail: (String) -> FormatError) throws -> [Float] {
        var values = [Float](repeating: 0, count: count)
        try data.withUnsafeBytes { raw in
            switch encoding {
            case .float32:
                for index in 0..<count { values[index] = Float(bitPattern: raw.loadUnaligned(fromByteOffset: index * 4, as: UInt32.self).littleEndian) }
            case let .pattern(pattern, _):
                let codec = PatternCodec(pattern)
                var reader = BitReader(raw)
                for index in 0..<count {
                    guard let value = codec.value(of: reader.read(width: pattern.storedBits)) else {
                        throw fail("value \(index) is a negative zero, which no writer produces (corrupt)")
                    }
                    values[index] = value
                }
                try checkPaddingBits(&reader, fail: fail)
            case let .scaledInteger(bits, scales):
                var reader = BitReader(raw)
                let perScale = max(1, count / scales.count)
                let signBit = UInt32(1) << UInt32(bits - 1)
                for index in 0..<count {
                    let word = reader.read(width: bits)
                    let magnitude = word & (signBit - 1)
                    if magnitude == 0, word & signBit != 0 { throw fail("value \(index) is a negative zero (corrupt)") }
                    let value = Float(magnitude) * scales[min(index / perScale, scales.count - 1)]
                    values[index] = word & signBit != 0 ? -value : value
                }
                try checkPaddingBits(&reader, fail: fail)
            }
        }
        return values
    }

    static func checkPaddingBits(_ reader: inout BitReader, fail: (String) -> FormatError) throws {
        while reader.remaining > 0 {
            guard reader.read(width: min(8, reader.remaining)) == 0 else { throw fail("non-zero padding bits after the last value (corrupt)") }
        }
    }
}
