/// The absolute value |x|, element-wise (Caffe's `AbsVal`).
public struct AbsValAttributes: ElementwiseOperator {
    public static let typeName = "AbsVal"
    /// AbsVal has no attributes.
    public init() {}
    public var op: Op { .absVal(self) }
}
