import Foundation
import Inference
@testable import ONNXFormat
import TensorGraph
import Testing
import TestSupport

@Suite struct ONNXReaderTests {
    /// Every op mapping the small model uses, against the same network built by hand from bmq's
    /// ops: Pad folded into a Conv, BatchNormalization, AveragePool, the PyTorch `view` chain
    /// (Shape → Gather → Unsqueeze → Concat → Reshape), MatMul + Add merged into one
    /// InnerProduct, Gemm with an untransposed B scaled by alpha and beta, Softmax. A batch of 3
    /// runs although the file fixes none (symbolic batch).
    @Test func opsMapOntoTheSameNetworkBuiltByHand() throws {
        let directory = try SharedData.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let conv = randomTensor([4, 2, 3, 3], seed: 1), convBias = randomTensor([4], seed: 2)
        let (mean, variance) = (randomTensor([4], seed: 3), Tensor(shape: [4], data: [0.5, 1, 2, 0.25]))
        let (gamma, beta) = (randomTensor([4], seed: 4), randomTensor([4], seed: 5))
        let matmul = randomTensor([36, 5], seed: 6), matmulBias = randomTensor([5], seed: 7)
        let gemm = randomTensor([5, 3], seed: 8), gemmBias = randomTensor([3], seed: 9)

        var builder = ONNXModelBuilder(shape: [nil, 2, 6, 6])
        builder.initializer("conv.w", conv)
        builder.initializer("conv.b", convBias)
        for (name, tensor) in [("bn.gamma", gamma), ("bn.beta", beta), ("bn.mean", mean), ("bn.var", variance)] { builder.initializer(name, tensor) }
        builder.initializer("fc.w", matmul)
        builder.initializer("fc.b", matmulBias)
        builder.initializer("out.w", gemm)
        builder.initializer("out.b", gemmBias)
        builder.integers("pads", [0, 0, 1, 1, 0, 0, 1, 1])
        builder.node("Pad", ["x", "pads"], ["padded"])
        builder.node("Conv", ["padded", "conv.w", "conv.b"], ["c"], ["kernel_shape": .ints([3, 3])])
        builder.node("BatchNormalization", ["c", "bn.gamma", "bn.beta", "bn.mean", "bn.var"], ["bn"], ["epsilon": .float(1e-3)])
        builder.node("Relu", ["bn"], ["r"])
        builder.node("AveragePool", ["r"], ["p"], ["kernel_shape": .ints([2, 2]), "strides": .ints([2, 2])])
        builder.node("Shape", ["p"], ["shape"])
        builder.integers("zero", [0])
        builder.node("Gather", ["shape", "zero"], ["n"], ["axis": .int(0)])
        builder.integers("axes", [0])
        builder.node("Unsqueeze", ["n", "axes"], ["n1"])
        builder.integers("minus1", [-1])
        builder.node("Concat", ["n1", "minus1"], ["target"], ["axis": .int(0)])
        builder.node("Reshape", ["p", "target"], ["flat"])
        builder.node("MatMul", ["flat", "fc.w"], ["m"])
        builder.node("Add", ["m", "fc.b"], ["fc"])
        builder.node("Gemm", ["fc", "out.w", "out.b"], ["logits"], ["alpha": .float(0.5), "beta": .float(2)])
        builder.node("Softmax", ["logits"], ["prob"], ["axis": .int(1)])
        builder.output("prob", shape: [nil, 3])
        let file = directory.appendingPathComponent("small.onnx")
        try builder.write(to: file)

        let imported = try ONNXFormat().readModel(from: file)
        func transposed(_ t: Tensor) -> Tensor {
            let (rows, columns) = (t.shape[0], t.shape[1])
            return Tensor(shape: [columns, rows], data: (0..<(rows * columns)).map { t.data[($0 % rows) * columns + $0 / rows] })
        }
        let byHand = Graph(name: "hand", inputs: [GraphInput(name: "x", shape: [1, 2, 6, 6])], nodes: [
            Node(name: "conv", op: .convolution(ConvolutionAttributes(numOutput: 4, kernel: Size2(square: 3), pad: Size2(square: 1))),
                 inputs: ["x"], outputs: ["c"], parameters: [conv, convBias]),
            Node(name: "bn", op: .batchNorm(BatchNormAttributes(eps: 1e-3)), inputs: ["c"], outputs: ["c"],
                 parameters: [mean, variance, Tensor(shape: [1], data: [1])]),
            Node(name: "scale", op: .scale(ScaleAttributes(biasTerm: true)), inputs: ["c"], outputs: ["c"], parameters: [gamma, beta]),
            Node(name: "relu", op: .relu(ReLUAttributes()), inputs: ["c"], outputs: ["c"]),
            Node(name: "pool", op: .pooling(PoolingAttributes(method: .average, kernel: Size2(square: 2), stride: Size2(square: 2), ceilMode: false)),
                 inputs: ["c"], outputs: ["p"]),
            Node(name: "fc", op: .innerProduct(InnerProductAttributes(numOutput: 5)), inputs: ["p"], outputs: ["fc"],
                 parameters: [transposed(matmul), matmulBias]),
            Node(name: "out", op: .innerProduct(InnerProductAttributes(numOutput: 3)), inputs: ["fc"], outputs: ["logits"],
                 parameters: [Tensor(shape: [3, 5], data: transposed(gemm).data.map { $0 * 0.5 }), Tensor(shape: [3], data: gemmBias.data.map { $0 * 2 })]),
            Node(name: "prob", op: .softmax(SoftmaxAttributes()), inputs: ["logits"], outputs: ["prob"]),
        ], output: "prob")
        #expect(imported.nodes.map(\.op.typeName) == ["Convolution", "BatchNorm", "Scale", "ReLU", "Pooling", "Flatten", "InnerProduct",
                                                      "InnerProduct", "Softmax"])
        let batch = randomTensor([3, 2, 6, 6], seed: 10)
        let expected = try Network(graph: byHand).forward(batch)
        let actual = try Network(graph: imported).forward(batch)
        #expect(actual.shape == [3, 3])
        #expect(largestRelativeDifference(actual, expected) < 1e-5)
    }

    /// Weights stored beside the model (`external_data`) are read from their offset; a missing
    /// file is an error naming the tensor and where bmq looked.
    @Test func externalDataIsReadAndItsAbsenceNamed() throws {
        let directory = try SharedData.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let weights = randomTensor([3, 4], seed: 11)
        var builder = ONNXModelBuilder(shape: [1, 4, 1, 1])
        var tensor = Onnx_TensorProto()
        tensor.name = "w"
        tensor.dims = [4, 3]
        tensor.dataType = 1
        tensor.dataLocation = .external
        let bytes = Data([0xAB, 0xCD]) + weights.data.withUnsafeBufferPointer { Data(buffer: $0) }
        try bytes.write(to: directory.appendingPathComponent("weights.bin"))
        for (key, value) in [("location", "weights.bin"), ("offset", "2"), ("length", "48")] {
            var entry = Onnx_StringStringEntryProto()
            entry.key = key
            entry.value = value
            tensor.externalData.append(entry)
        }
        builder.model.graph.initializer.append(tensor)
        builder.node("Flatten", ["x"], ["f"])
        builder.node("MatMul", ["f", "w"], ["y"])
        builder.output("y", shape: [1, 3])
        let file = directory.appendingPathComponent("external.onnx")
        try builder.write(to: file)
        let graph = try ONNXFormat().readModel(from: file)
        // MatMul's [K, N] = [4, 3] weights are stored as bmq's [N, K]: the file's values, transposed.
        let stored = try #require(graph.nodes.last?.parameters.first)
        #expect(stored.shape == [3, 4])
        for index in 0..<12 {
            let (row, column) = (index / 3, index % 3)
            #expect(stored.data[column * 4 + row] == weights.data[index])
        }

        try FileManager.default.removeItem(at: directory.appendingPathComponent("weights.bin"))
        #expect { try ONNXFormat().readModel(from: file) } throws: {
            "\($0)".contains("external.onnx") && "\($0)".contains("'w'") && "\($0)".contains("weights.bin")
        }
    }

    /// Bad files: every unsupported node listed at once by name and type; a dynamic dimension
    /// other than the batch; truncated and corrupted bytes. Each is an error naming the file.
    @Test func badModelsAreNamedNotCrashed() throws {
        let directory = try SharedData.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        var builder = ONNXModelBuilder(shape: [nil, 1, 4, 4])
        builder.node("Einsum", ["x"], ["a"], name: "six")
        builder.node("Resize", ["a"], ["b"], name: "bigger")
        builder.node("Relu", ["b"], ["c"])
        builder.output("c", shape: [nil, 1, 4, 4])
        let file = directory.appendingPathComponent("bad.onnx")
        try builder.write(to: file)
        #expect { try ONNXFormat().readModel(from: file) } throws: {
            let text = "\($0)"
            return text.contains("bad.onnx") && text.contains("'six' (Einsum)") && text.contains("'bigger' (Resize)")
        }

        let dynamic = ONNXModelBuilder(shape: [1, 1, nil, 4])
        let dynamicFile = directory.appendingPathComponent("dynamic.onnx")
        try dynamic.write(to: dynamicFile)
        #expect { try ONNXFormat().readModel(from: dynamicFile) } throws: { "\($0)".contains("dynamic dimension 2") }

        var good = ONNXModelBuilder(shape: [1, 1, 2, 2])
        good.initializer("w", randomTensor([3, 1, 1, 1], seed: 12))
        good.node("Conv", ["x", "w"], ["y"])
        good.output("y", shape: [1, 3, 2, 2])
        let bytes = try good.model.serializedData()
        let truncated = directory.appendingPathComponent("truncated.onnx")
        try bytes.prefix(bytes.count - 7).write(to: truncated)
        #expect { try ONNXFormat().readModel(from: truncated) } throws: { "\($0)".contains("truncated.onnx") }
        // Every single-byte corruption of the file either reads or is an error naming the file.
        for position in stride(from: 0, to: bytes.count, by: 3) {
            var flipped = bytes
            flipped[position] ^= 0x5A
            let url = directory.appendingPathComponent("flipped.onnx")
            try flipped.write(to: url)
            do {
                _ = try ONNXFormat().readModel(from: url)
            } catch let error as FormatError {
                #expect("\(error)".contains("flipped.onnx"))
            }
        }
    }

    /// Flattened and channels-last inputs are read as declared (a loader adapts them to a
    /// dataset's images); a Transpose keeping the batch first is a Permute.
    @Test func otherInputLayoutsAndTransposeRead() throws {
        let directory = try SharedData.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        var flat = ONNXModelBuilder(shape: [nil, 784])
        flat.initializer("w", randomTensor([10, 784], seed: 13))
        flat.node("Gemm", ["x", "w"], ["y"], ["transB": .int(1)])
        flat.output("y", shape: [nil, 10])
        try flat.write(to: directory.appendingPathComponent("flat.onnx"))
        let flatGraph = try ONNXFormat().readModel(from: directory.appendingPathComponent("flat.onnx"))
        #expect(flatGraph.inputs[0].shape == [1, 784])

        var last = ONNXModelBuilder(shape: [1, 28, 28, 1])
        last.node("Transpose", ["x"], ["t"], ["perm": .ints([0, 3, 1, 2])])
        last.node("Relu", ["t"], ["y"])
        last.output("y", shape: [1, 1, 28, 28])
        try last.write(to: directory.appendingPathComponent("last.onnx"))
        let lastGraph = try ONNXFormat().readModel(from: directory.appendingPathComponent("last.onnx"))
        #expect(lastGraph.nodes.first?.op == .permute(PermuteAttributes(order: [0, 3, 1, 2])))
    }

    /// Content detection: ONNX files are told from Caffe's binary files and from text.
    @Test func filesAreRecognisedByTheirFirstBytes() throws {
        let format = ONNXFormat()
        let model = try ONNXModelBuilder(shape: [1, 1, 2, 2]).model.serializedData()
        #expect(format.recognizes(header: Array(model.prefix(64))))
        #expect(!format.recognizes(header: Array("name: \"LeNet\"".utf8)))
        #expect(!format.recognizes(header: [0x0A, 0x05, 0x4C, 0x65, 0x4E, 0x65, 0x74]))
    }
}
