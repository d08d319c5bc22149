/// Reorders the axes: output axis i is input axis `order[i]` (Caffe SSD's Permute, ONNX's
/// Transpose). Axes `order` leaves out follow in their own order.
public struct PermuteAttributes: OperatorAttributes {
    public static let typeName = "Permute"

    /// The input axis each output axis takes.
    public var order: [Int]

    /// A permutation of the axes.
    public init(order: [Int]) { self.order = order }

    enum CodingKeys: String, CodingKey { case order }

    public var op: Op { .permute(self) }

    /// `order` completed with the axes it leaves out, for an input of `rank` axes.
    public func fullOrder(rank: Int) -> [Int] { order + (0..<rank).filter { !order.contains($0) } }

    public func outputShapes(_ inputs: [Shape], rule: ShapeRule) throws -> [Shape] {
        let x = inputs[0]
        try rule.require(order.allSatisfy { (0..<x.rank).contains($0) } && Set(order).count == order.count,
                         "Permute order \(order) is not a permutation of the \(x.rank) axes of \(x)")
        return [Shape(fullOrder(rank: x.rank).map { x[$0] })]
    }
}
