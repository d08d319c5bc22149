/// Which neighbourhood local response normalization sums over.
public enum LRNRegion: String, Sendable, Equatable, Codable {
    case acrossChannels = "ACROSS_CHANNELS"
    case withinChannel = "WITHIN_CHANNEL"
}

/// Local response normalization as Caffe defines it, across channels or within each channel.
public struct LRNAttributes: OperatorAttributes {
    public static let typeName = "LRN"

    /// Channels (across) or window side (within) summed over; odd.
    public var localSize: Int
    /// Scale of the summed squares.
    public var alpha: Float
    /// Exponent of the denominator.
    public var beta: Float
    /// Constant added in the denominator (across channels; within a channel Caffe adds 1).
    public var k: Float
    /// The neighbourhood summed over.
    public var region: LRNRegion

    /// LRN with Caffe's defaults for what is not given.
    public init(localSize: Int = 5, alpha: Float = 1, beta: Float = 0.75, k: Float = 1, region: LRNRegion = .acrossChannels) {
        self.localSize = localSize
        self.alpha = alpha
        self.beta = beta
        self.k = k
        self.region = region
    }

    enum CodingKeys: String, CodingKey {
        case alpha, beta, k, region
        case localSize = "local_size"
    }

    public var op: Op { .lrn(self) }

    public func outputShapes(_ inputs: [Shape], rule: ShapeRule) throws -> [Shape] {
        try rule.requireRank(4, of: inputs[0])
        try rule.require(localSize > 0 && localSize % 2 == 1, "LRN local_size must be odd, got \(localSize)")
        return [inputs[0]]
    }
}
