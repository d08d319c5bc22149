import BitPacking
import Foundation
import Quantization
import TensorGraph

/// Encodes a graph into the packed layout.
enum PackedWriter {
    /// - Parameter encodings: per tensor name, how to store it; tensors not listed are float32.
    /// - Throws: `FormatError` when a value is not representable in its encoding.
    static func encode(_ graph: Graph, encodings: [String: TensorEncoding], datapath: DatapathContract? = nil, file: String) throws -> [UInt8] {
        var description = GraphDescription(graph)
        description.datapath = datapath
        var sections: [(String, [UInt8])] = []
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        sections.append((PackedLayout.networkTag, Array(try encoder.encode(description))))
        var tensors: [(String, Tensor)] = []
        for node in graph.nodes {
            for (index, tensor) in node.parameters.enumerated() {
                tensors.append((GraphDescription.parameterName(layer: node.name, op: node.op, index: index), tensor))
            }
        }
        if let mean = graph.preprocessing?.meanImage { tensors.append((GraphDescription.meanImageName, mean)) }
        for (name, tensor) in tensors {
            sections.append((PackedLayout.tensorTag, try tensorPayload(name: name, tensor: tensor, encoding: encodings[name] ?? .float32, file: file)))
        }

        var out = ByteWriter()
        out.raw(PackedLayout.magic)
        out.u16(PackedLayout.major)
        out.u16(datapath == nil ? 0 : PackedLayout.minor)
        out.u32(UInt32(sections.count))
        out.u32(0)
        out.u32(CRC32.checksum(out.bytes))
        for (tag, payload) in sections {
            var header = ByteWriter()
            header.raw(Array(tag.utf8))
            header.u32(0)
            header.u64(UInt64(payload.count))
            let crc = CRC32.checksum(header.bytes + payload)
            out.raw(header.bytes)
            out.raw(payload)
            out.pad(to: 8)
            out.u32(crc)
            out.u32(0)
        }
        return out.bytes
    }

    static func tensorPayload(name: String, tensor: Tensor, encoding: TensorEncoding, file: String) throws -> [UInt8] {
        var out = ByteWriter()
        let nameBytes = Array(name.utf8)
        out.u16(UInt16(nameBytes.count))
        out.raw(nameBytes)
        out.pad(to: 4)
        out.u8(UInt8(tensor.shape.rank))
        out.u8(encoding.code)
        out.u16(0)
        for dim in tensor.shape.dims { out.u32(UInt32(dim)) }
        let data: [UInt8]
        switch encoding {
        case .float32:
            var values = ByteWriter()
            for value in tensor.data { values.f32(value) }
            data = values.bytes
        case let .pattern(pattern, rounding):
            out.u8(UInt8(pattern.totalBits))
            out.u8(UInt8(pattern.maskedCount))
            out.u8(UInt8(bitPattern: Int8(pattern.shift)))
            out.u8(rounding == .maskAfter ? 0 : 1)
            for position in pattern.masked { out.u8(UInt8(position)) }
            out.pad(to: 4)
            let codec = PatternCodec(pattern)
            let lsb = pattern.leastSignificantBit
            var bits = BitWriter(capacity: tensor.count * pattern.storedBits / 8 + 8)
            for (index, value) in tensor.data.enumerated() {
                let scaled = Double(value.magnitude) / lsb
                guard scaled == scaled.rounded(), scaled < Double(1 << codec.magnitudeBits),
                      let word = codec.word(negative: value < 0 && scaled != 0, code: Int(scaled)) else {
                    throw FormatError(file: file, "tensor '\(name)' value \(index) (\(value)) is not representable in pattern \(pattern.label); quantize before packing")
                }
                bits.append(word, width: pattern.storedBits)
            }
            data = bits.finish(alignment: 4)
        case let .scaledInteger(bitsPerValue, scales):
            out.u8(UInt8(bitsPerValue))
            out.u8(0)
            out.u16(0)
            out.u32(UInt32(scales.count))
            for scale in scales { out.f32(scale) }
            let perScale = max(1, tensor.count / max(1, scales.count))
            let levels = (1 << (bitsPerValue - 1)) - 1
            var bits = BitWriter(capacity: tensor.count * bitsPerValue / 8 + 8)
            for (index, value) in tensor.data.enumerated() {
                let scale = scales[min(index / perScale, scales.count - 1)]
                let q = scale > 0 ? Int((value.magnitude / scale).rounded()) : 0
                guard q <= levels, Float(q) * scale == value.magnitude else {
                    throw FormatError(file: file, "tensor '\(name)' value \(index) (\(value)) is not a multiple of its scale \(scale); quantize before packing")
                }
                bits.append((value < 0 && q != 0 ? UInt32(1) << UInt32(bitsPerValue - 1) : 0) | UInt32(q), width: bitsPerValue)
            }
            data = bits.finish(alignment: 4)
        }
        out.u64(UInt64(tensor.count))
        out.u64(UInt64(data.count))
        out.pad(to: 8)
        out.raw(data)
        return out.bytes
    }
}
