import TensorGraph

/// How one layer's weights are quantized: onto a bit pattern, or with a float-scale baseline.
public enum LayerScheme: Hashable, Sendable, CustomStringConvertible {
    case pattern(BitPattern)
    case floatScale(FloatScaleMethod, bits: Int)

    /// Parses a pattern label or picture, or a baseline written `max-abs:K`, `mse:K`, `per-channel:K`.
    /// - Throws: `PatternError` saying what is wrong.
    public init(parsing text: String) throws {
        if let colon = text.firstIndex(of: ":") {
            let name = String(text[..<colon]), bitsText = String(text[text.index(after: colon)...])
            guard let method = FloatScaleMethod(rawValue: name) else {
                let known = FloatScaleMethod.allCases.map(\.rawValue).joined(separator: ", ")
                throw PatternError(text: text, reason: "unknown baseline '\(name)' (known: \(known))")
            }
            guard let bits = Int(bitsText), (2...16).contains(bits) else {
                throw PatternError(text: text, reason: "a baseline needs a stored width from 2 to 16 bits after ':'")
            }
            self = .floatScale(method, bits: bits)
        } else {
            self = .pattern(try BitPattern(parsing: text))
        }
    }

    /// The text form accepted by `init(parsing:)`.
    public var text: String {
        switch self {
        case let .pattern(pattern): return pattern.label
        case let .floatScale(method, bits): return "\(method.rawValue):\(bits)"
        }
    }

    public var description: String {
        switch self {
        case let .pattern(pattern): return pattern.description
        case let .floatScale(method, bits): return "\(method.rawValue) float scale, \(bits) bits (not shift-friendly)"
        }
    }

    /// Stored bits per weight, sign included.
    public var storedBits: Int {
        switch self {
        case let .pattern(pattern): return pattern.storedBits
        case let .floatScale(_, bits): return bits
        }
    }
}
