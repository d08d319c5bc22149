/// Dropout: the identity at inference time; the ratio is kept so writers can round-trip it.
public struct DropoutAttributes: ElementwiseOperator {
    public static let typeName = "Dropout"

    /// The share of values dropped in training.
    public var ratio: Float

    /// Dropout with training ratio `ratio`.
    public init(ratio: Float = 0.5) { self.ratio = ratio }

    public var op: Op { .dropout(self) }
}
