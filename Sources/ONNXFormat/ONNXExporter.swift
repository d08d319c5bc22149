import Foundation
import TensorGraph

/// Writes a graph as an ONNX model (opset 13) that computes what bmq computes: Caffe's
/// ceil-mode pooling and AVE divisor, both LRN regions, BatchNorm with its stored factor, and the
/// model's preprocessing as the graph's first nodes (so the model takes raw pixel values).
struct ONNXExporter {
    static let opset: Int64 = 13

    var proto = Onnx_GraphProto()
    /// bmq value name → the ONNX value holding its latest version (Caffe layers write in place;
    /// ONNX values are written once).
    var latest: [String: String] = [:]
    var usedValues: Set<String> = []
    /// Integer codes per weight tensor, as `DequantizeLinear` inputs: layer → weight fraction.
    let dequantized: [String: Int]

    init(dequantized: [String: Int] = [:]) {
        self.dequantized = dequantized
    }

    static func model(_ graph: Graph, dequantized: [String: Int] = [:]) throws -> Onnx_ModelProto {
        var exporter = ONNXExporter(dequantized: dequantized)
        try exporter.export(graph)
        var model = Onnx_ModelProto()
        model.irVersion = 7
        model.producerName = "bmq"
        var opset = Onnx_OperatorSetIdProto()
        opset.version = Self.opset
        model.opsetImport = [opset]
        model.graph = exporter.proto
        return model
    }

    /// A fresh ONNX value name for a new version of `value`.
    mutating func define(_ value: String, by layer: String) -> String {
        var name = usedValues.contains(value) ? "\(value)/\(layer)" : value
        while usedValues.contains(name) { name += "'" }
        usedValues.insert(name)
        latest[value] = name
        return name
    }

    func read(_ value: String) throws -> String {
        guard let name = latest[value] else { throw GraphError.undefinedValue(layer: "onnx export", value: value) }
        return name
    }

    mutating func constant(_ name: String, _ tensor: Tensor) -> String {
        var proto = Onnx_TensorProto()
        proto.name = name
        proto.dims = tensor.shape.dims.map(Int64.init)
        proto.dataType = 1
        proto.rawData = tensor.data.withUnsafeBufferPointer { Data(buffer: $0) }
        self.proto.initializer.append(proto)
        usedValues.insert(name)
        return name
    }

    /// A weight tensor: float values, or integer codes times `2^-fraction` through `DequantizeLinear`.
    mutating func weight(_ name: String, _ tensor: Tensor, layer: String) throws -> String {
        guard let fraction = dequantized[layer] else { return constant(name, tensor) }
        let codes: [Int32]
        do {
            codes = try tensor.integerCodes(fraction: fraction)
        } catch {
            throw GraphError.invalidAttribute(layer: layer, reason: "weight \(error.value) is not an integer times 2^-\(fraction)")
        }
        let fitsInt8 = codes.allSatisfy { (-128...127).contains($0) }
        var q = Onnx_TensorProto()
        q.name = name + "_quantized"
        q.dims = tensor.shape.dims.map(Int64.init)
        q.dataType = fitsInt8 ? 3 : 6
        q.rawData = fitsInt8 ? Data(codes.map { UInt8(bitPattern: Int8($0)) })
            : codes.map(\.littleEndian).withUnsafeBufferPointer { Data(buffer: $0) }
        proto.initializer.append(q)
        var zero = Onnx_TensorProto()
        zero.name = name + "_zero_point"
        zero.dataType = q.dataType
        zero.rawData = Data(count: fitsInt8 ? 1 : 4)
        proto.initializer.append(zero)
        let step = constant(name + "_scale", Tensor(shape: [], data: [Float(Double(sign: .plus, exponent: -fraction, significand: 1))]))
        usedValues.formUnion([q.name, zero.name])
        let value = define(name, by: layer)
        node("DequantizeLinear", [q.name, step, zero.name], [value], name: name + "_dequantize")
        return value
    }

    mutating func node(_ op: String, _ inputs: [String], _ outputs: [String], name: String, _ attributes: [Onnx_AttributeProto] = []) {
        var node = Onnx_NodeProto()
        node.opType = op
        node.name = name
        node.input = inputs
        node.output = outputs
        node.attribute = attributes
        proto.node.append(node)
    }

    static func ints(_ name: String, _ values: [Int]) -> Onnx_AttributeProto {
        var a = Onnx_AttributeProto()
        a.name = name
        a.type = .ints
        a.ints = values.map(Int64.init)
        return a
    }

    static func int(_ name: String, _ value: Int) -> Onnx_AttributeProto {
        var a = Onnx_AttributeProto()
        a.name = name
        a.type = .int
        a.i = Int64(value)
        return a
    }

    static func float(_ name: String, _ value: Float) -> Onnx_AttributeProto {
        var a = Onnx_AttributeProto()
        a.name = name
        a.type = .float
        a.f = value
        return a
    }

    static func valueInfo(_ name: String, dims: [Int]) -> Onnx_ValueInfoProto {
        var tensor = Onnx_TypeProto.Tensor()
        tensor.elemType = 1
        tensor.shape.dim = dims.enumerated().map { index, size in
            var dim = Onnx_TensorShapeProto.Dimension()
            if index == 0 { dim.dimParam = "batch" } else { dim.dimValue = Int64(size) }
            return dim
        }
        var info = Onnx_ValueInfoProto()
        info.name = name
        info.type.tensorType = tensor
        return info
    }

    mutating func export(_ graph: Graph) throws {
        guard graph.inputs.count == 1 else { throw GraphError.emptyGraph(reason: "ONNX export takes nets with one input") }
        let shapes = try ShapeInference.infer(graph)
        proto.name = graph.name
        let input = graph.inputs[0]
        proto.input = [Self.valueInfo(input.name, dims: input.shape.dims)]
        usedValues.insert(input.name)
        latest[input.name] = input.name
        try exportPreprocessing(graph.preprocessing, input: input)
        var skip: Set<Int> = []
        for (index, node) in graph.nodes.enumerated() where !skip.contains(index) {
            // A BatchNorm whose in-place Scale follows is one BatchNormalization.
            var scale: Node?
            if case .batchNorm = node.op, index + 1 < graph.nodes.count, case .scale = graph.nodes[index + 1].op,
               graph.nodes[index + 1].inputs == node.outputs {
                scale = graph.nodes[index + 1]
                skip.insert(index + 1)
            }
            try exportNode(node, followingScale: scale, inputShapes: shapes.nodeInputShapes[index])
        }
        let outputShape = shapes.valueShapes[graph.output] ?? shapes.nodeOutputShapes.last?.first ?? []
        proto.output = [Self.valueInfo(try read(graph.output), dims: outputShape.dims)]
    }

    /// `(x - mean) × scale` as Sub and Mul nodes on the input, the way bmq computes it.
    mutating func exportPreprocessing(_ preprocessing: Preprocessing?, input: GraphInput) throws {
        guard let p = preprocessing else { return }
        let channels = input.shape[1]
        var current = input.name
        if let image = p.meanImage {
            let mean = constant("preprocessing.mean", Tensor(shape: Shape([1] + image.shape.dims), data: image.data))
            let value = define(input.name, by: "preprocessing.mean")
            node("Sub", [current, mean], [value], name: "preprocessing.mean")
            current = value
        } else if !p.meanValues.isEmpty {
            let values = p.meanValues.count == 1 ? [Float](repeating: p.meanValues[0], count: channels) : p.meanValues
            let mean = constant("preprocessing.mean", Tensor(shape: [1, channels, 1, 1], data: values))
            let value = define(input.name, by: "preprocessing.mean")
            node("Sub", [current, mean], [value], name: "preprocessing.mean")
            current = value
        }
        let scales = (0..<channels).map { p.scale(ofChannel: $0) }
        if scales.contains(where: { $0 != 1 }) {
            let factor = constant("preprocessing.scale", Tensor(shape: [1, channels, 1, 1], data: scales))
            let value = define(input.name, by: "preprocessing.scale")
            node("Mul", [current, factor], [value], name: "preprocessing.scale")
        }
    }
}
