import CaffeFormat
import Foundation
import HDF5Format
@testable import Inference
import ONNXFormat
import PackedFormat
import TensorGraph
import TestSupport
import Testing

/// One node of an operation with the input shapes it is tried on.
struct OperatorExample: Sendable {
    var node: Node
    var inputs: [Shape]

    init(_ op: Op, inputs: [Shape], outputs: Int = 1) {
        let inputNames = inputs.indices.map { "in\($0)" }
        node = Node(name: "layer", op: op, inputs: inputNames, outputs: (0..<outputs).map { "out\($0)" })
        self.inputs = inputs
    }
}

/// Every operation in `Op.catalog` through every codec (Caffe, HDF5 for its parameters, packed)
/// and against its reference kernel. An operation without an example here fails.
@Suite struct OperatorCatalogTests {
    static let examples: [String: OperatorExample] = [
        ConvolutionAttributes.typeName: OperatorExample(
            .convolution(ConvolutionAttributes(numOutput: 4, kernel: Size2(3, 2), stride: Size2(2, 1), pad: Size2(1, 0))),
            inputs: [[2, 3, 6, 5]]),
        PoolingAttributes.typeName: OperatorExample(
            .pooling(PoolingAttributes(method: .average, kernel: Size2(square: 3), stride: Size2(square: 2), pad: Size2(square: 1))),
            inputs: [[2, 3, 7, 6]]),
        InnerProductAttributes.typeName: OperatorExample(.innerProduct(InnerProductAttributes(numOutput: 5)), inputs: [[2, 3, 2, 2]]),
        ReLUAttributes.typeName: OperatorExample(.relu(ReLUAttributes(negativeSlope: 0.1)), inputs: [[2, 3, 4, 1]]),
        SigmoidAttributes.typeName: OperatorExample(.sigmoid(SigmoidAttributes()), inputs: [[2, 5, 1, 1]]),
        TanHAttributes.typeName: OperatorExample(.tanh(TanHAttributes()), inputs: [[2, 5, 1, 1]]),
        AbsValAttributes.typeName: OperatorExample(.absVal(AbsValAttributes()), inputs: [[2, 3, 4, 1]]),
        PReLUAttributes.typeName: OperatorExample(.prelu(PReLUAttributes()), inputs: [[2, 3, 2, 2]]),
        PermuteAttributes.typeName: OperatorExample(.permute(PermuteAttributes(order: [0, 2, 3, 1])), inputs: [[2, 3, 4, 5]]),
        ClipAttributes.typeName: OperatorExample(.clip(ClipAttributes(min: -0.25, max: 0.5)), inputs: [[2, 3, 2, 2]]),
        SoftmaxAttributes.typeName: OperatorExample(.softmax(SoftmaxAttributes(axis: 1)), inputs: [[2, 4, 3, 1]]),
        LRNAttributes.typeName: OperatorExample(.lrn(LRNAttributes(localSize: 3, alpha: 0.5, beta: 0.75, k: 2)), inputs: [[2, 5, 4, 4]]),
        DropoutAttributes.typeName: OperatorExample(.dropout(DropoutAttributes(ratio: 0.3)), inputs: [[2, 6, 1, 1]]),
        FlattenAttributes.typeName: OperatorExample(.flatten(FlattenAttributes(axis: 1, endAxis: 2)), inputs: [[2, 3, 2, 2]]),
        ConcatAttributes.typeName: OperatorExample(.concat(ConcatAttributes(axis: 1)), inputs: [[2, 3, 2], [2, 1, 2]]),
        EltwiseAttributes.typeName: OperatorExample(
            .eltwise(EltwiseAttributes(operation: .sum, coefficients: [1, -0.5])), inputs: [[2, 3], [2, 3]]),
        BatchNormAttributes.typeName: OperatorExample(.batchNorm(BatchNormAttributes(eps: 1e-4)), inputs: [[2, 3, 2, 2]]),
        ScaleAttributes.typeName: OperatorExample(.scale(ScaleAttributes(biasTerm: true)), inputs: [[2, 3, 2, 2]]),
        SplitAttributes.typeName: OperatorExample(.split(SplitAttributes()), inputs: [[2, 3]], outputs: 2),
    ]

    /// The example's node with seeded parameters of the shapes its operation asks for
    /// (BatchNorm's variance and moving-average factor kept positive, as trained files have them).
    static func exampleNode(_ example: OperatorExample) throws -> Node {
        var node = example.node
        let shapes = try ShapeInference.expectedParameterShapes(of: node, input: example.inputs[0])
        node.parameters = shapes.enumerated().map { index, shape in randomTensor(shape, seed: UInt64(100 + index)) }
        if case .batchNorm = node.op {
            node.parameters[1].data = node.parameters[1].data.map { abs($0) + 0.1 }
            node.parameters[2] = Tensor(shape: [1], data: [999.98236])
        }
        return node
    }

    static func graph(_ example: OperatorExample, node: Node) -> Graph {
        Graph(name: "example", inputs: zip(node.inputs, example.inputs).map { GraphInput(name: $0, shape: $1) },
              nodes: [node], output: node.outputs[0])
    }

    @Test(arguments: Op.catalog.map { $0.typeName })
    func operation(_ typeName: String) throws {
        let example = try #require(Self.examples[typeName], "no example for \(typeName): add one to OperatorCatalogTests.examples")
        #expect(example.node.op.typeName == typeName)
        let node = try Self.exampleNode(example)
        let graph = Self.graph(example, node: node)
        let shapes = try ShapeInference.infer(graph)

        // The engine's kernel against the reference kernel.
        let inputs = example.inputs.enumerated().map { randomTensor($1, seed: UInt64(7 + $0)) }
        var consumed = inputs
        let fast = Network.run(node, inputs: &consumed, outputShapes: shapes.nodeOutputShapes[0])
        let reference = ReferenceKernels.run(node, inputs: inputs, outputShapes: shapes.nodeOutputShapes[0])
        #expect(fast.count == reference.count)
        for (a, b) in zip(fast, reference) {
            #expect(a.shape == b.shape, "\(typeName): shape \(a.shape) vs \(b.shape)")
            #expect(largestRelativeDifference(a, b) <= 1e-5, "\(typeName): engine and reference kernels differ")
        }

        // Packed: the description and every tensor, bit for bit.
        let packed = try PackedFormat().decode(try PackedFormat().encode(graph, encodings: [:])).graph()
        #expect(packed == graph, "\(typeName) through the packed format")

        let directory = try SharedData.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }

        // Caffe: the layer definition and blobs stored in a .caffemodel, and the prototxt text.
        let caffe = CaffeFormat()
        let caffemodel = directory.appendingPathComponent("example.caffemodel")
        try caffe.write(graph, to: caffemodel)
        let stored = try caffe.readModelDefinition(from: caffemodel)
        #expect(stored.nodes.map(\.op) == [node.op], "\(typeName) through a .caffemodel")
        let weights = try caffe.readWeights(from: caffemodel)
        #expect(weights.layer(named: node.name)?.blobs ?? [] == node.parameters)
        let fromText = try caffe.readNet(text: try caffe.prototxt(for: graph))
        #expect(fromText.nodes.map(\.op) == [node.op], "\(typeName) through .prototxt text")

        // ONNX: the model written and read back computes the same (one image input; Concat,
        // Eltwise and Split take or give several values and are covered by whole networks).
        let severalValues = example.inputs.count > 1 || node.outputs.count > 1
        if !severalValues, case .flatten = node.op {} else if !severalValues {
            let onnx = directory.appendingPathComponent("example.onnx")
            try ONNXFormat().write(graph, to: onnx)
            let imported = try ONNXFormat().readModel(from: onnx)
            let output = try Network(graph: imported).forward(inputs[0])
            #expect(output.shape == fast[0].shape && largestRelativeDifference(output, fast[0]) <= 1e-5, "\(typeName) through ONNX")
        }

        // HDF5 (Caffe's snapshot layout) for operations with parameters.
        if !node.parameters.isEmpty {
            let h5 = directory.appendingPathComponent("example.caffemodel.h5")
            try HDF5WeightsFormat().write(graph, to: h5)
            #expect(try HDF5WeightsFormat().readWeights(from: h5).layer(named: node.name)?.blobs == node.parameters)
        }
    }

    @Test func catalogNamesAreUnique() {
        let names = Op.catalog.map { $0.typeName }
        #expect(Set(names).count == names.count)
        for attributes in Op.catalog { #expect(Op.attributesType(named: attributes.typeName) == attributes) }
    }
}
