/// Multiplies by a learned tensor over `numAxes` axes from `axis` (per channel by default),
/// optionally adding a bias of the same shape.
public struct ScaleAttributes: OperatorAttributes {
    public static let typeName = "Scale"

    /// The first axis the scale covers.
    public var axis: Int
    /// How many axes the scale covers.
    public var numAxes: Int
    /// Whether a bias blob follows the scale.
    public var biasTerm: Bool

    /// A scale with Caffe's defaults: per channel, no bias.
    public init(axis: Int = 1, numAxes: Int = 1, biasTerm: Bool = false) {
        self.axis = axis
        self.numAxes = numAxes
        self.biasTerm = biasTerm
    }

    enum CodingKeys: String, CodingKey {
        case axis
        case numAxes = "num_axes", biasTerm = "bias_term"
    }

    public var op: Op { .scale(self) }
    public var parameterNames: [String] { biasTerm ? ["scale", "bias"] : ["scale"] }

    public func outputShapes(_ inputs: [Shape], rule: ShapeRule) throws -> [Shape] {
        let x = inputs[0]
        try rule.require(axis >= 0 && numAxes >= 0 && axis + numAxes <= x.rank,
                         "Scale axis \(axis) with \(numAxes) axes does not fit input \(x)")
        return [x]
    }

    public func parameterShapes(input: Shape, rule: ShapeRule) throws -> [Shape] {
        let shape = Shape(Array(input.dims[axis..<(axis + numAxes)]))
        return biasTerm ? [shape, shape] : [shape]
    }
}
