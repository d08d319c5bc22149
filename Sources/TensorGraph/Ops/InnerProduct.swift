/// A fully connected layer (Caffe's `InnerProduct`): the input flattened from `axis` on, times
/// weights [N, K] (or [K, N] when transposed), plus an optional bias [N].
public struct InnerProductAttributes: OperatorAttributes {
    public static let typeName = "InnerProduct"
    public static let hasQuantizableWeights = true

    /// Outputs per row (N).
    public var numOutput: Int
    /// Whether a bias blob follows the weights.
    public var biasTerm: Bool
    /// First axis that is flattened into the input vector.
    public var axis: Int
    /// Weights stored as (input, output) instead of (output, input).
    public var transpose: Bool

    /// An inner product with Caffe's defaults for what is not given.
    public init(numOutput: Int, biasTerm: Bool = true, axis: Int = 1, transpose: Bool = false) {
        self.numOutput = numOutput
        self.biasTerm = biasTerm
        self.axis = axis
        self.transpose = transpose
    }

    enum CodingKeys: String, CodingKey {
        case axis, transpose
        case numOutput = "num_output", biasTerm = "bias_term"
    }

    public var op: Op { .innerProduct(self) }
    public var parameterNames: [String] { biasTerm ? ["weights", "bias"] : ["weights"] }

    public func outputShapes(_ inputs: [Shape], rule: ShapeRule) throws -> [Shape] {
        let resolved = try rule.normalizedAxis(axis, rank: inputs[0].rank)
        try rule.require(resolved == axis, "use a non-negative axis (\(resolved)) for InnerProduct")
        try rule.require(numOutput > 0, "num_output must be positive")
        return [Shape(Array(inputs[0].dims[..<resolved]) + [numOutput])]
    }

    public func parameterShapes(input: Shape, rule: ShapeRule) throws -> [Shape] {
        let inputSize = try rule.count(Shape(Array(input.dims[axis...])))
        var shapes = [transpose ? Shape([inputSize, numOutput]) : Shape([numOutput, inputSize])]
        if biasTerm { shapes.append([numOutput]) }
        return shapes
    }
}
