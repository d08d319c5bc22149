/// Caffe's BatchNorm with global statistics: (x - mean/f) / sqrt(variance/f + eps) per channel,
/// where f is the stored moving-average factor.
public struct BatchNormAttributes: OperatorAttributes {
    public static let typeName = "BatchNorm"

    /// Added to the variance before its square root (Caffe's default 1e-5).
    public var eps: Float

    /// Batch normalisation with `eps` added to the variance.
    public init(eps: Float = 1e-5) { self.eps = eps }

    public var op: Op { .batchNorm(self) }
    public var parameterNames: [String] { ["mean", "variance", "moving-average factor"] }

    public func outputShapes(_ inputs: [Shape], rule: ShapeRule) throws -> [Shape] {
        guard inputs[0].rank >= 2 else { throw GraphError.invalidShape(layer: rule.layer, reason: "BatchNorm needs channels") }
        return [inputs[0]]
    }

    public func parameterShapes(input: Shape, rule: ShapeRule) throws -> [Shape] { [[input[1]], [input[1]], [1]] }
}
