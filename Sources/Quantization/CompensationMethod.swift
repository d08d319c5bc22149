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

    /// What a bare `--compensate` means: the method that measures best.
    public static let best = CompensationMethod.reconstruct

    public var description: String {
        switch self {
        case .gptq: return "GPTQ-style error compensation"
        case .reconstruct: return "layer reconstruction with bias correction"
        }
    }
}

/// How a plan's weights were rounded (recorded in the plan; the plan alone does not reproduce them).
public struct CompensationRecord: Sendable, Codable, Equatable {
    /// The method.
    public var method: CompensationMethod
    /// Calibration images its statistics came from.
    public var images: Int

    /// A record of `method` on `images` calibration images.
    public init(method: CompensationMethod, images: Int) {
        self.method = method
        self.images = images
    }
}
