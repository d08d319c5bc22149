/// How weights are rounded onto their schemes when calibration data is at hand: which
/// neighbour of its value set each weight takes. Every method keeps every weight a value of
/// its scheme, so the hardware cost is the same; only the accuracy differs.
public enum CompensationMethod: String, Sendable, Codable, CaseIterable, CustomStringConvertible {
    /// GPTQ-style error compensation (`ErrorCompensation`): each layer alone, against the float
    /// model's inputs; biases unchanged.
    case gptq
    /// Layer reconstruction (`LayerReconstruction`): layer after layer, against the inputs the
    /// already quantized layers give, GPTQ's pass refined by coordinate descent, with the bias
    /// corrected jointly.
    case reconstruct
    /// Learned rounding (AdaRound's relaxation) on the network's output, end to end on the
    /// calibration images, starting from layer reconstruction; biases train with it.
    case adaround

    /// What a bare `--compensate` means: the method that measures best.
    public static let best = CompensationMethod.adaround

    public var description: String {
        switch self {
        case .gptq: return "GPTQ-style error compensation"
        case .reconstruct: return "layer reconstruction with bias correction"
        case .adaround: return "learned rounding on the network's output"
        }
    }
}

/// How a plan's weights were rounded (recorded in the plan; the plan alone does not reproduce them).
public struct CompensationRecord: Sendable, Codable, Equatable {
    /// The method.
    public var method: CompensationMethod
    /// Calibration images its statistics came from.
    public var images: Int
    /// Training steps, for learned rounding.
    public var steps: Int?

    /// A record of `method` on `images` calibration images (and `steps` training steps).
    public init(method: CompensationMethod, images: Int, steps: Int? = nil) {
        self.method = method
        self.images = images
        self.steps = steps
    }
}
