/// Joins its inputs along one axis; all other dimensions must agree.
public struct ConcatAttributes: OperatorAttributes {
    public static let typeName = "Concat"
    public static let inputCount = 1...Int.max

    /// The axis the inputs are joined along (negative counts from the end).
    public var axis: Int

    /// Concatenation along `axis` (Caffe's default: the channels).
    public init(axis: Int = 1) { self.axis = axis }

    public var op: Op { .concat(self) }

    public func outputShapes(_ inputs: [Shape], rule: ShapeRule) throws -> [Shape] {
        let first = inputs[0]
        let resolved = try rule.normalizedAxis(axis, rank: first.rank)
        var total = 0
        for shape in inputs {
            var a = shape, b = first
            guard a.rank == b.rank else {
                throw GraphError.invalidShape(layer: rule.layer, reason: "concat inputs \(shape) and \(first) differ in rank")
            }
            a[resolved] = 0; b[resolved] = 0
            guard a == b else {
                throw GraphError.invalidShape(layer: rule.layer, reason: "concat inputs \(shape) and \(first) differ off axis \(resolved)")
            }
            total = try ShapeMath.add(total, shape[resolved], layer: rule.layer)
        }
        var out = first
        out[resolved] = total
        return [out]
    }
}
