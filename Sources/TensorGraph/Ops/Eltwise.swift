/// How Eltwise combines its inputs.
public enum EltwiseOperation: String, Sendable, Equatable, Codable {
    case product = "PROD"
    case sum = "SUM"
    case max = "MAX"
}

/// Combines two or more inputs of one shape element by element (a residual connection's SUM).
public struct EltwiseAttributes: OperatorAttributes {
    public static let typeName = "Eltwise"
    public static let inputCount = 2...Int.max

    /// How the inputs are combined.
    public var operation: EltwiseOperation
    /// Per-input coefficients for SUM; empty means all 1.
    public var coefficients: [Float]

    /// An element-wise combination (Caffe's default: SUM with coefficients 1).
    public init(operation: EltwiseOperation = .sum, coefficients: [Float] = []) {
        self.operation = operation
        self.coefficients = coefficients
    }

    enum CodingKeys: String, CodingKey { case operation, coefficients }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        operation = try container.decode(EltwiseOperation.self, forKey: .operation)
        coefficients = try container.decodeIfPresent([Float].self, forKey: .coefficients) ?? []
    }

    public var op: Op { .eltwise(self) }

    public func outputShapes(_ inputs: [Shape], rule: ShapeRule) throws -> [Shape] {
        for shape in inputs where shape != inputs[0] {
            throw GraphError.invalidShape(layer: rule.layer, reason: "Eltwise inputs differ: \(shape) and \(inputs[0])")
        }
        if !coefficients.isEmpty {
            try rule.require(operation == .sum && coefficients.count == inputs.count, "Eltwise coefficients need SUM and one per input")
        }
        return [inputs[0]]
    }
}
