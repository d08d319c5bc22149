/// Clamps every value to [min, max] (ReLU6 is Clip(0, 6)).
public struct ClipAttributes: ElementwiseOperator {
    public static let typeName = "Clip"

    /// The smallest output value.
    public var min: Float
    /// The largest output value.
    public var max: Float

    /// A clamp to [min, max].
    public init(min: Float, max: Float) {
        self.min = min
        self.max = max
    }

    enum CodingKeys: String, CodingKey { case min, max }

    public var op: Op { .clip(self) }

    public func outputShapes(_ inputs: [Shape], rule: ShapeRule) throws -> [Shape] {
        try rule.require(min <= max, "Clip min \(min) exceeds max \(max)")
        return [inputs[0]]
    }
}
