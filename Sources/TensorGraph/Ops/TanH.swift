/// The hyperbolic tangent, element-wise.
public struct TanHAttributes: ElementwiseOperator {
    public static let typeName = "TanH"
    /// TanH has no attributes.
    public init() {}
    public var op: Op { .tanh(self) }
}
