/// Copies its one input to every output (Caffe inserts these where a value feeds several layers).
public struct SplitAttributes: OperatorAttributes {
    public static let typeName = "Split"
    /// Split has no attributes; its node's outputs say how many copies.
    public init() {}
    public var op: Op { .split(self) }

    public func outputShapes(_ inputs: [Shape], rule: ShapeRule) throws -> [Shape] {
        Array(repeating: inputs[0], count: rule.outputCount)
    }
}
