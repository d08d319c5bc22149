import Foundation
@testable import Inference
import TensorGraph
import TestSupport
import Testing

@Suite struct FoldBatchNormTests {
    /// conv → BatchNorm → Scale → ReLU, and conv (no bias) → BatchNorm without Scale: the folded
    /// graph computes the same outputs with the BatchNorm and Scale layers gone.
    @Test(arguments: [true, false])
    func foldedGraphComputesTheSameOutputs(withScale: Bool) throws {
        let variance = Tensor(shape: [4], data: randomTensor([4], seed: 3).data.map { abs($0) + 0.2 })
        var nodes = [
            Node(name: "conv", op: .convolution(ConvolutionAttributes(numOutput: 4, kernel: Size2(square: 3), pad: Size2(square: 1),
                                                                      biasTerm: withScale)),
                 inputs: ["data"], outputs: ["conv"],
                 parameters: [randomTensor([4, 2, 3, 3], seed: 1)] + (withScale ? [randomTensor([4], seed: 2)] : [])),
            Node(name: "bn", op: .batchNorm(BatchNormAttributes()), inputs: ["conv"], outputs: ["conv"],
                 parameters: [randomTensor([4], seed: 4), variance, Tensor(shape: [1], data: [999.98236])]),
        ]
        if withScale {
            nodes.append(Node(name: "scale", op: .scale(ScaleAttributes(biasTerm: true)), inputs: ["conv"], outputs: ["conv"],
                              parameters: [randomTensor([4], seed: 5), randomTensor([4], seed: 6)]))
        }
        nodes.append(Node(name: "relu", op: .relu(ReLUAttributes()), inputs: ["conv"], outputs: ["conv"]))
        let graph = Graph(name: "bn", inputs: [GraphInput(name: "data", shape: [2, 2, 6, 5])], nodes: nodes, output: "conv")
        let folded = graph.foldingBatchNorm()
        #expect(folded.nodes.map(\.name) == ["conv", "relu"])
        #expect(folded.nodes[0].parameters.count == 2)
        let input = randomTensor([2, 2, 6, 5], seed: 9)
        let expected = try Network(graph: graph).forward(input), actual = try Network(graph: folded).forward(input)
        // Float rounding differs (the chain rounds after each step, the fold once per weight).
        #expect(largestRelativeDifference(actual, expected) < 1e-4)
    }

    /// A BatchNorm that does not follow a convolution in place stays as it is.
    @Test func batchNormElsewhereIsKept() {
        let graph = Graph(name: "bn", inputs: [GraphInput(name: "data", shape: [1, 2, 2, 2])], nodes: [
            Node(name: "bn", op: .batchNorm(BatchNormAttributes()), inputs: ["data"], outputs: ["bn"],
                 parameters: [Tensor(shape: [2], data: [0, 0]), Tensor(shape: [2], data: [1, 1]), Tensor(shape: [1], data: [1])]),
        ], output: "bn")
        #expect(graph.foldingBatchNorm() == graph)
    }
}

/// Models that declare their images flattened or channels last take the dataset's C x H x W
/// images through a first layout layer, and compute exactly what they compute on their own layout.
@Suite struct AdaptInputLayoutTests {
    @Test func flattenedAndChannelsLastInputsTakeImages() throws {
        let images = randomTensor([3, 2, 4, 5], seed: 21)
        let weights = randomTensor([6, 40], seed: 22), bias = randomTensor([6], seed: 23)
        let flat = Graph(name: "flat", inputs: [GraphInput(name: "x", shape: [1, 40])], nodes: [
            Node(name: "ip", op: .innerProduct(InnerProductAttributes(numOutput: 6)), inputs: ["x"], outputs: ["y"], parameters: [weights, bias]),
        ], output: "y")
        let adapted = flat.adaptingInput(to: [2, 4, 5])
        #expect(adapted.inputs[0].shape == [1, 2, 4, 5] && adapted.nodes.count == 2)
        #expect(try Network(graph: adapted).forward(images).data == Network(graph: flat).forward(images.reshaped([3, 40])).data)

        // Channels last: the model's own first layer moves channels back to axis 1.
        let convolution = randomTensor([3, 2, 3, 3], seed: 24)
        let nhwc = Graph(name: "nhwc", inputs: [GraphInput(name: "x", shape: [1, 4, 5, 2])], nodes: [
            Node(name: "nchw", op: .permute(PermuteAttributes(order: [0, 3, 1, 2])), inputs: ["x"], outputs: ["t"]),
            Node(name: "conv", op: .convolution(ConvolutionAttributes(numOutput: 3, kernel: Size2(square: 3), pad: Size2(square: 1))),
                 inputs: ["t"], outputs: ["y"], parameters: [convolution, randomTensor([3], seed: 25)]),
        ], output: "y")
        let lastAdapted = nhwc.adaptingInput(to: [2, 4, 5])
        #expect(lastAdapted.inputs[0].shape == [1, 2, 4, 5])
        var channelsLast = Tensor(zeros: [3, 4, 5, 2])
        for n in 0..<3 { for c in 0..<2 { for y in 0..<4 { for x in 0..<5 {
            channelsLast.data[((n * 4 + y) * 5 + x) * 2 + c] = images.data[((n * 2 + c) * 4 + y) * 5 + x]
        } } } }
        #expect(try Network(graph: lastAdapted).forward(images).data == Network(graph: nhwc).forward(channelsLast).data)
        // An input that already matches, or matches no layout, is left alone.
        #expect(nhwc.adaptingInput(to: [4, 5, 2]) == nhwc)
        #expect(flat.adaptingInput(to: [3, 4, 5]) == flat)
    }
}
