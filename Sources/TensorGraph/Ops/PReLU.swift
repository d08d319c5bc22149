/// Parametric ReLU: max(x, 0) + slope_c × min(x, 0) with one learned slope per channel (axis 1),
/// or one for all channels when `channelShared`.
public struct PReLUAttributes: ElementwiseOperator {
    public static let typeName = "PReLU"

    /// One slope for every channel instead of one per channel.
    public var channelShared: Bool

    /// A PReLU with per-channel slopes unless `channelShared`.
    public init(channelShared: Bool = false) { self.channelShared = channelShared }

    enum CodingKeys: String, CodingKey { case channelShared = "channel_shared" }

    public var op: Op { .prelu(self) }
    public var parameterNames: [String] { ["slopes"] }

    public func parameterShapes(input: Shape, rule: ShapeRule) throws -> [Shape] {
        try rule.require(input.rank >= 2 || channelShared, "PReLU needs a channel axis (input \(input))")
        return [channelShared ? [1] : [input[1]]]
    }
}
