/// A request value that cannot be used, found when the request is built.
///
/// The message names the fields it is about; ``message(naming:)`` spells them as the caller
/// knows them (the command line maps ``RequestField/batchSize`` to `--batch-size`).
public struct RequestError: Error, Sendable, CustomStringConvertible {
    /// The field at fault.
    public var field: RequestField
    /// The message, with the fields it mentions kept apart from its text.
    public var message: RequestMessage

    /// An error about `field`, saying `message`.
    public init(_ field: RequestField, _ message: RequestMessage) {
        self.field = field
        self.message = message
    }

    /// The message with each field spelt by `name`.
    public func message(naming name: (RequestField) -> String) -> String {
        message.parts.map { part in
            switch part {
            case let .text(text): text
            case let .field(field): name(field)
            }
        }.joined()
    }

    public var description: String { message { $0.label } }
}

/// A field of a use-case request.
public enum RequestField: String, Sendable, CaseIterable {
    case batchSize, limit, plan, pattern, layers, rounding, biasPattern, runs, convolution, net, weights, meanFile, dataFormat, calibrationFormat, calibration, calibrationLimit, activationBits, datapath, objective, scale, meanValue, qdq, data, count, start, inputShape, maxWidth, averageBits, budget, learningSteps, to

    /// The field as a library caller knows it.
    public var label: String {
        switch self {
        case .batchSize: "batch size"
        case .biasPattern: "bias pattern"
        case .calibrationLimit: "calibration limit"
        case .activationBits: "activation bits"
        case .dataFormat: "data format"
        case .calibrationFormat: "calibration format"
        case .net: "network definition"
        case .meanFile: "mean file"
        case .inputShape: "input shape"
        case .maxWidth: "maximum width"
        case .averageBits: "average bits"
        case .learningSteps: "learning steps"
        case .meanValue: "mean values"
        case .to: "output format"
        default: rawValue
        }
    }
}

/// Text with embedded field names: `"\(.plan) cannot be combined with \(.pattern)"`.
public struct RequestMessage: Sendable, ExpressibleByStringInterpolation {
    /// A piece of the message.
    public enum Part: Sendable {
        case text(String)
        case field(RequestField)
    }

    /// The text and field pieces, in order.
    public var parts: [Part]

    public init(stringLiteral value: String) { parts = [.text(value)] }
    public init(stringInterpolation: Interpolation) { parts = stringInterpolation.parts }

    /// Builds a message from literal text and `\(field)` segments.
    public struct Interpolation: StringInterpolationProtocol {
        var parts: [Part] = []
        /// An empty message under construction.
        public init(literalCapacity: Int, interpolationCount: Int) {}
        public mutating func appendLiteral(_ literal: String) { if !literal.isEmpty { parts.append(.text(literal)) } }
        /// Appends a field, spelt by whoever shows the message.
        public mutating func appendInterpolation(_ field: RequestField) { parts.append(.field(field)) }
        /// Appends a value's text.
        public mutating func appendInterpolation(_ value: some CustomStringConvertible) { parts.append(.text(value.description)) }
    }
}
