import Foundation
import TensorGraph
import Testing
import TestSupport
@testable import Quantization

/// Every pattern the notation allows up to `maxBits` total bits, with shift 0.
func allPatterns(maxBits: Int) -> [BitPattern] {
    (2...maxBits).flatMap { n in
        (0..<(1 << (n - 1))).compactMap { maskBits -> BitPattern? in
            let masked = (0..<(n - 1)).filter { maskBits & (1 << $0) != 0 }
            return try? BitPattern(totalBits: n, masked: masked)
        }
    }
}

/// Probe weights: the value set's members, midpoints (ties), points just off them, beyond the range, and noise.
func probes(for pattern: BitPattern) -> [Float] {
    let values = pattern.magnitudes
    var result: [Float] = [0, 1e-9, 100, -100]
    for (index, value) in values.enumerated() {
        result += [Float(value), Float(value) * 1.0001, Float(value) * 0.9999]
        if index + 1 < values.count { result.append(Float((value + values[index + 1]) / 2)) }
    }
    let lsb = pattern.leastSignificantBit
    for code in 0...(1 << (pattern.totalBits - 1)) { result.append(Float((Double(code) + 0.5) * lsb)) }
    var state: UInt64 = 12345
    for _ in 0..<64 {
        state = state &* 6364136223846793005 &+ 1442695040888963407
        result.append(Float(Double(state >> 11) / Double(1 << 53) * 2.5 * pattern.maxMagnitude))
    }
    return result + result.map { -$0 }
}

/// The literal thesis rounding, written with integers and bit operations.
func maskAfterReference(_ weight: Float, _ pattern: BitPattern) -> Float {
    let lsb = pattern.leastSignificantBit
    let maxCode = (1 << (pattern.totalBits - 1)) - 1
    var code = Int((Double(weight.magnitude) / lsb + 0.5).rounded(.down))
    code = min(code, maxCode)
    for position in pattern.masked { code &= ~(1 << (pattern.totalBits - 2 - position)) }
    let value = Float(Double(code) * lsb)
    return weight < 0 && code != 0 ? -value : value
}

@Suite struct BitPatternTests {
    @Test func labelsAndPicturesRoundTrip() throws {
        for pattern in allPatterns(maxBits: 10) {
            #expect(try BitPattern(parsing: pattern.label) == pattern)
            #expect(try BitPattern(parsing: try #require(pattern.picture)) == pattern)
        }
        let p = try BitPattern(parsing: "5_2_0_1_0")
        #expect(p.picture == "X0.0XX" && p.storedBits == 3 && p.magnitudes == [0, 0.125, 0.25, 0.375])
        #expect(try BitPattern(parsing: "X0.00X0X").label == "7_4_0_1_2_4_0")
        #expect(try BitPattern(parsing: "5_2_0_1_1").picture == nil)
    }

    @Test(arguments: [
        ("5_3_0_1_0", "5_3_0_1_0: declares 3 masked positions but lists 2"),
        ("5_1_0_1_0", "5_1_0_1_0: declares 1 masked position but lists 2"),
        ("5_2_0_4_0", "5_2_0_4_0: masked position 4 is outside the 4 magnitude bits 0...3"),
        ("5_2_1_1_0", "5_2_1_1_0: masked positions repeat"),
        ("3_2_0_1_0", "3_2_0_1_0: every magnitude bit is masked, so only zero is representable"),
        ("5_a_0", "5_a_0: field 2 'a' is not an integer"),
        ("5_0", "5_0: a label needs at least n_m_s (three fields separated by '_'), or use a picture like X0.0XX"),
        ("X0.0X2", "X0.0X2: '2' is not X (stored bit), 0 (masked bit) or '.'"),
        ("X00.XX", "X00.XX: a picture is the sign X, one integer bit, '.', then fraction bits (like X0.0XX)"),
        ("1_0_0", "1_0_0: total width 1 must be between 2 and 32 bits"),
    ])
    func badStringsSayWhatIsWrong(text: String, message: String) {
        #expect { try BitPattern(parsing: text) } throws: { "\($0)" == message }
    }

    @Test func everyPatternUpToTenBitsAgainstBruteForce() throws {
        let patterns = allPatterns(maxBits: 10)
        #expect(patterns.count == (2...10).reduce(0) { $0 + (1 << ($1 - 1)) - 1 })
        for pattern in patterns {
            // The value set by brute force over every stored-bit combination.
            let positions = pattern.storedPositions
            var set = Set<Double>()
            for bits in 0..<(1 << positions.count) {
                set.insert(positions.enumerated().reduce(0.0) { $0 + (bits & (1 << $1.offset) != 0 ? pattern.positionWeight($1.element) : 0) })
            }
            #expect(Set(pattern.magnitudes) == set)
            let nearest = PatternQuantizer(pattern: pattern, rounding: .nearest)
            let maskAfter = PatternQuantizer(pattern: pattern, rounding: .maskAfter)
            for weight in probes(for: pattern) {
                let q = nearest.quantize(weight)
                #expect(set.contains(Double(q.magnitude)), "\(pattern.label) \(weight) -> \(q) not in set")
                // No member is closer; on a tie the larger magnitude wins.
                let distance = abs(Double(weight.magnitude) - Double(q.magnitude))
                let better = set.filter {
                    let d = abs(Double(weight.magnitude) - $0)
                    return d < distance || (d == distance && $0 > Double(q.magnitude))
                }
                #expect(better.isEmpty, "\(pattern.label) \(weight) -> \(q), but \(better.sorted()) is nearer")
                #expect(q == 0 || (q < 0) == (weight < 0))
                #expect(nearest.quantize(q) == q, "\(pattern.label): quantizing \(q) again changed it")

                let m = maskAfter.quantize(weight)
                #expect(m == maskAfterReference(weight, pattern), "\(pattern.label) \(weight)")
                #expect(set.contains(Double(m.magnitude)))
                #expect(maskAfter.quantize(m) == m)
            }
        }
    }

    @Test func maskAfterDiffersFromNearestAsTheSeedSays() throws {
        let pattern = try BitPattern(parsing: "X0.0XX")
        #expect(PatternQuantizer(pattern: pattern, rounding: .maskAfter).quantize(0.6) == 0.125)
        #expect(PatternQuantizer(pattern: pattern, rounding: .nearest).quantize(0.6) == 0.375)
    }
}

/// The project's published reference vectors (shared/docs/pattern-vectors.json).
@Suite(.enabled(if: SharedData.shouldRun, "shared data not found; set BMQ_SHARED"))
struct PatternVectorTests {
    struct Vectors: Decodable {
        struct Pattern: Decodable {
            struct Example: Decodable {
                var w: Double
                var nearest: Double
                var mask_after: Double
            }
            var label: String
            var picture: String?
            var stored_bits: Int
            var masked_positions: [Int]
            var shift: Int
            var magnitudes: [Double]
            var examples: [Example]
        }
        var patterns: [Pattern]
    }

    @Test func agreeWithTheReferenceVectors() throws {
        let data = try Data(contentsOf: SharedData.url("docs/pattern-vectors.json"))
        let vectors = try JSONDecoder().decode(Vectors.self, from: data)
        #expect(vectors.patterns.count >= 19)
        for reference in vectors.patterns {
            let pattern = try BitPattern(parsing: reference.label)
            #expect(pattern.picture == reference.picture)
            #expect(pattern.storedBits == reference.stored_bits)
            #expect(pattern.masked == reference.masked_positions && pattern.shift == reference.shift)
            #expect(pattern.magnitudes == reference.magnitudes, "\(reference.label)")
            let nearest = PatternQuantizer(pattern: pattern, rounding: .nearest)
            let maskAfter = PatternQuantizer(pattern: pattern, rounding: .maskAfter)
            for example in reference.examples {
                let w = Float(example.w)
                #expect(nearest.quantize(w) == Float(example.nearest), "\(reference.label) nearest(\(example.w))")
                #expect(maskAfter.quantize(w) == Float(example.mask_after), "\(reference.label) mask-after(\(example.w))")
            }
        }
    }
}

@Suite struct BaselineAndPlanTests {
    let weights = Tensor(shape: [2, 4], data: [0.5, -0.25, 0.1, -1.0, 0.02, 0.01, -0.04, 0.03])

    @Test func maxAbsUsesTheLargestMagnitude() {
        let (q, stats) = TensorQuantizer.quantize(weights, scheme: .floatScale(.maxAbs, bits: 3), rounding: .nearest)
        // 3 bits: levels -3..3, scale 1/3.
        #expect(stats.scales == [Float(1) / 3])
        #expect(q.data[3] == -1 && stats.saturatedShare == 0)
        #expect(Set(q.data.map { ($0 * 3).rounded() }).isSubset(of: [-3, -2, -1, 0, 1, 2, 3]))
    }

    @Test func mseScaleNeverDoesWorseThanMaxAbs() {
        for bits in 2...6 {
            let maxAbs = TensorQuantizer.quantize(weights, scheme: .floatScale(.maxAbs, bits: bits), rounding: .nearest).1
            let mse = TensorQuantizer.quantize(weights, scheme: .floatScale(.mse, bits: bits), rounding: .nearest).1
            #expect(mse.meanSquaredError <= maxAbs.meanSquaredError)
        }
    }

    @Test func perChannelScalesEachRow() {
        let (q, stats) = TensorQuantizer.quantize(weights, scheme: .floatScale(.perChannel, bits: 4), rounding: .nearest)
        #expect(stats.scales.count == 2)
        #expect(q.data[3] == -1 && abs(q.data[6] - -0.04) < 1e-6)
    }

    @Test func statisticsCountSaturationAndZeros() throws {
        let pattern = try BitPattern(parsing: "X0.0XX")  // max 0.375
        let (_, stats) = TensorQuantizer.quantize(weights, scheme: .pattern(pattern), rounding: .nearest)
        #expect(stats.saturatedShare == 2.0 / 8.0)  // 0.5 and -1.0
        #expect(stats.zeroedShare == 4.0 / 8.0)     // 0.02, 0.01, -0.04, 0.03
    }

    @Test func schemesParse() throws {
        #expect(try LayerScheme(parsing: "mse:4") == .floatScale(.mse, bits: 4))
        #expect(try LayerScheme(parsing: "X0.0XX") == .pattern(try BitPattern(parsing: "5_2_0_1_0")))
        #expect { try LayerScheme(parsing: "median:4") } throws: { "\($0)".contains("unknown baseline 'median'") }
        #expect { try LayerScheme(parsing: "max-abs:1") } throws: { "\($0)".contains("from 2 to 16") }
    }

    func graph() -> Graph {
        let conv = Node(name: "conv1", op: .convolution(ConvolutionAttributes(numOutput: 2, kernel: Size2(square: 1))), inputs: ["x"], outputs: ["c"],
                        parameters: [Tensor(shape: [2, 4, 1, 1], data: weights.data), Tensor(shape: [2], data: [0.3, -0.7])])
        let relu = Node(name: "relu", op: .relu(ReLUAttributes(negativeSlope: 0)), inputs: ["c"], outputs: ["c"])
        let ip = Node(name: "ip1", op: .innerProduct(InnerProductAttributes(numOutput: 1)), inputs: ["c"], outputs: ["y"],
                      parameters: [Tensor(shape: [1, 2], data: [0.9, -0.9]), Tensor(shape: [1], data: [0.1])])
        return Graph(name: "g", inputs: [GraphInput(name: "x", shape: [1, 4, 1, 1])], nodes: [conv, relu, ip], output: "y")
    }

    @Test func plansSelectLayersAndRoundTripThroughJSON() throws {
        let pattern = LayerScheme.pattern(try BitPattern(parsing: "5_2_0_1_0"))
        let plan = try QuantizationPlan.make(graph: graph(), selection: .all, scheme: pattern,
                                             overrides: [("ip1", .floatScale(.mse, bits: 3))], bias: nil, rounding: .maskAfter)
        #expect(plan.entries.map(\.layer) == ["conv1", "ip1"])
        #expect(plan.entry(for: "ip1")?.weights == .floatScale(.mse, bits: 3))
        let data = try JSONEncoder().encode(plan)
        #expect(try JSONDecoder().decode(QuantizationPlan.self, from: data) == plan)
        let convOnly = try QuantizationPlan.make(graph: graph(), selection: .convolutions, scheme: pattern, overrides: [], bias: nil, rounding: .nearest)
        #expect(convOnly.entries.map(\.layer) == ["conv1"])
        #expect { try QuantizationPlan.make(graph: graph(), selection: .names(["relu"]), scheme: pattern, overrides: [], bias: nil, rounding: .nearest) }
            throws: { "\($0)" == "layer 'relu' is a ReLU layer, which has no weights to quantize" }
        #expect { try QuantizationPlan.make(graph: graph(), selection: .all, scheme: nil, overrides: [("conv9", pattern)], bias: nil, rounding: .nearest) }
            throws: { "\($0)" == "the net has no layer 'conv9' (its layers with weights: conv1, ip1)" }
    }

    @Test func passQuantizesWeightsAndKeepsBiasesFloat() throws {
        let pattern = try BitPattern(parsing: "5_2_0_1_0")
        let plan = QuantizationPlan(rounding: .nearest, entries: [.init(layer: "conv1", weights: .pattern(pattern))])
        let (quantized, reports) = try QuantizePass.apply(plan, to: graph())
        let set = Set(pattern.magnitudes.map(Float.init))
        #expect(quantized.nodes[0].parameters[0].data.allSatisfy { set.contains($0.magnitude) })
        #expect(quantized.nodes[0].parameters[1] == graph().nodes[0].parameters[1])
        #expect(quantized.nodes[2] == graph().nodes[2])
        #expect(reports.count == 1 && reports[0].storedBits == 3 && reports[0].weightCount == 8)
        let withBias = QuantizationPlan(rounding: .nearest, entries: [.init(layer: "conv1", weights: .pattern(pattern), bias: .pattern(pattern))])
        #expect(try QuantizePass.apply(withBias, to: graph()).0.nodes[0].parameters[1].data == [0.25, -0.375])
    }

    @Test func planFilesWithErrorsAreNamed() throws {
        let directory = try SharedData.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        func write(_ text: String) throws -> URL {
            let url = directory.appendingPathComponent("plan.json")
            try Data(text.utf8).write(to: url)
            return url
        }
        let badPattern = try write(#"{"format": "bmq-quantization-plan", "version": 1, "rounding": "nearest", "layers": [{"name": "conv1", "weights": "5_3_0_1_0"}]}"#)
        #expect { try QuantizationPlan.read(from: badPattern) } throws: { "\($0)".contains("layer 'conv1': 5_3_0_1_0: declares 3 masked positions but lists 2") }
        let badVersion = try write(#"{"format": "bmq-quantization-plan", "version": 9, "rounding": "nearest", "layers": []}"#)
        #expect { try QuantizationPlan.read(from: badVersion) } throws: { "\($0)".contains("version 9") }
        let notJSON = try write("{")
        #expect { try QuantizationPlan.read(from: notJSON) } throws: { "\($0)".contains("plan.json") }
    }
}
