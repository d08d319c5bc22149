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
