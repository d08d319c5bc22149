import Foundation
import Testing
@testable import TensorGraph

@Suite struct GraphTests {
    func node(_ op: Op, _ name: String = "n", inputs: [String] = ["x"], outputs: [String] = ["y"]) -> Node {
        Node(name: name, op: op, inputs: inputs, outputs: outputs)
    }

    @Test func shapeArithmeticIsOverflowChecked() {
        #expect(Shape([Int.max / 2, 3]).checkedCount == nil)
        #expect(Shape([2, -1]).checkedCount == nil)
        #expect(Shape([2, 3, 4]).checkedCount == 24)
        #expect(throws: GraphError.self) { try ShapeMath.multiply(Int.max, 2, layer: "l") }
        let huge = Graph(name: "g", inputs: [GraphInput(name: "x", shape: [1 << 40, 1 << 30])], nodes: [], output: "x")
        #expect(throws: GraphError.self) { try ShapeInference.infer(huge) }
    }

    @Test func convolutionAndPoolingShapes() throws {
        let conv = node(.convolution(ConvolutionAttributes(numOutput: 8, kernel: Size2(3, 5), stride: Size2(2, 1), pad: Size2(1, 2), dilation: Size2(1, 2))))
        #expect(try ShapeInference.outputShapes(of: conv, inputs: [[2, 3, 11, 10]]) == [[2, 8, 6, 6]])
        let tooBig = node(.convolution(ConvolutionAttributes(numOutput: 1, kernel: Size2(square: 9))))
        #expect(throws: GraphError.self) { try ShapeInference.outputShapes(of: tooBig, inputs: [[1, 1, 4, 4]]) }
        // Caffe clips the last window when padding would make it start past the image.
        let padded = node(.pooling(PoolingAttributes(method: .average, kernel: Size2(square: 2), stride: Size2(square: 2), pad: Size2(square: 1))))
        #expect(try ShapeInference.outputShapes(of: padded, inputs: [[1, 1, 4, 4]]) == [[1, 1, 3, 3]])
        let global = node(.pooling(PoolingAttributes(method: .average, kernel: Size2(square: 1), global: true)))
        #expect(try ShapeInference.outputShapes(of: global, inputs: [[5, 64, 8, 8]]) == [[5, 64, 1, 1]])
    }

    @Test func otherShapes() throws {
        #expect(try ShapeInference.outputShapes(of: node(.innerProduct(InnerProductAttributes(numOutput: 10))), inputs: [[4, 50, 4, 4]]) == [[4, 10]])
        #expect(try ShapeInference.outputShapes(of: node(.flatten(FlattenAttributes(axis: 1, endAxis: -1))), inputs: [[4, 5, 6, 7]]) == [[4, 210]])
        #expect(try ShapeInference.outputShapes(of: node(.concat(ConcatAttributes(axis: 1)), inputs: ["a", "b"]), inputs: [[2, 3, 4, 4], [2, 5, 4, 4]]) == [[2, 8, 4, 4]])
        #expect(throws: GraphError.self) {
            try ShapeInference.outputShapes(of: node(.concat(ConcatAttributes(axis: 1)), inputs: ["a", "b"]), inputs: [[2, 3, 4, 4], [2, 5, 4, 5]])
        }
        #expect(throws: GraphError.self) {
            try ShapeInference.outputShapes(of: node(.eltwise(EltwiseAttributes()), inputs: ["a", "b"]), inputs: [[2, 3], [2, 4]])
        }
        #expect(try ShapeInference.outputShapes(of: node(.split(SplitAttributes()), outputs: ["a", "b", "c"]), inputs: [[1, 2]]) == [[1, 2], [1, 2], [1, 2]])
    }

    @Test func groupsMustDivideChannels() throws {
        let conv = node(.convolution(ConvolutionAttributes(numOutput: 4, kernel: Size2(square: 1), group: 3)))
        #expect(throws: GraphError.self) { try ShapeInference.expectedParameterShapes(of: conv, input: [1, 6, 2, 2]) }
    }

    @Test func undefinedValuesAreNamed() {
        let graph = Graph(name: "g", inputs: [GraphInput(name: "data", shape: [1, 2])], nodes: [node(.relu(ReLUAttributes(negativeSlope: 0)), "r", inputs: ["nope"])], output: "y")
        #expect { try ShapeInference.infer(graph) } throws: { "\($0)" == "layer 'r' reads 'nope', which no earlier layer or input produces" }
    }

    @Test func weightsAttachByNameAcceptingLegacyShapes() throws {
        let ip = Node(name: "ip", op: .innerProduct(InnerProductAttributes(numOutput: 2)), inputs: ["x"], outputs: ["y"])
        let graph = Graph(name: "g", inputs: [GraphInput(name: "x", shape: [1, 3])], nodes: [ip], output: "y")
        let legacy = WeightSet(layers: [
            WeightSet.Layer(name: "ip", blobs: [Tensor(shape: [1, 1, 2, 3], data: [1, 2, 3, 4, 5, 6]), Tensor(shape: [1, 1, 1, 2], data: [7, 8])]),
            WeightSet.Layer(name: "extra", blobs: [Tensor(shape: [1], data: [0])]),
        ])
        let (attached, report) = try graph.attachingWeights(legacy)
        #expect(attached.nodes[0].parameters.map(\.shape) == [[2, 3], [2]])
        #expect(report.unusedLayers == ["extra"])
        let missing = WeightSet(layers: [])
        #expect { try graph.attachingWeights(missing) } throws: { "\($0)".contains("layer 'ip'") }
        let transposed = WeightSet(layers: [WeightSet.Layer(name: "ip", blobs: [Tensor(shape: [3, 2], data: [1, 2, 3, 4, 5, 6]), Tensor(shape: [2], data: [7, 8])])])
        #expect { try graph.attachingWeights(transposed) } throws: { "\($0)" == "layer 'ip': weights has shape 3x2, the net needs 2x3" }
    }

    @Test func statistics() {
        let stats = TensorStatistics([-2, 0, 1, 3])
        #expect(stats.min == -2 && stats.max == 3 && stats.absMax == 3 && stats.mean == 0.5)
        #expect(abs(stats.std - (3.25).squareRoot()) < 1e-12)
    }

    @Test func atomicWritesLeaveNoPartialFile() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("bmq-graph-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let target = directory.appendingPathComponent("out.bin")
        try FileIO.writeAtomically(Data([1, 2, 3]), to: target)
        try FileIO.writeAtomically(Data([4]), to: target)
        #expect(try Data(contentsOf: target) == Data([4]))
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory.path) == ["out.bin"])
        let impossible = directory.appendingPathComponent("no-such-dir/out.bin")
        #expect { try FileIO.writeAtomically(Data([1]), to: impossible) } throws: { "\($0)".contains("no-such-dir/out.bin") }
    }
}
