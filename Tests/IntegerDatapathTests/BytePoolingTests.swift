import Foundation
@testable import IntegerDatapath
import Quantization
import TensorGraph
import TestSupport
import Testing

/// MAX and AVE pooling on packed bytes, for the window shapes the engine's kernels tell apart:
/// strides 1 and 2 (the 512-bit kernels), windows the right and bottom edges clip (Caffe's ceil
/// mode; AVE then divides by a smaller count), rows of several vectors, top padding, and left
/// padding or stride 3 (the general loops). Each against the integer loops, on every byte
/// dot-product unit: pooled on bytes, and (MAX) fused into the convolution's requantization (the
/// pooling of its accumulators), whose statistics must stay the unpooled layer's, saturations included.
@Suite struct BytePoolingTests {
    @Test(arguments: [PoolingMethod.max, .average],
          [(2, 2, 0, 0, 24, 24), (2, 2, 0, 0, 9, 9), (3, 2, 0, 0, 11, 11), (3, 2, 0, 0, 7, 41), (3, 1, 0, 0, 20, 19),
           (2, 1, 0, 0, 6, 35), (3, 2, 1, 0, 10, 13), (3, 2, 1, 1, 10, 13), (3, 3, 0, 0, 12, 14)])
    func poolingOnBytesGivesTheLoopsValues(method: PoolingMethod, window: (kernel: Int, stride: Int, padTop: Int, padLeft: Int, height: Int, width: Int)) throws {
        let (kernel, stride, padTop, padLeft, height, width) = window
        var generator = SeededGenerator(seed: UInt64(kernel * 100 + height * width))
        let (inputChannels, channels) = (3, 6)
        func tensor(_ shape: Shape, _ range: ClosedRange<Float>) -> Tensor {
            Tensor(shape: shape, data: (0..<shape.count).map { _ in Float(Int(Float.random(in: range, using: &generator) * 4)) / 4 })
        }
        let pool = PoolingAttributes(method: method, kernel: Size2(square: kernel), stride: Size2(square: stride), pad: Size2(padTop, padLeft))
        let graph = Graph(
            name: "pool", inputs: [GraphInput(name: "data", shape: [1, inputChannels, height, width])],
            nodes: [
                Node(name: "conv", op: .convolution(ConvolutionAttributes(numOutput: channels, kernel: Size2(square: 3), pad: Size2(square: 1))),
                     inputs: ["data"], outputs: ["conv"], parameters: [tensor([channels, inputChannels, 3, 3], -2...2), tensor([channels], -1...1)]),
                Node(name: "pool", op: .pooling(pool), inputs: ["conv"], outputs: ["pool"]),
            ],
            output: "pool")
        let pattern = try BitPattern(parsing: "5_1_1_0")
        let plan = QuantizationPlan(rounding: .nearest, entries: [.init(layer: "conv", weights: .pattern(pattern))])
        let formats = ActivationFormats(input: FixedPointFormat(bits: 8, fraction: 5, signed: true), layers: [
            "conv": FixedPointFormat(bits: 8, fraction: 3, signed: true),
        ])
        let program = try IntegerProgram(graph: graph, plan: plan, formats: formats)

        let images = 5
        let inputs = (0..<(images * program.inputCount)).map { _ in Int32.random(in: -128...127, using: &generator) }
        let reference = try program.run(inputs, count: images, arithmetic: .integer)
        // The pooled map is the output, compared whole.
        let pooled = try #require(try ShapeInference.infer(graph, checkParameters: false).valueShapes["pool"])
        #expect(program.classes == pooled.count(from: 1))
        #expect(Set(reference.scores).count > 10, "the pooled values vary")
        #expect(reference.layers[0].saturated > 0, "some accumulators leave the format")
        for unit in DotProductUnit.available {
            // Only MAX pooling fuses into the convolution.
            for fusing in method == .max ? [true, false] : [false] {
                // Every fusable pooling fused, whatever the default plan picks.
                let plan = program.packedPlan(unit: unit, fusingPools: fusing ? .all : .none)
                let modes = plan.modes.map { mode -> String in
                    switch mode {
                    case .pool: "pool"
                    case .pooledByConvolution: "fused"
                    default: "other"
                    }
                }
                #expect(modes.contains(fusing ? "fused" : "pool") && !modes.contains(fusing ? "pool" : "fused"), "\(unit) \(modes)")
                var statistics = program.requantizingLayers
                let scores = program.runPacked(plan, inputs, batch: images, arithmetic: .dotProducts(unit), statistics: &statistics)
                #expect(scores.count == reference.scores.count && scores == reference.scores, "\(unit), fused: \(fusing)")
                #expect(statistics == reference.layers, "\(unit), fused: \(fusing)")
            }
            let run = try program.run(inputs, count: images, arithmetic: .dotProducts(unit))
            #expect(run.scores == reference.scores, "\(unit)")
        }
        if DotProductUnit.available.isEmpty { print("note: this CPU has no byte dot-product unit; the byte pooling did not run") }
    }
}
