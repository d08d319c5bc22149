/// Softmax over one axis (Caffe's default: the channels).
public struct SoftmaxAttributes: OperatorAttributes {
    public static let typeName = "Softmax"

    /// The axis normalised over (negative counts from the end).
    public var axis: Int

    /// Softmax over `axis`.
    public init(axis: Int = 1) { self.axis = axis }

    public var op: Op { .softmax(self) }

    public func outputShapes(_ inputs: [Shape], rule: ShapeRule) throws -> [Shape] {
        _ = try rule.normalizedAxis(axis, rank: inputs[0].rank)
        return [inputs[0]]
    }
}
