/// What every operation defines in its one home (`Sources/TensorGraph/Ops/<Name>.swift`): its
/// attributes, how many inputs it takes, its shape rule and its parameter blobs.
///
/// Formats map these attributes in their own modules (`CaffeFormat/Layers`, the packed
/// description encodes them with `Codable`), and the engine runs the ``Op`` case in an
/// exhaustive `switch`. The article "Adding an op" walks through a new one.
public protocol OperatorAttributes: Sendable, Equatable, Codable {
    /// The operation's name as Caffe spells the layer type; also its name in packed descriptions.
    static var typeName: String { get }
    /// How many inputs the operation takes.
    static var inputCount: ClosedRange<Int> { get }
    /// Names of the parameter blobs this operation takes, in storage order.
    var parameterNames: [String] { get }
    /// Whether the quantizer works on this operation's first parameter blob (its weights).
    static var hasQuantizableWeights: Bool { get }
    /// The operation as a graph ``Op``.
    var op: Op { get }
    /// The output shapes for the given input shapes.
    /// - Throws: `GraphError` naming `rule.layer` when the inputs or attributes do not fit.
    func outputShapes(_ inputs: [Shape], rule: ShapeRule) throws -> [Shape]
    /// The parameter blob shapes the operation needs when its first input has shape `input`.
    /// - Throws: `GraphError` when the attributes cannot hold such an input.
    func parameterShapes(input: Shape, rule: ShapeRule) throws -> [Shape]
}

extension OperatorAttributes {
    /// One input, unless the operation says otherwise.
    public static var inputCount: ClosedRange<Int> { 1...1 }
    public var parameterNames: [String] { [] }
    /// Only convolution and inner product carry weights the quantizer works on.
    public static var hasQuantizableWeights: Bool { false }
    public func parameterShapes(input: Shape, rule: ShapeRule) throws -> [Shape] { [] }
}

/// An element-wise operation: one input, one output of the same shape.
public protocol ElementwiseOperator: OperatorAttributes {}

extension ElementwiseOperator {
    public func outputShapes(_ inputs: [Shape], rule: ShapeRule) throws -> [Shape] { [inputs[0]] }
}

/// The checks shape rules share, with errors that name the layer.
public struct ShapeRule: Sendable {
    /// The layer the shapes belong to.
    public var layer: String
    /// How many outputs the node declares.
    public var outputCount: Int

    /// Checks for the layer called `layer`, which declares `outputCount` outputs.
    public init(layer: String, outputCount: Int = 1) {
        self.layer = layer
        self.outputCount = outputCount
    }

    /// Throws unless `shape` has `rank` dimensions.
    public func requireRank(_ rank: Int, of shape: Shape) throws {
        guard shape.rank == rank else {
            throw GraphError.invalidShape(layer: layer, reason: "needs a \(rank)-D input, got \(shape)")
        }
    }

    /// `axis` resolved against `rank` (negative counts from the end).
    /// - Throws: `GraphError.invalidAttribute` when it falls outside the shape.
    public func normalizedAxis(_ axis: Int, rank: Int) throws -> Int {
        let resolved = axis < 0 ? axis + rank : axis
        guard resolved >= 0, resolved < rank else {
            throw GraphError.invalidAttribute(layer: layer, reason: "axis \(axis) is out of range for rank \(rank)")
        }
        return resolved
    }

    /// Throws `GraphError.invalidAttribute` with `reason` unless `condition` holds.
    public func require(_ condition: Bool, _ reason: @autoclosure () -> String) throws {
        guard condition else { throw GraphError.invalidAttribute(layer: layer, reason: reason()) }
    }

    /// Overflow-checked element count of `shape`.
    public func count(_ shape: Shape) throws -> Int { try ShapeMath.count(shape, layer: layer) }
}

/// The closed set of operations the graph can hold, each with its typed attributes.
///
/// Every format reader maps its layers onto these cases, and the inference engine handles each
/// of them in an exhaustive `switch`. Each case's attributes live in `Ops/<Name>.swift`.
public enum Op: Sendable, Equatable {
    case convolution(ConvolutionAttributes)
    case pooling(PoolingAttributes)
    case innerProduct(InnerProductAttributes)
    case relu(ReLUAttributes)
    case sigmoid(SigmoidAttributes)
    case tanh(TanHAttributes)
    case absVal(AbsValAttributes)
    case prelu(PReLUAttributes)
    case clip(ClipAttributes)
    case permute(PermuteAttributes)
    case softmax(SoftmaxAttributes)
    case lrn(LRNAttributes)
    /// Identity at inference time; the ratio is kept so writers can round-trip it.
    case dropout(DropoutAttributes)
    case flatten(FlattenAttributes)
    case concat(ConcatAttributes)
    case eltwise(EltwiseAttributes)
    case batchNorm(BatchNormAttributes)
    case scale(ScaleAttributes)
    /// Copies its one input to every output.
    case split(SplitAttributes)

    /// Every operation's attributes type: the table formats decode type names with.
    public static let catalog: [any OperatorAttributes.Type] = [
        ConvolutionAttributes.self, PoolingAttributes.self, InnerProductAttributes.self, ReLUAttributes.self,
        SigmoidAttributes.self, TanHAttributes.self, AbsValAttributes.self, PReLUAttributes.self, ClipAttributes.self,
        SoftmaxAttributes.self, LRNAttributes.self, PermuteAttributes.self,
        DropoutAttributes.self, FlattenAttributes.self, ConcatAttributes.self, EltwiseAttributes.self,
        BatchNormAttributes.self, ScaleAttributes.self, SplitAttributes.self,
    ]

    /// The attributes type whose ``OperatorAttributes/typeName`` is `typeName`, if any.
    public static func attributesType(named typeName: String) -> (any OperatorAttributes.Type)? {
        catalog.first { $0.typeName == typeName }
    }

    /// The case's attributes, as the protocol every operation conforms to.
    public var attributes: any OperatorAttributes {
        switch self {
        case let .convolution(a): a
        case let .pooling(a): a
        case let .innerProduct(a): a
        case let .relu(a): a
        case let .sigmoid(a): a
        case let .tanh(a): a
        case let .absVal(a): a
        case let .prelu(a): a
        case let .clip(a): a
        case let .permute(a): a
        case let .softmax(a): a
        case let .lrn(a): a
        case let .dropout(a): a
        case let .flatten(a): a
        case let .concat(a): a
        case let .eltwise(a): a
        case let .batchNorm(a): a
        case let .scale(a): a
        case let .split(a): a
        }
    }

    /// The operation's name as Caffe spells the layer type.
    public var typeName: String { type(of: attributes).typeName }

    /// Names of the parameter blobs this operation takes, in storage order.
    public var parameterNames: [String] { attributes.parameterNames }

    /// True for the layers whose weights the quantizer works on.
    public var hasWeights: Bool { type(of: attributes).hasQuantizableWeights }
}

/// A pair of values for the vertical and horizontal direction; encoded as `[h, w]`.
public struct Size2: Sendable, Equatable, Codable, CustomStringConvertible {
    /// The vertical value (rows).
    public var h: Int
    /// The horizontal value (columns).
    public var w: Int
    /// A pair of `h` rows and `w` columns.
    public init(_ h: Int, _ w: Int) { self.h = h; self.w = w }
    /// The same value in both directions.
    public init(square: Int) { self.init(square, square) }
    public var description: String { h == w ? "\(h)" : "\(h)x\(w)" }

    public init(from decoder: any Decoder) throws {
        let values = try [Int](from: decoder)
        guard values.count == 2 else {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: "needs two values"))
        }
        self.init(values[0], values[1])
    }

    public func encode(to encoder: any Encoder) throws { try [h, w].encode(to: encoder) }
}
