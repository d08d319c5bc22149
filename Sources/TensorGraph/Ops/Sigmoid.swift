/// The logistic function 1 / (1 + e^-x), element-wise.
public struct SigmoidAttributes: ElementwiseOperator {
    public static let typeName = "Sigmoid"
    /// Sigmoid has no attributes.
    public init() {}
    public var op: Op { .sigmoid(self) }
}
