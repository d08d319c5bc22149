import Foundation
@testable import Inference
import TensorGraph
import TestSupport
import Testing

/// The backward pass against central differences of the engine's own forward pass.
@Suite struct BackwardTests {
    /// Every layer type the backward covers, in one small net: convolution, BatchNorm, Scale,
    /// ReLU, LRN within and across channels, max and average pooling, a split feeding a weighted
    /// sum, an inner product and a softmax.
    func graph() -> Graph {
        let variance = Tensor(shape: [4], data: randomTensor([4], seed: 3).data.map { abs($0) + 0.5 })
        let nodes = [
            Node(name: "conv1", op: .convolution(ConvolutionAttributes(numOutput: 4, kernel: Size2(square: 3), pad: Size2(square: 1))),
                 inputs: ["data"], outputs: ["c1"], parameters: [randomTensor([4, 3, 3, 3], seed: 1), randomTensor([4], seed: 2)]),
            Node(name: "bn1", op: .batchNorm(BatchNormAttributes()), inputs: ["c1"], outputs: ["c1"],
                 parameters: [randomTensor([4], seed: 4), variance, Tensor(shape: [1], data: [2])]),
            Node(name: "scale1", op: .scale(ScaleAttributes(biasTerm: true)), inputs: ["c1"], outputs: ["c1"],
                 parameters: [randomTensor([4], seed: 5), randomTensor([4], seed: 6)]),
            Node(name: "relu1", op: .relu(ReLUAttributes(negativeSlope: 0.1)), inputs: ["c1"], outputs: ["c1"]),
            Node(name: "norm1", op: .lrn(LRNAttributes(localSize: 3, alpha: 0.5, beta: 0.75, region: .withinChannel)), inputs: ["c1"], outputs: ["n1"]),
            Node(name: "pool1", op: .pooling(PoolingAttributes(method: .max, kernel: Size2(square: 3), stride: Size2(square: 2))),
                 inputs: ["n1"], outputs: ["p1"]),
            Node(name: "split", op: .split(SplitAttributes()), inputs: ["p1"], outputs: ["p1a", "p1b"]),
            Node(name: "conv2", op: .convolution(ConvolutionAttributes(numOutput: 4, kernel: Size2(square: 3), stride: Size2(square: 1), pad: Size2(square: 1))),
                 inputs: ["p1a"], outputs: ["c2"], parameters: [randomTensor([4, 4, 3, 3], seed: 7), randomTensor([4], seed: 8)]),
            Node(name: "norm2", op: .lrn(LRNAttributes(localSize: 3, alpha: 0.5, beta: 0.75, k: 2)), inputs: ["c2"], outputs: ["n2"]),
            Node(name: "sum", op: .eltwise(EltwiseAttributes(operation: .sum, coefficients: [1, 0.5])), inputs: ["n2", "p1b"], outputs: ["e"]),
            Node(name: "pool2", op: .pooling(PoolingAttributes(method: .average, kernel: Size2(square: 2), stride: Size2(square: 2))),
                 inputs: ["e"], outputs: ["p2"]),
            Node(name: "ip", op: .innerProduct(InnerProductAttributes(numOutput: 5)), inputs: ["p2"], outputs: ["y"],
                 parameters: [randomTensor([5, 16], seed: 9), randomTensor([5], seed: 10)]),
            Node(name: "prob", op: .softmax(SoftmaxAttributes()), inputs: ["y"], outputs: ["prob"]),
        ]
        return Graph(name: "backward", inputs: [GraphInput(name: "data", shape: [2, 3, 8, 8])], nodes: nodes, output: "prob")
    }

    @Test func parameterGradientsMatchCentralDifferences() throws {
        let network = try Network(graph: graph())
        let input = randomTensor([2, 3, 8, 8], seed: 11)
        // Loss = sum of r * output: its gradient with respect to the output is r.
        let r = randomTensor([2, 5], seed: 12)
        let nodes = 0..<network.graph.nodes.count
        func loss(_ parameters: [Int: [Tensor]]) throws -> Double {
            let output = try network.recordingForward(input, nodes: nodes, parameters: parameters).values["prob"]!
            return zip(output.data, r.data).reduce(0.0) { $0 + Double($1.0) * Double($1.1) }
        }
        let tape = try network.recordingForward(input, nodes: nodes)
        let wanted: [Int] = [0, 2, 7, 11]
        let gradients = try network.backward(tape, gradient: r, of: "prob", wanted: Set(wanted))
        var checked = 0
        for node in wanted {
            let parameters = network.graph.nodes[node].parameters
            let analytic = try #require(gradients[node])
            #expect(analytic.count == parameters.count, "\(network.graph.nodes[node].name)")
            for (position, tensor) in parameters.enumerated() {
                for entry in stride(from: 0, to: tensor.count, by: max(1, tensor.count / 7)) {
                    let step: Float = 1e-3
                    var plus = parameters, minus = parameters
                    plus[position].data[entry] += step
                    minus[position].data[entry] -= step
                    let numeric = (try loss([node: plus]) - loss([node: minus])) / (2 * Double(step))
                    let value = Double(analytic[position].data[entry])
                    #expect(abs(numeric - value) <= 2e-3 + 2e-2 * abs(numeric),
                            "\(network.graph.nodes[node].name) parameter \(position)[\(entry)]: analytic \(value), numeric \(numeric)")
                    checked += 1
                }
            }
        }
        #expect(checked > 40)
    }

    @Test func layersWithoutABackwardAreNamed() throws {
        let graph = Graph(name: "t", inputs: [GraphInput(name: "x", shape: [1, 4])], nodes: [
            Node(name: "squash", op: .tanh(TanHAttributes()), inputs: ["x"], outputs: ["y"]),
        ], output: "y")
        let network = try Network(graph: graph)
        let tape = try network.recordingForward(randomTensor([1, 4], seed: 1), nodes: 0..<1)
        #expect(throws: GradientError.self) { try network.backward(tape, gradient: randomTensor([1, 4], seed: 2), of: "y", wanted: []) }
    }
}
