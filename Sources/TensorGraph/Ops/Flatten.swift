/// Merges the axes from `axis` to `endAxis` (inclusive, negative counts from the end) into one.
public struct FlattenAttributes: OperatorAttributes {
    public static let typeName = "Flatten"

    /// The first axis merged (negative counts from the end).
    public var axis: Int
    /// The last axis merged (negative counts from the end).
    public var endAxis: Int

    /// Flattening with Caffe's defaults: every axis after the batch.
    public init(axis: Int = 1, endAxis: Int = -1) {
        self.axis = axis
        self.endAxis = endAxis
    }

    enum CodingKeys: String, CodingKey {
        case axis
        case endAxis = "end_axis"
    }

    public var op: Op { .flatten(self) }

    public func outputShapes(_ inputs: [Shape], rule: ShapeRule) throws -> [Shape] {
        let x = inputs[0]
        let start = try rule.normalizedAxis(axis, rank: x.rank)
        let end = try rule.normalizedAxis(endAxis, rank: x.rank)
        try rule.require(start <= end, "flatten axis \(axis) is after end_axis \(endAxis)")
        let merged = try rule.count(Shape(Array(x.dims[start...end])))
        return [Shape(Array(x.dims[..<start]) + [merged] + Array(x.dims[(end + 1)...]))]
    }
}
