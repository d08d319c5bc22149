import BitPacking
import Foundation
import Quantization
import TensorGraph
import Testing
import TestSupport
@testable import PackedFormat

/// The spec's worked example: one 4-input, 2-output InnerProduct with 3-bit weights.
func specExampleGraph() -> Graph {
    let ip = Node(name: "fc", op: .innerProduct(InnerProductAttributes(numOutput: 2)), inputs: ["data"], outputs: ["fc"],
                  parameters: [Tensor(shape: [2, 4], data: [0.375, -0.125, 0, 0.25, -0.375, 0.125, 0.125, -0.25]),
                               Tensor(shape: [2], data: [0.5, -1.5])])
    return Graph(name: "example", inputs: [GraphInput(name: "data", shape: [1, 4])], nodes: [ip], output: "fc",
                 preprocessing: Preprocessing(scale: 0.5))
}

let specExampleEncodings: [String: TensorEncoding] = ["fc/weights": .pattern(try! BitPattern(parsing: "X0.0XX"), .nearest)]

func hexdump(_ bytes: [UInt8]) -> String {
    stride(from: 0, to: bytes.count, by: 16).map { offset in
        let line = bytes[offset..<min(offset + 16, bytes.count)].map { String(format: "%02x", $0) }
        let left = line.prefix(8).joined(separator: " "), right = line.dropFirst(8).joined(separator: " ")
        return String(format: "%08x  ", offset) + left + (right.isEmpty ? "" : "  " + right)
    }.joined(separator: "\n")
}

/// The hexdump blocks of SPEC.md, by the name in the line before each block.
func specHexdumps() throws -> [String: String] {
    let text = try String(contentsOf: SharedData.packageRoot.appendingPathComponent("formats/packed/SPEC.md"), encoding: .utf8)
    var result: [String: String] = [:]
    let parts = text.components(separatedBy: "<!-- golden: ")
    for part in parts.dropFirst() {
        let name = String(part.prefix { $0 != " " })
        guard let start = part.range(of: "```\n"), let end = part.range(of: "\n```", range: start.upperBound..<part.endIndex) else { continue }
        result[name] = String(part[start.upperBound..<end.lowerBound])
    }
    return result
}

@Suite struct PackedFormatTests {
    let format = PackedFormat()

    @Test func crcCheckValue() {
        #expect(CRC32.checksum(Array("123456789".utf8)) == 0xCBF4_3926)
    }

    @Test func bitStreamPutsTheFirstValueInTheLowestBits() {
        var writer = BitWriter()
        for value: UInt32 in [3, 5, 0, 2] { writer.append(value, width: 3) }
        #expect(writer.finish(alignment: 4) == [0x2B, 0x04, 0x00, 0x00])
    }

    @Test func goldenHexdumpsInTheSpecMatch() throws {
        let golden = try specHexdumps()
        let file = try format.encode(specExampleGraph(), encodings: specExampleEncodings)
        #expect(golden["example-file"] == hexdump(file), "SPEC.md's example file differs; encoder output:\n\(hexdump(file))")
        var words = BitWriter()
        for value: UInt32 in [3, 5, 0, 2] { words.append(value, width: 3) }
        #expect(golden["example-payload"] == hexdump(words.finish(alignment: 4)))
    }

    @Test func exampleRoundTrips() throws {
        let bytes = try format.encode(specExampleGraph(), encodings: specExampleEncodings)
        let model = try format.decode(bytes)
        #expect(try model.graph() == specExampleGraph())
        #expect(model.tensors.map(\.encoding) == [specExampleEncodings["fc/weights"]!, .float32])
    }

    /// A recorded datapath round-trips, marks the file as version 1.1, and gives back the plan;
    /// files without one stay version 1.0.
    @Test func datapathRoundTripsAndRaisesTheMinorVersion() throws {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("datapath-\(UUID().uuidString).bmq")
        defer { try? FileManager.default.removeItem(at: url) }
        let pattern = try BitPattern(parsing: "X0.0XX")
        let plan = QuantizationPlan(rounding: .nearest, entries: [.init(layer: "fc", weights: .pattern(pattern))])
        let contract = DatapathContract(input: FixedPointFormat(bits: 8, fraction: 7, signed: true), layers: [
            .init(name: "fc", output: FixedPointFormat(bits: 8, fraction: 4, signed: true), weightFraction: 3, accumulatorFraction: 10,
                  accumulatorBits: 13, bias: [512, -1536]),
        ])
        try format.write(specExampleGraph(), quantizedBy: plan, reports: [], datapath: contract, to: url)
        let bytes = [UInt8](try Data(contentsOf: url))
        #expect(bytes[10] == 1 && bytes[11] == 0, "minor version")
        #expect(try format.read(from: url).description.datapath == contract)
        let recorded = try format.readQuantizedModel(from: url)
        #expect(recorded.graph == specExampleGraph())
        #expect(recorded.datapath == contract)
        #expect(recorded.plan == QuantizationPlan(rounding: .nearest, entries: plan.entries, activations: contract.activationFormats))
        let plain = try format.encode(specExampleGraph(), encodings: specExampleEncodings)
        #expect(plain[10] == 0 && plain[11] == 0)
    }

    @Test func valuesOutsideThePatternAreRefused() throws {
        var graph = specExampleGraph()
        graph.nodes[0].parameters[0].data[0] = 0.3
        #expect { try format.encode(graph, encodings: specExampleEncodings) } throws: { "\($0)".contains("not representable in pattern 5_2_0_1_0") }
    }

    @Test func everyTruncationAndBitFlipIsRejectedNamingTheSection() throws {
        let bytes = try format.encode(specExampleGraph(), encodings: specExampleEncodings)
        for length in 0..<bytes.count {
            #expect(throws: FormatError.self) { try format.decode(Array(bytes.prefix(length))) }
        }
        for index in 0..<bytes.count {
            for bit in 0..<8 {
                var flipped = bytes
                flipped[index] ^= UInt8(1 << bit)
                do {
                    _ = try format.decode(flipped)
                    Issue.record("a flip of bit \(bit) of byte \(index) was accepted")
                } catch let error as FormatError {
                    #expect(error.message.contains("section") || error.message.contains("file header") || error.message.contains("after the last"),
                            "\(error)")
                }
            }
        }
    }

    @Test func hugeShapesAreRejectedBeforeAllocating() throws {
        // A tensor claiming 2^31 x 2^31 values, with a valid CRC so only the size check can stop it.
        let bytes = try format.encode(specExampleGraph(), encodings: specExampleEncodings)
        var payload = ByteWriter()
        payload.u16(UInt16("fc/weights".utf8.count)); payload.raw(Array("fc/weights".utf8)); payload.pad(to: 4)
        payload.u8(2); payload.u8(0); payload.u16(0); payload.u32(1 << 31); payload.u32(1 << 31)
        payload.u64(1 << 62); payload.u64(1 << 62); payload.pad(to: 8)
        let forged = Self.replacingSection(1, of: bytes, with: payload.bytes)
        #expect { try format.decode(forged) } throws: { "\($0)".contains("section 2 of 3 (tensor 'fc/weights')") }
    }

    /// Rebuilds a file with section `index` (0-based) replaced and every CRC recomputed.
    static func replacingSection(_ index: Int, of bytes: [UInt8], with payload: [UInt8]) -> [UInt8] {
        var reader = ByteReader(bytes, offset: 24)
        var sections: [([UInt8], [UInt8])] = []
        while reader.remaining > 0 {
            let tag = try! reader.raw(4); _ = try! reader.u32(); let length = Int(try! reader.u64())
            let body = try! reader.raw(length)
            _ = try! reader.raw((8 - length % 8) % 8 + 8)
            sections.append((tag, body))
        }
        sections[index].1 = payload
        var out = ByteWriter()
        out.raw(Array(bytes[0..<24]))
        for (tag, body) in sections {
            var header = ByteWriter()
            header.raw(tag); header.u32(0); header.u64(UInt64(body.count))
            out.raw(header.bytes); out.raw(body); out.pad(to: 8)
            out.u32(CRC32.checksum(header.bytes + body)); out.u32(0)
        }
        return out.bytes
    }

    /// Found by `mutationFuzzing`: a section length near 2^64 overflowed the padding arithmetic.
    @Test func fuzzFoundHugeSectionLength() throws {
        var bytes = try format.encode(specExampleGraph(), encodings: specExampleEncodings)
        bytes.replaceSubrange(32..<40, with: [UInt8](repeating: 0xFF, count: 8))
        #expect { try format.decode(bytes) } throws: { "\($0)".contains("section 1 of 3: claims 18446744073709551615 payload bytes") }
    }

    /// Seeded random mutations (flips, byte overwrites, cuts, splices): the reader must throw or return, never crash.
    @Test func mutationFuzzing() throws {
        let seedFiles = [try format.encode(specExampleGraph(), encodings: specExampleEncodings),
                         try format.encode(specExampleGraph(), encodings: ["fc/weights": .scaledInteger(bits: 4, scales: [0.125])])]
        var state: UInt64 = 0xB00F
        func next(_ bound: Int) -> Int {
            state = state &* 6364136223846793005 &+ 1442695040888963407
            return Int((state >> 33) % UInt64(max(bound, 1)))
        }
        for iteration in 0..<3000 {
            var bytes = seedFiles[iteration % 2]
            for _ in 0...next(4) {
                switch next(4) {
                case 0: bytes[next(bytes.count)] ^= UInt8(1 << next(8))
                case 1: bytes[next(bytes.count)] = UInt8(next(256))
                case 2: bytes = Array(bytes.prefix(next(bytes.count)))
                default: bytes.insert(UInt8(next(256)), at: next(bytes.count))
                }
                if bytes.isEmpty { break }
            }
            // Mutations rarely keep a valid CRC; re-sealing the sections lets the fuzzer reach the payload checks too.
            if iteration % 3 == 0, bytes.count > 24, let sealed = try? Self.resealed(bytes) { bytes = sealed }
            _ = try? format.decode(bytes).graph()
        }
    }

    static func resealed(_ bytes: [UInt8]) throws -> [UInt8] {
        var out = bytes
        var header = ByteWriter()
        header.raw(Array(bytes[0..<20]))
        out.replaceSubrange(20..<24, with: withUnsafeBytes(of: CRC32.checksum(header.bytes).littleEndian, Array.init))
        var offset = 24
        while offset + 16 <= out.count {
            var reader = ByteReader(out, offset: offset + 8)
            let length = Int(clamping: try reader.u64())
            guard length <= out.count else { break }
            let end = offset + 16 + length
            let crcOffset = offset + 16 + (length + 7) / 8 * 8
            guard length >= 0, end <= out.count, crcOffset + 8 <= out.count else { break }
            out.replaceSubrange(crcOffset..<(crcOffset + 4), with: withUnsafeBytes(of: CRC32.checksum(out[offset..<end]).littleEndian, Array.init))
            offset = crcOffset + 8
        }
        return out
    }
}

