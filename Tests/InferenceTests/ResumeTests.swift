import Foundation
import TensorGraph
import TestSupport
import Testing
@testable import Inference

@Suite struct ResumeTests {
    /// conv → in-place ReLU → split into a conv branch and a skip → sum → pool → inner product → softmax:
    /// values that cross a cut (the skip) must be carried by the checkpoint.
    static func branchedGraph() -> Graph {
        let conv = ConvolutionAttributes(numOutput: 4, kernel: Size2(square: 3), pad: Size2(square: 1))
        let nodes = [
            Node(name: "conv1", op: .convolution(conv), inputs: ["data"], outputs: ["conv1"],
                 parameters: [randomTensor([4, 2, 3, 3], seed: 11), randomTensor([4], seed: 12)]),
            Node(name: "relu1", op: .relu(ReLUAttributes(negativeSlope: 0)), inputs: ["conv1"], outputs: ["conv1"]),
            Node(name: "split", op: .split(SplitAttributes()), inputs: ["conv1"], outputs: ["a", "b"]),
            Node(name: "conv2", op: .convolution(conv), inputs: ["a"], outputs: ["conv2"],
                 parameters: [randomTensor([4, 4, 3, 3], seed: 13), randomTensor([4], seed: 14)]),
            Node(name: "sum", op: .eltwise(EltwiseAttributes()), inputs: ["conv2", "b"], outputs: ["sum"]),
            Node(name: "pool", op: .pooling(PoolingAttributes(method: .max, kernel: Size2(square: 2), stride: Size2(square: 2))),
                 inputs: ["sum"], outputs: ["pool"]),
            Node(name: "ip", op: .innerProduct(InnerProductAttributes(numOutput: 5)), inputs: ["pool"], outputs: ["ip"],
                 parameters: [randomTensor([5, 4 * 3 * 3], seed: 15), randomTensor([5], seed: 16)]),
            Node(name: "prob", op: .softmax(SoftmaxAttributes(axis: 1)), inputs: ["ip"], outputs: ["prob"]),
        ]
        return Graph(name: "branched", inputs: [GraphInput(name: "data", shape: [1, 2, 6, 6])], nodes: nodes, output: "prob")
    }

    /// One network run at two batch sizes whose convolution kernels differ (Winograd for many
    /// small images, direct for one): each keeps its own packing of the same weights.
    @Test func aLayerPackedForTwoKernelsKeepsBoth() throws {
        let conv = ConvolutionAttributes(numOutput: 64, kernel: Size2(square: 3), pad: Size2(square: 1))
        let graph = Graph(name: "one conv", inputs: [GraphInput(name: "data", shape: [1, 64, 8, 8])],
                          nodes: [Node(name: "conv", op: .convolution(conv), inputs: ["data"], outputs: ["conv"],
                                       parameters: [randomTensor([64, 64, 3, 3], seed: 21), randomTensor([64], seed: 22)])],
                          output: "conv")
        if #available(macOS 26, *), VectorUnit.available {
            #expect(Kernels.winogradGeometry([8, 64, 8, 8], conv, outputShape: [8, 64, 8, 8]) != nil)
            #expect(Kernels.winogradGeometry([1, 64, 8, 8], conv, outputShape: [1, 64, 8, 8]) == nil)
        }
        let batch = randomTensor([8, 64, 8, 8], seed: 23)
        let first = Tensor(shape: [1, 64, 8, 8], data: Array(batch.data[0..<(64 * 64)]))
        let network = try Network(graph: graph)
        let many = try network.forward(batch)
        let one = try network.forward(first)
        #expect(one.data == (try Network(graph: graph).forward(first)).data)
        // The batch's Winograd F(4x4, 3x3) sums 576 products per output in a different order: against
        // double-precision sums its float32 error reaches 2e-4 on such layers (either transform order).
        expectClose(one, Tensor(shape: [1, 64, 8, 8], data: Array(many.data[0..<(64 * 64)])), tolerance: 3e-4,
                    "one image against the batch's first")
    }

    @Test func resumingAtEveryCutEqualsOnePass() throws {
        let network = try Network(graph: Self.branchedGraph())
        let input = randomTensor([3, 2, 6, 6], seed: 21)
        let whole = try network.forward(input)
        for cut in 0...network.graph.nodes.count {
            let first = try network.resume(["data": input], batch: 3, nodes: 0..<cut)
            #expect(Set(first.keys).isSubset(of: network.liveValues(before: cut)), "cut \(cut) keeps dead values \(first.keys.sorted())")
            let rest = try network.resume(first, batch: 3, nodes: cut..<network.graph.nodes.count)
            #expect(rest["prob"]?.data == whole.data, "cut \(cut)")
        }
        // The skip connection crosses conv2, so it is live there.
        #expect(network.liveValues(before: 3).contains("b"))
        #expect(!network.liveValues(before: 5).contains("b"))
    }

    @Test func replacedParametersEqualAGraphWithThoseWeights() throws {
        var graph = Self.branchedGraph()
        let network = try Network(graph: graph)
        let replacement = [randomTensor([4, 4, 3, 3], seed: 31), randomTensor([4], seed: 32)]
        graph.nodes[3].parameters = replacement
        let input = randomTensor([2, 2, 6, 6], seed: 33)
        let expected = try Network(graph: graph).forward(input)
        let checkpoint = try network.resume(["data": input], batch: 2, nodes: 0..<3)
        let resumed = try network.resume(checkpoint, batch: 2, nodes: 3..<graph.nodes.count, parameters: [3: replacement])
        #expect(resumed["prob"]?.data == expected.data)
        // The checkpoint itself is untouched by the in-place layers that ran after it.
        let again = try network.resume(checkpoint, batch: 2, nodes: 3..<graph.nodes.count)
        #expect(again["prob"]?.data == (try network.forward(input)).data)
    }

    /// Packings of replacement weights are reused only for the same weights: a second, different
    /// replacement of the same layer runs with its own values.
    @Test func eachReplacementRunsWithItsOwnWeights() throws {
        let network = try Network(graph: Self.branchedGraph())
        let input = randomTensor([2, 2, 6, 6], seed: 34)
        let checkpoint = try network.resume(["data": input], batch: 2, nodes: 0..<3)
        for seed in [41, 42, 41] as [UInt64] {
            let replacement = [randomTensor([4, 4, 3, 3], seed: seed), randomTensor([4], seed: 43)]
            var graph = Self.branchedGraph()
            graph.nodes[3].parameters = replacement
            let resumed = try network.resume(checkpoint, batch: 2, nodes: 3..<graph.nodes.count, parameters: [3: replacement])
            #expect(resumed["prob"]?.data == (try Network(graph: graph).forward(input)).data, "replacement \(seed)")
        }
    }

    @Test func batchParallelMapKeepsOrderAndErrors() throws {
        let squares = try Parallel.map(37) { $0 * $0 }
        #expect(squares == (0..<37).map { $0 * $0 })
        struct Failure: Error {}
        #expect(throws: Failure.self) { try Parallel.map(5) { index -> Int in if index == 3 { throw Failure() }; return index } }
        // No more items than cores: they start on the worker team, each with its kernels kept serial.
        let few = Parallel.workers
        let results = try Parallel.map(few) { index in (index * 3, Parallel.isSerial) }
        #expect(results.map(\.0) == (0..<few).map { $0 * 3 } && results.allSatisfy(\.1))
        #expect(throws: Failure.self) { try Parallel.map(few) { index -> Int in if index == few - 1 { throw Failure() }; return index } }
    }
}
