/// A graph's structure as plain Codable values (no tensors), for formats that describe
/// the network themselves (the packed deployable's header).
public struct GraphDescription: Codable, Sendable, Equatable {
    public struct Input: Codable, Sendable, Equatable {
        public var name: String
        public var shape: [Int]
    }

    public struct Layer: Codable, Sendable, Equatable {
        public var name: String
        public var type: String
        public var inputs: [String]
        public var outputs: [String]
        public var attributes: Attributes
    }

    /// Every attribute any operation has; each operation uses its own subset.
    public struct Attributes: Codable, Sendable, Equatable {
        public var numOutput: Int?
        public var kernel: [Int]?
        public var stride: [Int]?
        public var pad: [Int]?
        public var dilation: [Int]?
        public var group: Int?
        public var biasTerm: Bool?
        public var method: String?
        public var global: Bool?
        public var ceilMode: Bool?
        public var axis: Int?
        public var endAxis: Int?
        public var transpose: Bool?
        public var negativeSlope: Float?
        public var ratio: Float?
        public var localSize: Int?
        public var alpha: Float?
        public var beta: Float?
        public var k: Float?
        public var region: String?
        public var operation: String?
        public var coefficients: [Float]?
        public var eps: Float?
        public var numAxes: Int?

        enum CodingKeys: String, CodingKey {
            case kernel, stride, pad, dilation, group, method, global, axis, transpose, ratio, alpha, beta, k, region, operation, coefficients, eps
            case numOutput = "num_output", biasTerm = "bias_term", ceilMode = "ceil_mode", endAxis = "end_axis"
            case negativeSlope = "negative_slope", localSize = "local_size", numAxes = "num_axes"
        }
    }

    public struct PreprocessingDescription: Codable, Sendable, Equatable {
        public var scale: Float
        public var meanValues: [Float]
        /// Name of the tensor holding the C x H x W mean image, if any.
        public var meanImage: String?

        enum CodingKeys: String, CodingKey {
            case scale
            case meanValues = "mean_values", meanImage = "mean_image"
        }
    }

    public var name: String
    public var inputs: [Input]
    public var layers: [Layer]
    public var output: String
    public var preprocessing: PreprocessingDescription?

    /// The name under which a node's parameter blob is stored: `<layer>/<blob name>`.
    public static func parameterName(layer: String, op: Op, index: Int) -> String {
        let names = op.parameterNames
        return "\(layer)/\(index < names.count ? names[index] : String(index))"
    }

    public static let meanImageName = "preprocessing/mean"

    public init(_ graph: Graph) {
        name = graph.name
        inputs = graph.inputs.map { Input(name: $0.name, shape: $0.shape.dims) }
        layers = graph.nodes.map { Layer(name: $0.name, type: $0.op.typeName, inputs: $0.inputs, outputs: $0.outputs, attributes: Attributes($0.op)) }
        output = graph.output
        preprocessing = graph.preprocessing.map {
            PreprocessingDescription(scale: $0.scale, meanValues: $0.meanValues, meanImage: $0.meanImage == nil ? nil : Self.meanImageName)
        }
    }

    /// Rebuilds the graph, taking parameter tensors from `tensors` by their stored names.
    /// - Throws: `GraphError` naming a layer whose type, attributes or tensors are missing or invalid.
    public func graph(tensors: [String: Tensor]) throws -> Graph {
        let nodes = try layers.map { layer -> Node in
            let op = try layer.attributes.op(type: layer.type, layer: layer.name)
            let parameters = try op.parameterNames.indices.map { index -> Tensor in
                let key = Self.parameterName(layer: layer.name, op: op, index: index)
                guard let tensor = tensors[key] else {
                    throw GraphError.missingParameters(layer: layer.name, reason: "tensor '\(key)' is missing")
                }
                return tensor
            }
            return Node(name: layer.name, op: op, inputs: layer.inputs, outputs: layer.outputs, parameters: parameters)
        }
        var result = Graph(name: name, inputs: inputs.map { GraphInput(name: $0.name, shape: Shape($0.shape)) }, nodes: nodes, output: output)
        if let p = preprocessing {
            var meanImage: Tensor?
            if let key = p.meanImage {
                guard let tensor = tensors[key] else { throw GraphError.missingParameters(layer: "preprocessing", reason: "tensor '\(key)' is missing") }
                meanImage = tensor
            }
            result.preprocessing = Preprocessing(scale: p.scale, meanValues: p.meanValues, meanImage: meanImage)
        }
        return result
    }
}

extension GraphDescription.Attributes {
    init(_ op: Op) {
        func pair(_ size: Size2) -> [Int] { [size.h, size.w] }
        switch op {
        case let .convolution(a):
            numOutput = a.numOutput; kernel = pair(a.kernel); stride = pair(a.stride); pad = pair(a.pad)
            dilation = pair(a.dilation); group = a.group; biasTerm = a.biasTerm
        case let .pooling(a):
            method = a.method.rawValue; kernel = pair(a.kernel); stride = pair(a.stride); pad = pair(a.pad)
            global = a.global; ceilMode = a.ceilMode
        case let .innerProduct(a):
            numOutput = a.numOutput; biasTerm = a.biasTerm; axis = a.axis; transpose = a.transpose
        case let .relu(slope): negativeSlope = slope
        case .sigmoid, .tanh, .split: break
        case let .softmax(a): axis = a
        case let .lrn(a): localSize = a.localSize; alpha = a.alpha; beta = a.beta; k = a.k; region = a.region.rawValue
        case let .dropout(r): ratio = r
        case let .flatten(a, e): axis = a; endAxis = e
        case let .concat(a): axis = a
        case let .eltwise(a): operation = a.operation.rawValue; coefficients = a.coefficients
        case let .batchNorm(a): eps = a.eps
        case let .scale(a): axis = a.axis; numAxes = a.numAxes; biasTerm = a.biasTerm
        }
    }

    func op(type: String, layer: String) throws -> Op {
        func need<T>(_ value: T?, _ name: String) throws -> T {
            guard let value else { throw GraphError.invalidAttribute(layer: layer, reason: "\(type) needs '\(name)'") }
            return value
        }
        func size(_ value: [Int]?, _ name: String) throws -> Size2 {
            let values = try need(value, name)
            guard values.count == 2 else { throw GraphError.invalidAttribute(layer: layer, reason: "'\(name)' needs two values") }
            return Size2(values[0], values[1])
        }
        switch type {
        case "Convolution":
            return .convolution(ConvolutionAttributes(
                numOutput: try need(numOutput, "num_output"), kernel: try size(kernel, "kernel"), stride: try size(stride, "stride"),
                pad: try size(pad, "pad"), dilation: try size(dilation, "dilation"), group: try need(group, "group"),
                biasTerm: try need(biasTerm, "bias_term")))
        case "Pooling":
            guard let method = PoolingMethod(rawValue: try need(self.method, "method")) else {
                throw GraphError.invalidAttribute(layer: layer, reason: "unknown pooling method")
            }
            return .pooling(PoolingAttributes(method: method, kernel: try size(kernel, "kernel"), stride: try size(stride, "stride"),
                                              pad: try size(pad, "pad"), global: try need(global, "global"), ceilMode: try need(ceilMode, "ceil_mode")))
        case "InnerProduct":
            return .innerProduct(InnerProductAttributes(numOutput: try need(numOutput, "num_output"), biasTerm: try need(biasTerm, "bias_term"),
                                                        axis: try need(axis, "axis"), transpose: try need(transpose, "transpose")))
        case "ReLU": return .relu(negativeSlope: try need(negativeSlope, "negative_slope"))
        case "Sigmoid": return .sigmoid
        case "TanH": return .tanh
        case "Softmax": return .softmax(axis: try need(axis, "axis"))
        case "LRN":
            guard let region = LRNRegion(rawValue: try need(region, "region")) else {
                throw GraphError.invalidAttribute(layer: layer, reason: "unknown LRN region")
            }
            return .lrn(LRNAttributes(localSize: try need(localSize, "local_size"), alpha: try need(alpha, "alpha"), beta: try need(beta, "beta"),
                                      k: try need(k, "k"), region: region))
        case "Dropout": return .dropout(ratio: try need(ratio, "ratio"))
        case "Flatten": return .flatten(axis: try need(axis, "axis"), endAxis: try need(endAxis, "end_axis"))
        case "Concat": return .concat(axis: try need(axis, "axis"))
        case "Eltwise":
            guard let operation = EltwiseOperation(rawValue: try need(operation, "operation")) else {
                throw GraphError.invalidAttribute(layer: layer, reason: "unknown Eltwise operation")
            }
            return .eltwise(EltwiseAttributes(operation: operation, coefficients: coefficients ?? []))
        case "BatchNorm": return .batchNorm(BatchNormAttributes(eps: try need(eps, "eps")))
        case "Scale": return .scale(ScaleAttributes(axis: try need(axis, "axis"), numAxes: try need(numAxes, "num_axes"), biasTerm: try need(biasTerm, "bias_term")))
        case "Split": return .split
        default: throw GraphError.invalidAttribute(layer: layer, reason: "unknown layer type '\(type)'")
        }
    }
}
