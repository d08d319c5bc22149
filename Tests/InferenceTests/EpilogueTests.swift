import Foundation
import SIMDKernels
import TensorGraph
import TestSupport
import Testing
@testable import Inference

/// Batch norm, scale and ReLU run inside the kernel before them; the results must be the layers'
/// own, bit for bit, and no value a later node reads may be lost to the fusion.
@Suite struct EpilogueTests {
    /// conv (Winograd-sized) → BN → Scale with bias → leaky ReLU, all in place; conv2 → ReLU under a
    /// new name; conv3 → ReLU whose input the sum still reads (so not fused); sum → ReLU.
    static func chainedGraph() -> Graph {
        let conv = ConvolutionAttributes(numOutput: 16, kernel: Size2(square: 3), pad: Size2(square: 1))
        var variance = randomTensor([16], seed: 4)
        variance.data = variance.data.map { abs($0) + 0.1 }
        let nodes = [
            Node(name: "conv1", op: .convolution(conv), inputs: ["data"], outputs: ["conv1"],
                 parameters: [randomTensor([16, 16, 3, 3], seed: 1), randomTensor([16], seed: 2)]),
            Node(name: "bn1", op: .batchNorm(BatchNormAttributes()), inputs: ["conv1"], outputs: ["conv1"],
                 parameters: [randomTensor([16], seed: 3), variance, Tensor(shape: [1], data: [999.98])]),
            Node(name: "scale1", op: .scale(ScaleAttributes(biasTerm: true)), inputs: ["conv1"], outputs: ["conv1"],
                 parameters: [randomTensor([16], seed: 5), randomTensor([16], seed: 6)]),
            Node(name: "relu1", op: .relu(ReLUAttributes(negativeSlope: 0.1)), inputs: ["conv1"], outputs: ["conv1"]),
            Node(name: "conv2", op: .convolution(conv), inputs: ["conv1"], outputs: ["conv2"],
                 parameters: [randomTensor([16, 16, 3, 3], seed: 7), randomTensor([16], seed: 8)]),
            Node(name: "relu2", op: .relu(ReLUAttributes(negativeSlope: 0)), inputs: ["conv2"], outputs: ["relu2"]),
            Node(name: "conv3", op: .convolution(conv), inputs: ["relu2"], outputs: ["conv3"],
                 parameters: [randomTensor([16, 16, 3, 3], seed: 9), randomTensor([16], seed: 10)]),
            Node(name: "relu3", op: .relu(ReLUAttributes(negativeSlope: 0)), inputs: ["conv3"], outputs: ["relu3"]),
            Node(name: "sum", op: .eltwise(EltwiseAttributes(coefficients: [1, -0.5])), inputs: ["relu3", "conv3"], outputs: ["sum"]),
            Node(name: "relu4", op: .relu(ReLUAttributes(negativeSlope: 0)), inputs: ["sum"], outputs: ["sum"]),
        ]
        return Graph(name: "chained", inputs: [GraphInput(name: "data", shape: [1, 16, 8, 8])], nodes: nodes, output: "sum")
    }

    @Test func chainsStopWhereALaterNodeReadsTheValue() throws {
        let network = try Network(graph: Self.chainedGraph())
        guard network.options.vectorKernels else { return }
        let chains = network.epilogueChains.mapValues(\.length)
        // conv1 takes BN, Scale and ReLU; conv2 its renamed ReLU; conv3 nothing (the sum reads conv3); the sum its ReLU.
        #expect(chains == [0: 3, 4: 1, 8: 1])
    }

    /// Fused and sliced (no observer) against layer by layer on the whole batch (an observer sees every node).
    @Test(arguments: [ConvolutionMethod.winograd, .direct, .gemm])
    func fusedLayersAreBitIdenticalToTheLayers(_ method: ConvolutionMethod) throws {
        let network = try Network(graph: Self.chainedGraph(), options: EngineOptions(convolution: method))
        for images in [1, 7] {
            let input = randomTensor([images, 16, 8, 8], seed: 40 + UInt64(images))
            let fused = try network.forward(input)
            var observed = 0
            let layered = try network.forward(input) { _, _ in observed += 1 }
            #expect(observed == network.graph.nodes.count)
            #expect(fused.isBitIdentical(to: layered), "\(method), \(images) images")
        }
    }

    /// A pass stopped inside a chain fuses only the chain's part within the range (and the graph's
    /// own chain, made once, only when the whole chain is inside): every cut gives the same bits.
    @Test func aChainCutByTheRangeFusesOnlyItsPart() throws {
        let network = try Network(graph: Self.chainedGraph())
        let input = randomTensor([3, 16, 8, 8], seed: 50)
        let layered = try network.forward(input) { _, _ in }
        for cut in 0...network.graph.nodes.count {
            let first = try network.resume(["data": input], batch: 3, nodes: 0..<cut)
            let rest = try network.resume(first, batch: 3, nodes: cut..<network.graph.nodes.count)
            #expect(rest["sum"].map { $0.isBitIdentical(to: layered) } == true, "cut \(cut)")
        }
    }

    /// Every step against the scalar formula of the layer it stands for, including -0 and NaN, on
    /// each of two channels (vector body and scalar tail), in the kernels' AVX2 build and, where
    /// the CPU has it, their AVX-512 build.
    @Test(arguments: [(0, false), (1, false), (0, true), (1, true)])
    func epilogueStepsMatchTheLayersScalarFormulas(_ channel: Int, wide: Bool) {
        guard !wide || VectorUnit.wideVectors else { return }
        let values: [Float] = [-2, -0.0, 0, 0.5, 3, .nan, -.infinity] + (0..<26).map { Float($0) * 0.37 - 4 }
        let (mean, deviation, factor, shift): ([Float], [Float], [Float], [Float]) = ([0.25, -1], [1.5, 0.3], [0.8, -2], [-0.1, 0.7])
        let epilogue = ChannelEpilogue(steps: [.normalize(mean: mean, deviation: deviation), .scale(factor), .shift(shift),
                                               .relu(negativeSlope: 0.2), .relu(negativeSlope: 0)], channels: 2, wide: wide)
        var fused = values
        fused.withUnsafeMutableBufferPointer { epilogue.apply($0.baseAddress!, count: $0.count, channel: channel) }
        let expected = values.map { v -> Float in
            var x = (v - mean[channel]) / deviation[channel]
            x = factor[channel] * x
            x = x + shift[channel]
            x = max(x, 0) + 0.2 * min(x, 0)
            return max(x, 0)
        }
        #expect(zip(fused, expected).allSatisfy { $0.bitPattern == $1.bitPattern })
    }
}
