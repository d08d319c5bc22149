import Quantization
import TensorGraph

/// A graph's structure as plain Codable values (no tensors): the packed file's network
/// description section (`formats/packed/SPEC.md`). Each layer's attributes are its operation's
/// own `Codable` form, so a new operation needs nothing here.
public struct GraphDescription: Codable, Sendable, Equatable {
    public struct Input: Codable, Sendable, Equatable {
        public var name: String
        public var shape: [Int]
    }

    public struct Layer: Codable, Sendable, Equatable {
        public var name: String
        public var op: Op
        public var inputs: [String]
        public var outputs: [String]

        /// The layer type as stored (`op.typeName`).
        public var type: String { op.typeName }

        enum CodingKeys: String, CodingKey { case name, type, inputs, outputs, attributes }

        init(_ node: Node) {
            name = node.name
            op = node.op
            inputs = node.inputs
            outputs = node.outputs
        }

        public init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: CodingKeys.self)
            name = try container.decode(String.self, forKey: .name)
            inputs = try container.decode([String].self, forKey: .inputs)
            outputs = try container.decode([String].self, forKey: .outputs)
            let type = try container.decode(String.self, forKey: .type)
            guard let attributesType = Op.attributesType(named: type) else {
                throw GraphError.invalidAttribute(layer: name, reason: "unknown layer type '\(type)'")
            }
            func decodeOp<Attributes: OperatorAttributes>(_: Attributes.Type) throws -> Op {
                try container.decode(Attributes.self, forKey: .attributes).op
            }
            do {
                op = try decodeOp(attributesType)
            } catch let error as DecodingError {
                throw GraphError.invalidAttribute(layer: name, reason: "\(type) attributes: \(Self.describe(error))")
            }
        }

        public func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(name, forKey: .name)
            try container.encode(type, forKey: .type)
            try container.encode(inputs, forKey: .inputs)
            try container.encode(outputs, forKey: .outputs)
            try container.encode(op.attributes, forKey: .attributes)
        }

        static func describe(_ error: DecodingError) -> String {
            switch error {
            case let .keyNotFound(key, _): return "'\(key.stringValue)' is missing"
            case let .typeMismatch(_, context), let .valueNotFound(_, context), let .dataCorrupted(context):
                let path = context.codingPath.map(\.stringValue).filter { !$0.isEmpty && $0 != "attributes" }.joined(separator: ".")
                return path.isEmpty ? context.debugDescription : "'\(path)': \(context.debugDescription)"
            @unknown default: return "\(error)"
            }
        }
    }

    public struct PreprocessingDescription: Codable, Sendable, Equatable {
        public var scale: Float
        /// One scale per channel, when the model has them (absent otherwise).
        public var channelScales: [Float]?
        public var meanValues: [Float]
        /// Name of the tensor holding the C x H x W mean image, if any.
        public var meanImage: String?

        enum CodingKeys: String, CodingKey {
            case scale
            case channelScales = "channel_scales", meanValues = "mean_values", meanImage = "mean_image"
        }
    }

    public var name: String
    public var inputs: [Input]
    public var layers: [Layer]
    public var output: String
    public var preprocessing: PreprocessingDescription?
    /// The integer datapath the deployable was built for (version 1.1), when it has one.
    public var datapath: DatapathContract?

    /// The name under which a node's parameter blob is stored: `<layer>/<blob name>`.
    public static func parameterName(layer: String, op: Op, index: Int) -> String {
        let names = op.parameterNames
        return "\(layer)/\(index < names.count ? names[index] : String(index))"
    }

    public static let meanImageName = "preprocessing/mean"

    public init(_ graph: Graph) {
        name = graph.name
        inputs = graph.inputs.map { Input(name: $0.name, shape: $0.shape.dims) }
        layers = graph.nodes.map(Layer.init)
        output = graph.output
        preprocessing = graph.preprocessing.map {
            PreprocessingDescription(scale: $0.scale, channelScales: $0.channelScales.isEmpty ? nil : $0.channelScales, meanValues: $0.meanValues,
                                     meanImage: $0.meanImage == nil ? nil : Self.meanImageName)
        }
    }

    /// Rebuilds the graph, taking parameter tensors from `tensors` by their stored names.
    /// - Throws: `GraphError` naming a layer whose tensors are missing.
    public func graph(tensors: [String: Tensor]) throws -> Graph {
        let nodes = try layers.map { layer -> Node in
            let parameters = try layer.op.parameterNames.indices.map { index -> Tensor in
                let key = Self.parameterName(layer: layer.name, op: layer.op, index: index)
                guard let tensor = tensors[key] else {
                    throw GraphError.missingParameters(layer: layer.name, reason: "tensor '\(key)' is missing")
                }
                return tensor
            }
            return Node(name: layer.name, op: layer.op, inputs: layer.inputs, outputs: layer.outputs, parameters: parameters)
        }
        var result = Graph(name: name, inputs: inputs.map { GraphInput(name: $0.name, shape: Shape($0.shape)) }, nodes: nodes, output: output)
        if let p = preprocessing {
            var meanImage: Tensor?
            if let key = p.meanImage {
                guard let tensor = tensors[key] else { throw GraphError.missingParameters(layer: "preprocessing", reason: "tensor '\(key)' is missing") }
                meanImage = tensor
            }
            result.preprocessing = Preprocessing(scale: p.scale, meanValues: p.meanValues, meanImage: meanImage)
            result.preprocessing?.channelScales = p.channelScales ?? []
        }
        return result
    }
}
