import Foundation
@testable import ONNXFormat
import TensorGraph

/// Builds small ONNX models in memory for the reader's tests.
struct ONNXModelBuilder {
    var model = Onnx_ModelProto()
    var opset: Int64

    init(opset: Int64 = 13, input: String = "x", shape: [Int64?]) {
        self.opset = opset
        model.irVersion = 7
        model.producerName = "bmq-tests"
        var set = Onnx_OperatorSetIdProto()
        set.version = opset
        model.opsetImport = [set]
        model.graph.name = "test"
        model.graph.input = [Self.value(input, shape: shape)]
    }

    static func value(_ name: String, shape: [Int64?]) -> Onnx_ValueInfoProto {
        var tensor = Onnx_TypeProto.Tensor()
        tensor.elemType = 1
        tensor.shape.dim = shape.map { size in
            var dim = Onnx_TensorShapeProto.Dimension()
            if let size { dim.dimValue = size } else { dim.dimParam = "batch" }
            return dim
        }
        var info = Onnx_ValueInfoProto()
        info.name = name
        info.type.tensorType = tensor
        return info
    }

    /// A float initializer stored as raw little-endian bytes.
    mutating func initializer(_ name: String, _ tensor: Tensor) {
        var proto = Onnx_TensorProto()
        proto.name = name
        proto.dims = tensor.shape.dims.map(Int64.init)
        proto.dataType = 1
        proto.rawData = tensor.data.withUnsafeBufferPointer { Data(buffer: $0) }
        model.graph.initializer.append(proto)
    }

    /// An int64 initializer in `int64_data`.
    mutating func integers(_ name: String, _ values: [Int64]) {
        var proto = Onnx_TensorProto()
        proto.name = name
        proto.dims = [Int64(values.count)]
        proto.dataType = 7
        proto.int64Data = values
        model.graph.initializer.append(proto)
    }

    enum Attribute {
        case int(Int64), ints([Int64]), float(Float), string(String), tensor(Onnx_TensorProto)
    }

    mutating func node(_ op: String, _ inputs: [String], _ outputs: [String], name: String? = nil, _ attributes: [String: Attribute] = [:]) {
        var node = Onnx_NodeProto()
        node.opType = op
        node.name = name ?? "\(op)_\(model.graph.node.count)"
        node.input = inputs
        node.output = outputs
        node.attribute = attributes.sorted { $0.key < $1.key }.map { key, value in
            var attribute = Onnx_AttributeProto()
            attribute.name = key
            switch value {
            case let .int(i): attribute.i = i; attribute.type = .int
            case let .ints(list): attribute.ints = list; attribute.type = .ints
            case let .float(f): attribute.f = f; attribute.type = .float
            case let .string(s): attribute.s = Data(s.utf8); attribute.type = .string
            case let .tensor(t): attribute.t = t; attribute.type = .tensor
            }
            return attribute
        }
        model.graph.node.append(node)
    }

    mutating func output(_ name: String, shape: [Int64?]) {
        model.graph.output.append(Self.value(name, shape: shape))
    }

    func write(to url: URL) throws {
        try model.serializedData().write(to: url)
    }
}
