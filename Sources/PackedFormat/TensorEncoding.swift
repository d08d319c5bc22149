import Quantization

/// How one tensor's values are stored in a packed file.
public enum TensorEncoding: Sendable, Equatable, CustomStringConvertible {
    /// Raw little-endian float32.
    case float32
    /// A bit pattern: `k` bits per value (sign, then the unmasked magnitude bits).
    case pattern(BitPattern, RoundingMode)
    /// A float-scale baseline: `bits`-bit sign-magnitude integers times one scale per tensor,
    /// or one per slice of the first dimension.
    case scaledInteger(bits: Int, scales: [Float])

    /// Bits per stored value.
    public var bitsPerValue: Int {
        switch self {
        case .float32: return 32
        case let .pattern(pattern, _): return pattern.storedBits
        case let .scaledInteger(bits, _): return bits
        }
    }

    public var description: String {
        switch self {
        case .float32: return "float32"
        case let .pattern(pattern, rounding): return "\(pattern.description) \(rounding.rawValue)"
        case let .scaledInteger(bits, scales): return "\(bits)-bit integer x \(scales.count == 1 ? "1 scale" : "\(scales.count) scales")"
        }
    }

    var code: UInt8 {
        switch self {
        case .float32: return 0
        case .pattern: return 1
        case .scaledInteger: return 2
        }
    }
}

/// The k-bit stored word of a pattern value: sign in bit k-1, the unmasked magnitude bits below it,
/// most significant position first.
struct PatternCodec {
    let pattern: BitPattern
    let positions: [Int]  // unmasked, most significant first
    let magnitudeBits: Int  // n - 1

    init(_ pattern: BitPattern) {
        self.pattern = pattern
        positions = pattern.storedPositions
        magnitudeBits = pattern.totalBits - 1
    }

    /// Packs the full (n-1)-bit magnitude code into the stored bits; nil when a masked bit is set.
    func word(negative: Bool, code: Int) -> UInt32? {
        var stored: UInt32 = 0
        var remainder = code
        for position in positions {
            let bit = magnitudeBits - 1 - position
            stored = stored << 1 | UInt32((code >> bit) & 1)
            remainder &= ~(1 << bit)
        }
        guard remainder == 0 else { return nil }
        return (negative ? 1 << UInt32(positions.count) : 0) | stored
    }

    /// The value of a stored word; nil for a negative zero, which writers never produce.
    func value(of word: UInt32) -> Float? {
        let k = positions.count
        let negative = (word >> UInt32(k)) & 1 == 1
        var code = 0
        for (index, position) in positions.enumerated() where (word >> UInt32(k - 1 - index)) & 1 == 1 {
            code |= 1 << (magnitudeBits - 1 - position)
        }
        if code == 0 { return negative ? nil : 0 }
        let magnitude = Float(Double(code) * pattern.leastSignificantBit)
        return negative ? -magnitude : magnitude
    }
}
