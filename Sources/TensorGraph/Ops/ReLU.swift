/// Rectified linear unit, leaky when `negativeSlope` is not 0: max(x, 0) + slope * min(x, 0).
public struct ReLUAttributes: ElementwiseOperator {
    public static let typeName = "ReLU"

    /// The slope for negative inputs (0: plain ReLU).
    public var negativeSlope: Float

    /// A ReLU with slope `negativeSlope` below zero.
    public init(negativeSlope: Float = 0) { self.negativeSlope = negativeSlope }

    enum CodingKeys: String, CodingKey { case negativeSlope = "negative_slope" }

    public var op: Op { .relu(self) }
}
