import Foundation
@testable import IntegerDatapath
import Quantization
import TensorGraph
import TestSupport
import Testing

@Suite struct IntegerDatapathTests {
    /// rshift_round against floor(x / 2^d + 1/2) computed exactly in Double.
    @Test func shiftRoundsToNearestWithTiesUp() {
        for d in 1...7 {
            for x in Int64(-700)...700 {
                let expected = Int64((Double(x) / Double(1 << d) + 0.5).rounded(.down))
                #expect(IntegerProgram.shiftRounding(x, by: d) == expected, "x \(x), d \(d)")
            }
        }
        #expect(IntegerProgram.shiftRounding(-3, by: 1) == -1)
        #expect(IntegerProgram.shiftRounding(3, by: 1) == 2)
        #expect(IntegerProgram.shiftRounding(5, by: -3) == 40)
        #expect(IntegerProgram.shiftRounding(Int64.max / 2, by: -4) == Int64.max)
        // No overflow near the ends of the range, and exact for the widest shifts.
        #expect(IntegerProgram.shiftRounding(Int64.max, by: 1) == Int64(1) << 62)
        #expect(IntegerProgram.shiftRounding(Int64.min, by: 63) == -1)
        #expect(IntegerProgram.shiftRounding(Int64.min, by: 64) == 0)
        #expect(IntegerProgram.shiftRounding(-(Int64(1) << 62), by: 63) == 0)
    }

    /// The vectorised input codes against the scalar definition, ties, non-finite values and
    /// both ends of each range included; a 28-bit format takes the scalar path.
    @Test(arguments: [(8, 5, true), (8, 0, false), (4, -2, true), (16, 12, true), (24, 3, false), (28, 20, true)])
    func inputCodesMatchTheScalarDefinition(bits: Int, fraction: Int, signed: Bool) {
        let format = FixedPointFormat(bits: bits, fraction: fraction, signed: signed)
        let step = Float(Double.pow2(-fraction))
        var values: [Float] = [0, -0.0, .nan, .infinity, -.infinity, .greatestFiniteMagnitude, -.greatestFiniteMagnitude,
                               .leastNonzeroMagnitude, Float(format.maximum) * step, Float(format.minimum) * step]
        for k in -9...9 { values += [(Float(k) + 0.5) * step, (Float(k) - 0.5) * step, (Float(k) + 0.5).nextDown * step] }
        var generator = SplitMix64(seed: UInt64(bits * 64 + fraction + 32))
        // Uniform over the range widened by a tenth at each end, so some values saturate.
        let range = Double(format.maximum - format.minimum), lowest = Double(format.minimum) - range / 10
        for _ in 0..<5000 {
            values.append(Float((lowest + Double(generator.next() % 1_000_001) / 1_000_000 * range * 1.2) * Double(step)))
        }
        let (codes, saturated) = format.codes(of: values)
        let expected = values.map(format.quantizeReportingSaturation)
        #expect(codes == expected.map { Int32($0.code) })
        #expect(saturated == expected.filter(\.saturated).count)
        #expect(saturated > 0 && saturated < values.count / 2)
        #expect(format.codes(of: []).codes.isEmpty)
    }

    /// MAX and AVE pooling against the spec's windows summed in Int64, over border, ceil-rounded,
    /// strided and global windows; the widest inputs take AVE's 64-bit path.
    @Test(arguments: [(32, 32, 3, 2, 0, 8), (16, 16, 3, 2, 1, 8), (5, 9, 3, 3, 1, 16), (7, 6, 2, 1, 1, 8),
                      (8, 8, 8, 1, 0, 8), (6, 11, 4, 2, 3, 24)])
    func poolingFollowsTheSpec(height: Int, width: Int, kernel: Int, stride: Int, pad: Int, bits: Int) throws {
        var generator = SplitMix64(seed: UInt64(height * 100 + width * 10 + kernel))
        let top = Int64(1) << (bits - 1), planes = 3, batch = 2
        let x = (0..<(batch * planes * height * width)).map { _ in Int32(Int64(generator.next() % UInt64(2 * top)) - top) }
        for method in [PoolingMethod.max, .average] {
            let attributes = PoolingAttributes(method: method, kernel: Size2(square: kernel), stride: Size2(square: stride), pad: Size2(square: pad))
            let outputShape = try attributes.outputShapes([[1, planes, height, width]], rule: ShapeRule(layer: "pool"))[0]
            let (oh, ow) = (outputShape[2], outputShape[3])
            let pool = IntegerProgram.Pool(input: 0, output: 1, attributes: attributes, inputShape: [1, planes, height, width],
                                           outputShape: outputShape, largestMagnitude: top)
            var expected: [Int32] = []
            for plane in 0..<(batch * planes) {
                for oy in 0..<oh {
                    for ox in 0..<ow {
                        let y0 = oy * stride - pad, x0 = ox * stride - pad
                        let cells = (max(y0, 0)..<min(y0 + kernel, height)).flatMap { iy in
                            (max(x0, 0)..<min(x0 + kernel, width)).map { Int64(x[(plane * height + iy) * width + $0]) }
                        }
                        if method == .max {
                            expected.append(Int32(cells.max()!))
                        } else {
                            let divisor = (min(y0 + kernel, height + pad) - y0) * (min(x0 + kernel, width + pad) - x0)
                            let sum = cells.reduce(0, +)
                            expected.append(Int32((sum * IntegerProgram.reciprocal(divisor) + 32768) >> 16))
                        }
                    }
                }
            }
            #expect(IntegerProgram.pool(pool, x, batch: batch) == expected, "\(method)")
        }
    }

    @Test func averageReciprocalRoundsHalfAway() {
        for divisor in 1...100 {
            let exact = 65536.0 / Double(divisor)
            #expect(IntegerProgram.reciprocal(divisor) == Int64(exact.rounded(.toNearestOrAwayFromZero)), "divisor \(divisor)")
        }
    }

    @Test(arguments: [0.0001, 0.3, 0.99609375, 1, 1.5, 7.9, 100, 1e6])
    func fittingFormatHoldsTheLargestValueAndNoMore(_ largest: Double) {
        for signed in [true, false] {
            let format = FixedPointFormat.fitting(largest: largest, bits: 8, signed: signed)
            let top = Double(format.maximum)
            #expect((largest * Double.pow2(format.fraction)).rounded(.toNearestOrAwayFromZero) <= top)
            #expect((largest * Double.pow2(format.fraction + 1)).rounded(.toNearestOrAwayFromZero) > top)
        }
        // MNIST's x / 256: exactly u8.8.
        #expect(FixedPointFormat.fitting(largest: 255.0 / 256, bits: 8, signed: false) == FixedPointFormat(bits: 8, fraction: 8, signed: false))
    }

    /// A small net with a fused ReLU, AVE pooling and an inner product, checked value by value
    /// against the spec's rules evaluated in Double. 28-bit inputs push the convolution's proven
    /// bound past 32 bits, so both accumulator widths the engine uses are covered.
    @Test(arguments: [8, 28])
    func smallNetworkFollowsTheSpecValueByValue(inputBits: Int) throws {
        let pattern = try BitPattern(parsing: "5_1_1_0")  // X.0XX: magnitudes {0, 1, 2, 3, 4, 5, 6, 7} / 8 without 2^-1
        var generator = SeededGenerator(seed: 5)
        let values = pattern.magnitudes.map(Float.init)
        func weights(_ shape: Shape) -> Tensor {
            Tensor(shape: shape, data: (0..<shape.count).map { _ in
                values.randomElement(using: &generator)! * (Bool.random(using: &generator) ? 1 : -1)
            })
        }
        let graph = Graph(
            name: "small", inputs: [GraphInput(name: "data", shape: [1, 2, 7, 6])],
            nodes: [
                Node(name: "conv", op: .convolution(ConvolutionAttributes(numOutput: 3, kernel: Size2(square: 3), pad: Size2(square: 1))),
                     inputs: ["data"], outputs: ["conv"], parameters: [weights([3, 2, 3, 3]), Tensor(shape: [3], data: [0.3, -0.2, 0.05])]),
                Node(name: "relu", op: .relu(ReLUAttributes()), inputs: ["conv"], outputs: ["conv"]),
                Node(name: "pool", op: .pooling(PoolingAttributes(method: .average, kernel: Size2(square: 3), stride: Size2(square: 2), pad: Size2(square: 1))),
                     inputs: ["conv"], outputs: ["pool"]),
                Node(name: "ip", op: .innerProduct(InnerProductAttributes(numOutput: 4)), inputs: ["pool"], outputs: ["ip"],
                     parameters: [weights([4, 3 * 4 * 4]), Tensor(shape: [4], data: [0.1, 0, -0.4, 0.25])]),
                Node(name: "prob", op: .softmax(SoftmaxAttributes()), inputs: ["ip"], outputs: ["prob"]),
            ],
            output: "prob")
        let plan = QuantizationPlan(rounding: .nearest, entries: [
            .init(layer: "conv", weights: .pattern(pattern)), .init(layer: "ip", weights: .pattern(pattern)),
        ])
        let formats = ActivationFormats(input: FixedPointFormat(bits: inputBits, fraction: 5, signed: true), layers: [
            "conv": FixedPointFormat(bits: 8, fraction: 4, signed: true), "ip": FixedPointFormat(bits: 10, fraction: 3, signed: true),
        ])
        #expect(try IntegerProgram.formatSites(of: graph) == [
            FormatSite(layer: "conv", observedNode: 1, signed: false), FormatSite(layer: "ip", observedNode: 3, signed: true),
        ])
        let program = try IntegerProgram(graph: graph, plan: plan, formats: formats)
        let top = Int32(1 << (inputBits - 1))
        let input = (0..<(2 * 7 * 6)).map { _ in Int32.random(in: -top...(top - 1), using: &generator) }
        let run = try program.run(input, count: 1)
        let outputs = program.trace(input)
        #expect(try program.run(input, count: 1, arithmetic: .integer).scores == run.scores)
        #expect(program.trace(input, arithmetic: .integer) == outputs)

        // The spec, written out in Double: every value below is exact in Double.
        let x = input.map { Double($0) / 32 }
        let w1 = graph.nodes[0].parameters[0].data.map(Double.init), b1 = [0.3, -0.2, 0.05]
        func requantize(_ value: Double, fraction: Int, accumulatorFraction: Int, bits: Int, signed: Bool) -> Int64 {
            let acc = (value * Double.pow2(accumulatorFraction)).rounded()  // exact integer
            let shifted = (acc / Double.pow2(accumulatorFraction - fraction) + 0.5).rounded(.down)
            let top = signed ? Double((1 << (bits - 1)) - 1) : Double((1 << bits) - 1)
            return Int64(min(max(shifted, signed ? -top - 1 : 0), top))
        }
        let wf = 3  // 5_1_1_0: Fw = n - 2 + s = 3
        var conv = [Int64](repeating: 0, count: 3 * 7 * 6)
        for m in 0..<3 {
            let biasCode = (b1[m] * Double.pow2(5 + wf)).rounded(.toNearestOrAwayFromZero) / Double.pow2(5 + wf)
            for oy in 0..<7 {
                for ox in 0..<6 {
                    var sum = biasCode
                    for c in 0..<2 {
                        for ky in 0..<3 {
                            for kx in 0..<3 {
                                let iy = oy - 1 + ky, ix = ox - 1 + kx
                                guard iy >= 0, iy < 7, ix >= 0, ix < 6 else { continue }
                                sum += x[(c * 7 + iy) * 6 + ix] * w1[((m * 2 + c) * 3 + ky) * 3 + kx]
                            }
                        }
                    }
                    conv[(m * 7 + oy) * 6 + ox] = requantize(sum, fraction: 4, accumulatorFraction: 5 + wf, bits: 8, signed: false)
                }
            }
        }
        #expect(outputs[1].map(Int64.init) == conv, "conv + fused ReLU")

        // Caffe's ceil rounding: 7x6 pooled 3x3 stride 2 pad 1 gives 4x4.
        var pool = [Int64](repeating: 0, count: 3 * 4 * 4)
        for plane in 0..<3 {
            for oy in 0..<4 {
                for ox in 0..<4 {
                    let y0 = oy * 2 - 1, x0 = ox * 2 - 1
                    var sum: Int64 = 0
                    for iy in max(y0, 0)..<min(y0 + 3, 7) { for ix in max(x0, 0)..<min(x0 + 3, 6) { sum += conv[(plane * 7 + iy) * 6 + ix] } }
                    let divisor = (min(y0 + 3, 8) - y0) * (min(x0 + 3, 7) - x0)
                    let reciprocal = (65536.0 / Double(divisor)).rounded(.toNearestOrAwayFromZero)
                    pool[(plane * 4 + oy) * 4 + ox] = Int64((Double(sum) * reciprocal / 65536 + 0.5).rounded(.down))
                }
            }
        }
        #expect(outputs[2].map(Int64.init) == pool, "AVE pooling")

        let w2 = graph.nodes[3].parameters[0].data.map(Double.init), b2 = [0.1, 0, -0.4, 0.25]
        let ip = (0..<4).map { n -> Int64 in
            let biasCode = (b2[n] * Double.pow2(4 + wf)).rounded(.toNearestOrAwayFromZero) / Double.pow2(4 + wf)
            let sum = (0..<48).reduce(biasCode) { $0 + Double(pool[$1]) / 16 * w2[n * 48 + $1] }
            return requantize(sum, fraction: 3, accumulatorFraction: 4 + wf, bits: 10, signed: true)
        }
        #expect(run.scores.map(Int64.init) == ip, "inner product")
        #expect(program.predictions(run.scores) == [ip.indices.max { ip[$0] < ip[$1] || (ip[$0] == ip[$1] && $0 > $1) }!])

        // Bounds: no accumulator exceeded its proven bound, and the wide input needs a wide accumulator.
        for layer in run.layers { #expect(layer.largestAccumulator <= layer.bound, "\(layer.layer)") }
        #expect((run.layers[0].bound > Int64(Int32.max)) == (inputBits == 28))
    }

    /// Every arithmetic gives the integer loops' scores, traced values and statistics: the CPU's
    /// byte dot products (each unit it has), the float kernels and the default. The net has a
    /// stride-1 convolution (the direct byte kernel) from signed inputs, a stride-2 one (im2col
    /// patches) from a fused ReLU's unsigned outputs, MAX and AVE pooling and an inner product
    /// over a batch whose size fills no vector; widths and channel counts leave remainders in
    /// every tiling. Narrow weights suit every unit; 8-bit weights break AVX2's 16-bit pairs,
    /// which must then decline the layer.
    /// The last case gives conv1 as many fraction bits as its products (shift 0: no rounding).
    /// A single input channel makes conv1 take im2col patches too.
    @Test(arguments: [("5_1_1_0", 11, 9, 4, 3, 3), ("5_1_1_0", 7, 33, 13, 3, 3), ("8_0_0", 5, 70, 7, 3, 3), ("5_1_1_0", 6, 10, 5, 8, 3),
                      ("5_1_1_0", 13, 6, 6, 3, 3), ("5_1_1_0", 12, 14, 6, 3, 1),
                      ("5_1_1_0", 10, 7, 6, 3, 3)])
    func everyArithmeticGivesTheSameIntegers(patternLabel: String, height: Int, width: Int, channels: Int, conv1Fraction: Int,
                                             inputChannels: Int) throws {
        let pattern = try BitPattern(parsing: patternLabel)
        var generator = SeededGenerator(seed: UInt64(height * width))
        let values = pattern.magnitudes.map(Float.init)
        func weights(_ shape: Shape) -> Tensor {
            Tensor(shape: shape, data: (0..<shape.count).map { _ in
                values.randomElement(using: &generator)! * (Bool.random(using: &generator) ? 1 : -1)
            })
        }
        func bias(_ count: Int) -> Tensor { Tensor(shape: [count], data: (0..<count).map { _ in Float.random(in: -1...1, using: &generator) }) }
        let graph = Graph(
            name: "bytes", inputs: [GraphInput(name: "data", shape: [1, inputChannels, height, width])],
            nodes: [
                Node(name: "conv1", op: .convolution(ConvolutionAttributes(numOutput: channels, kernel: Size2(square: 3), pad: Size2(square: 1))),
                     inputs: ["data"], outputs: ["conv1"], parameters: [weights([channels, inputChannels, 3, 3]), bias(channels)]),
                Node(name: "relu1", op: .relu(ReLUAttributes()), inputs: ["conv1"], outputs: ["conv1"]),
                Node(name: "conv2", op: .convolution(ConvolutionAttributes(numOutput: 5, kernel: Size2(square: 3), stride: Size2(square: 2),
                                                                           pad: Size2(square: 1))),
                     inputs: ["conv1"], outputs: ["conv2"], parameters: [weights([5, channels, 3, 3]), bias(5)]),
                Node(name: "pool1", op: .pooling(PoolingAttributes(method: .max, kernel: Size2(square: 3), stride: Size2(square: 2))),
                     inputs: ["conv2"], outputs: ["pool1"]),
                Node(name: "pool2", op: .pooling(PoolingAttributes(method: .average, kernel: Size2(square: 2), stride: Size2(square: 1), pad: Size2(square: 1))),
                     inputs: ["pool1"], outputs: ["pool2"]),
                Node(name: "ip", op: .innerProduct(InnerProductAttributes(numOutput: 6)), inputs: ["pool2"], outputs: ["ip"]),
            ],
            output: "ip")
        let shapes = try ShapeInference.infer(graph, checkParameters: false)
        let ipInputs = try #require(shapes.valueShapes["pool2"]).count(from: 1)
        var complete = graph
        complete.nodes[5].parameters = [weights([6, ipInputs]), bias(6)]
        let plan = QuantizationPlan(rounding: .nearest, entries: ["conv1", "conv2", "ip"].map { .init(layer: $0, weights: .pattern(pattern)) })
        // Few fraction bits in the outputs, so that some values saturate.
        let formats = ActivationFormats(input: FixedPointFormat(bits: 8, fraction: 5, signed: true), layers: [
            "conv1": FixedPointFormat(bits: 8, fraction: conv1Fraction, signed: true), "conv2": FixedPointFormat(bits: 8, fraction: 3, signed: true),
            "ip": FixedPointFormat(bits: 12, fraction: 2, signed: true),
        ])
        let program = try IntegerProgram(graph: complete, plan: plan, formats: formats)
        let byteLayers = program.steps.compactMap { step -> IntegerProgram.ByteLayer? in if case let .dense(d) = step { d.bytes } else { nil } }
        #expect(byteLayers.count == 3, "every layer takes the byte kernels")
        if case let .dense(conv1) = program.steps[0] { #expect((conv1.shift == 0) == (conv1Fraction == 8)) }
        #expect(byteLayers.map(\.direct) == [inputChannels >= 3, false, false])
        #expect(byteLayers.allSatisfy(\.pairsFitSixteenBits) == (pattern.totalBits <= 5))

        let images = 7
        let inputs = (0..<(images * program.inputCount)).map { _ in Int32.random(in: -128...127, using: &generator) }
        let reference = try program.run(inputs, count: images, arithmetic: .integer)
        #expect(reference.layers.contains { $0.saturated > 0 }, "no value saturates")
        let arithmetics: [IntegerProgram.Arithmetic] = [.fastest, .floatKernels] + DotProductUnit.available.map { .dotProducts($0) }
        for arithmetic in arithmetics {
            let run = try program.run(inputs, count: images, arithmetic: arithmetic)
            #expect(run.scores == reference.scores, "\(arithmetic)")
            #expect(run.layers == reference.layers, "\(arithmetic)")
            let first = Array(inputs[0..<program.inputCount])
            #expect(program.trace(first, arithmetic: arithmetic) == program.trace(first, arithmetic: .integer), "\(arithmetic)")
        }
        if DotProductUnit.available.isEmpty { print("note: this CPU has no byte dot-product unit; only the portable arithmetics ran") }
    }

    /// A 1x1 convolution of the 3-channel input into 2 channels, weights k / 4 (|k| <= 7) from `seed`:
    /// one branch of the Eltwise tests.
    static func branch(_ name: String, _ seed: UInt64) -> Node {
        var generator = SeededGenerator(seed: seed)
        let weights = (0..<(2 * 3)).map { _ in Float(Int.random(in: -7...7, using: &generator)) / 4 }
        return Node(name: name, op: .convolution(ConvolutionAttributes(numOutput: 2, kernel: Size2(square: 1), biasTerm: false)),
                    inputs: ["data"], outputs: [name], parameters: [Tensor(shape: [2, 3, 1, 1], data: weights)])
    }

    /// Two branches with different formats summed by an Eltwise with a fused ReLU, checked against
    /// the spec's rule in Double; in either order (so each input position rounds right and moves
    /// left), and on every byte dot-product unit (whose packed-byte sum must agree with the loops).
    @Test(arguments: [false, true])
    func eltwiseSumAlignsItsInputs(swapped: Bool) throws {
        let pattern = try BitPattern(parsing: "4_0_0")  // magnitudes k / 4
        let graph = Graph(name: "sum", inputs: [GraphInput(name: "data", shape: [1, 3, 2, 2])], nodes: [
            Self.branch("a", 1), Self.branch("b", 2),
            Node(name: "sum", op: .eltwise(EltwiseAttributes()), inputs: swapped ? ["b", "a"] : ["a", "b"], outputs: ["sum"]),
            Node(name: "relu", op: .relu(ReLUAttributes()), inputs: ["sum"], outputs: ["sum"]),
        ], output: "sum")
        let plan = QuantizationPlan(rounding: .nearest, entries: [.init(layer: "a", weights: .pattern(pattern)), .init(layer: "b", weights: .pattern(pattern))])
        let formats = ActivationFormats(input: FixedPointFormat(bits: 8, fraction: 3, signed: true), layers: [
            "a": FixedPointFormat(bits: 8, fraction: 4, signed: true), "b": FixedPointFormat(bits: 8, fraction: 2, signed: true),
            "sum": FixedPointFormat(bits: 6, fraction: 3, signed: true),
        ])
        #expect(try IntegerProgram.formatSites(of: graph).last == FormatSite(layer: "sum", observedNode: 3, signed: false))
        let program = try IntegerProgram(graph: graph, plan: plan, formats: formats)
        var generator = SeededGenerator(seed: 3)
        let input = (0..<12).map { _ in Int32.random(in: -128...127, using: &generator) }
        let outputs = program.trace(input)
        func shifted(_ x: Int64, _ d: Int) -> Int64 { Int64((Double(x) / Double.pow2(d) + 0.5).rounded(.down)) }
        let expected = (0..<8).map { i -> Int64 in
            let total = shifted(Int64(outputs[1][i]), 4 - 3) + shifted(Int64(outputs[2][i]), 2 - 3)
            return min(max(total, 0), 63)  // u6.3: the fused ReLU and the top of the range
        }
        #expect(outputs[3].map(Int64.init) == expected)
        #expect(outputs[2].contains { $0 != 0 } && expected.contains(0))

        let images = 9
        let batch = (0..<(images * 12)).map { _ in Int32.random(in: -128...127, using: &generator) }
        let reference = try program.run(batch, count: images, arithmetic: .integer)
        for unit in DotProductUnit.available {
            let run = try program.run(batch, count: images, arithmetic: .dotProducts(unit))
            #expect(run.scores == reference.scores && run.layers == reference.layers, "\(unit)")
        }
    }

    /// Three branches in three formats summed: the packed-byte sum's general path (more than two
    /// inputs) gives the spec's loops their values and statistics on every dot-product unit.
    @Test func eltwiseSumOfThreeInputsMatchesTheLoops() throws {
        let pattern = try BitPattern(parsing: "4_0_0")
        let graph = Graph(name: "sum3", inputs: [GraphInput(name: "data", shape: [1, 3, 2, 2])], nodes: [
            Self.branch("a", 1), Self.branch("b", 2), Self.branch("c", 4),
            Node(name: "sum", op: .eltwise(EltwiseAttributes()), inputs: ["a", "b", "c"], outputs: ["sum"]),
        ], output: "sum")
        let plan = QuantizationPlan(rounding: .nearest, entries: ["a", "b", "c"].map { .init(layer: $0, weights: .pattern(pattern)) })
        let formats = ActivationFormats(input: FixedPointFormat(bits: 8, fraction: 3, signed: true), layers: [
            "a": FixedPointFormat(bits: 8, fraction: 4, signed: true), "b": FixedPointFormat(bits: 8, fraction: 2, signed: true),
            "c": FixedPointFormat(bits: 8, fraction: 3, signed: true), "sum": FixedPointFormat(bits: 6, fraction: 3, signed: true),
        ])
        let program = try IntegerProgram(graph: graph, plan: plan, formats: formats)
        var generator = SeededGenerator(seed: 5)
        let images = 9
        let batch = (0..<(images * 12)).map { _ in Int32.random(in: -128...127, using: &generator) }
        let reference = try program.run(batch, count: images, arithmetic: .integer)
        #expect(reference.layers.contains { $0.saturated > 0 }, "the sum saturates somewhere")
        for unit in DotProductUnit.available {
            let run = try program.run(batch, count: images, arithmetic: .dotProducts(unit))
            #expect(run.scores == reference.scores && run.layers == reference.layers, "\(unit)")
        }
    }

    @Test func ties_goToTheLowestClass() throws {
        let graph = Graph(name: "tie", inputs: [GraphInput(name: "data", shape: [1, 3])], nodes: [
            Node(name: "ip", op: .innerProduct(InnerProductAttributes(numOutput: 3, biasTerm: false)), inputs: ["data"], outputs: ["ip"],
                 parameters: [Tensor(shape: [3, 3], data: [1, 0, 0, 0, 1, 0, 0, 0, 1])]),
        ], output: "ip")
        let plan = QuantizationPlan(rounding: .nearest, entries: [.init(layer: "ip", weights: .pattern(try BitPattern(parsing: "3_0_0")))])
        let program = try IntegerProgram(graph: graph, plan: plan, formats: ActivationFormats(
            input: FixedPointFormat(bits: 8, fraction: 0, signed: true), layers: ["ip": FixedPointFormat(bits: 8, fraction: 0, signed: true)]))
        #expect(program.predictions(try program.run([2, 5, 5, 7, 1, 7], count: 2).scores) == [1, 0])
    }

    /// LRN in both regions, value by value: the spec's table and interpolation written out in
    /// Double, and the result within the table's error of Caffe's float formula on the same inputs.
    @Test(arguments: [LRNRegion.acrossChannels, .withinChannel])
    func lrnFollowsTheSpecAndStaysNearTheFormula(_ region: LRNRegion) throws {
        let (c, h, w) = (5, 4, 6)
        // A strong α so the factor moves far from 1; k = 2 across channels (within, Caffe adds 1).
        let attributes = LRNAttributes(localSize: region == .acrossChannels ? 5 : 3, alpha: 0.5, beta: 0.75, k: 2, region: region)
        let graph = Graph(name: "lrn", inputs: [GraphInput(name: "data", shape: [1, c, h, w])], nodes: [
            Node(name: "norm", op: .lrn(attributes), inputs: ["data"], outputs: ["norm"]),
        ], output: "norm")
        let format = FixedPointFormat(bits: 8, fraction: 4, signed: true)
        let program = try IntegerProgram(graph: graph, plan: QuantizationPlan(rounding: .nearest, entries: []),
                                         formats: ActivationFormats(input: format, layers: [:]))
        var generator = SeededGenerator(seed: 11)
        var input = (0..<(c * h * w)).map { _ in Int32.random(in: -128...127, using: &generator) }
        input[0] = -128  // the format's largest magnitude reaches the table's last interval
        input[1] = -128
        input[c * h * w / 2] = 127
        let output = try program.run(input, count: 1).scores
        // The vectorised kernel gives the spec's loop its values and statistics, image by image in a batch.
        let batch = input + input.reversed() + input.map { -max($0, -127) }
        let (fast, loops) = (try program.run(batch, count: 3), try program.run(batch, count: 3, arithmetic: .integer))
        #expect(fast.scores == loops.scores && fast.layers == loops.layers)
        #expect(loops.layers[0].largestAccumulator > 0 && loops.layers[0].outputs == batch.count)

        let cells = region == .acrossChannels ? 5 : 9, k = region == .acrossChannels ? 2.0 : 1.0
        let bound = cells * 128 * 128
        let t = (0...).first { (bound >> $0) + 2 <= 1024 }!
        let table = (0...((bound >> t) + 1)).map { i in
            (65536 * Foundation.pow(k + 0.5 / Double(cells) * Double(i << t) / 256, -0.75)).rounded(.toNearestOrAwayFromZero)
        }
        let contract = program.contract.layers[0]
        #expect(contract.table?.values.map(Double.init) == table && contract.table?.shift == t)
        var largestError = 0.0
        for channel in 0..<c {
            for y in 0..<h {
                for x in 0..<w {
                    var squares = 0
                    for other in 0..<c {
                        for yy in 0..<h {
                            for xx in 0..<w {
                                let inside = region == .acrossChannels
                                    ? abs(other - channel) <= 2 && yy == y && xx == x
                                    : other == channel && abs(yy - y) <= 1 && abs(xx - x) <= 1
                                if inside { squares += Int(input[(other * h + yy) * w + xx] * input[(other * h + yy) * w + xx]) }
                            }
                        }
                    }
                    let at = (channel * h + y) * w + x, value = Double(input[at])
                    let i = squares >> t, r = Double(squares - (i << t))
                    let factor = table[i] * Double(1 << t) + (table[i + 1] - table[i]) * r
                    let expected = min(max((value * factor / Double.pow2(16 + t) + 0.5).rounded(.down), -128), 127)
                    #expect(Double(output[at]) == expected, "(\(channel), \(y), \(x))")
                    let formula = value * Foundation.pow(k + 0.5 / Double(cells) * Double(squares) / 256, -0.75)
                    largestError = max(largestError, abs(Double(output[at]) - formula))
                }
            }
        }
        // Rounding to the output's unit (1/2) plus the table's approximation (a small fraction).
        #expect(largestError <= 0.6, "largest difference from the float formula: \(largestError) units")
    }

    @Test func unsupportedLayersAreRefusedByName() throws {
        let tanh = Graph(name: "tanh", inputs: [GraphInput(name: "data", shape: [1, 1, 4, 4])], nodes: [
            Node(name: "squash", op: .tanh(TanHAttributes()), inputs: ["data"], outputs: ["squash"]),
        ], output: "squash")
        #expect { try IntegerProgram.formatSites(of: tanh) } throws: { "\($0)".contains("squash") && "\($0)".contains("TanH") }
        let wide = Graph(name: "lrn", inputs: [GraphInput(name: "data", shape: [1, 1, 4, 4])], nodes: [
            Node(name: "norm1", op: .lrn(LRNAttributes()), inputs: ["data"], outputs: ["norm1"]),
        ], output: "norm1")
        let wideFormats = ActivationFormats(input: FixedPointFormat(bits: 20, fraction: 4, signed: true), layers: [:])
        #expect { try IntegerProgram(graph: wide, plan: QuantizationPlan(rounding: .nearest, entries: []), formats: wideFormats) } throws: {
            "\($0)".contains("norm1") && "\($0)".contains("16 bits")
        }
        let ip = Graph(name: "ip", inputs: [GraphInput(name: "data", shape: [1, 2])], nodes: [
            Node(name: "ip1", op: .innerProduct(InnerProductAttributes(numOutput: 1, biasTerm: false)), inputs: ["data"], outputs: ["ip1"],
                 parameters: [Tensor(shape: [1, 2], data: [0.5, 0.25])]),
        ], output: "ip1")
        let formats = ActivationFormats(input: FixedPointFormat(bits: 8, fraction: 4, signed: true), layers: ["ip1": FixedPointFormat(bits: 8, fraction: 4, signed: true)])
        let baseline = QuantizationPlan(rounding: .nearest, entries: [.init(layer: "ip1", weights: .floatScale(.maxAbs, bits: 4))])
        #expect { try IntegerProgram(graph: ip, plan: baseline, formats: formats) } throws: { "\($0)".contains("ip1") && "\($0)".contains("bit patterns") }
        let none = QuantizationPlan(rounding: .nearest, entries: [])
        #expect { try IntegerProgram(graph: ip, plan: none, formats: formats) } throws: { "\($0)".contains("ip1") && "\($0)".contains("float") }
    }

    /// Every value of several widths survives `$readmemh` text, two's complement when signed.
    @Test func vectorValuesRoundTripThroughHex() throws {
        for bits in [2, 5, 8, 13, 31] {
            let format = FixedPointFormat(bits: bits, fraction: 0, signed: true)
            for value in [format.minimum, -1, 0, 1, format.maximum] {
                let text = TestVectors.hex(Int32(value), bits: bits)
                #expect(text.count == (bits + 3) / 4)
                #expect(try TestVectors.parse(Substring(text), bits: bits, signed: true, file: "v", line: 1) == Int32(value))
            }
        }
        #expect(TestVectors.hex(-1, bits: 8) == "ff")
        #expect(try TestVectors.parse("ff", bits: 8, signed: false, file: "v", line: 1) == 255)
        #expect { try TestVectors.parse("1ff", bits: 8, signed: true, file: "v.hex", line: 3) } throws: { "\($0)".contains("v.hex:3") }
    }

    /// A contract written under 0.1 still reads and states the same datapath; a newer one is refused by name.
    @Test func contractsFromEarlierSpecificationsRead() throws {
        let contract = DatapathContract(input: FixedPointFormat(bits: 8, fraction: 8, signed: false), layers: [
            .init(name: "ip1", output: FixedPointFormat(bits: 8, fraction: 2, signed: true), weightFraction: 3, accumulatorFraction: 11,
                  accumulatorBits: 20, bias: [5, -7]),
        ])
        let text = String(decoding: try JSONEncoder().encode(contract), as: UTF8.self)
        #expect(text.contains("\"specification\":\"\(DatapathContract.specification)\""))
        let old = try JSONDecoder().decode(DatapathContract.self, from: Data(text.replacingOccurrences(
            of: "\"specification\":\"\(DatapathContract.specification)\"", with: "\"specification\":\"0.1\"").utf8))
        #expect(old.specification == "0.1" && old.definesSameDatapath(as: contract) && old != contract)
        let newer = text.replacingOccurrences(of: "\"specification\":\"\(DatapathContract.specification)\"", with: "\"specification\":\"9.0\"")
        #expect { try JSONDecoder().decode(DatapathContract.self, from: Data(newer.utf8)) } throws: { "\($0)".contains("9.0") }
    }

    @Test func plansCarryActivationFormats() throws {
        let formats = ActivationFormats(input: FixedPointFormat(bits: 8, fraction: 8, signed: false), layers: [
            "conv1": FixedPointFormat(bits: 8, fraction: 3, signed: false), "ip2": FixedPointFormat(bits: 8, fraction: 2, signed: true),
        ])
        let plan = QuantizationPlan(rounding: .nearest, entries: [.init(layer: "conv1", weights: .pattern(try BitPattern(parsing: "4_0_0")))],
                                    activations: formats)
        let encoded = try JSONEncoder().encode(plan)
        let text = String(decoding: encoded, as: UTF8.self)
        #expect(text.contains("\"version\":2"))
        #expect(try JSONDecoder().decode(QuantizationPlan.self, from: encoded) == plan)
        // Without activation formats the plan stays version 1, which earlier readers take.
        let weightsOnly = QuantizationPlan(rounding: .nearest, entries: plan.entries)
        #expect(String(decoding: try JSONEncoder().encode(weightsOnly), as: UTF8.self).contains("\"version\":1"))
        let v1WithActivations = text.replacingOccurrences(of: "\"version\":2", with: "\"version\":1")
        #expect(throws: PlanError.self) { try JSONDecoder().decode(QuantizationPlan.self, from: Data(v1WithActivations.utf8)) }
    }
}
