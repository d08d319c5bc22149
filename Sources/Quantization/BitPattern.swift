import Foundation

/// A sign-magnitude fixed-point format with some magnitude bits forced to zero (a bit mask).
///
/// `n` bits in all: a sign bit, then `n - 1` magnitude bits. Magnitude position 0 is the
/// integer bit (weight 2^0), position p weighs 2^-(p + s), where `s` is an extra binary-point
/// shift (0 in every published label). `masked` positions are always zero, so only
/// `k = n - m` bits (sign included) are stored.
public struct BitPattern: Hashable, Sendable, CustomStringConvertible {
    /// Bits of the fixed-point word, sign included (n).
    public let totalBits: Int
    /// Masked magnitude positions, ascending.
    public let masked: [Int]
    /// The extra binary-point shift s: magnitude position p weighs 2^-(p + s).
    public let shift: Int

    /// The widest word a pattern may describe.
    public static let maxTotalBits = 32

    /// - Throws: `PatternError` when the widths or positions are inconsistent.
    public init(totalBits: Int, masked: [Int], shift: Int = 0) throws {
        let label = "\(totalBits)_\(masked.count)\(masked.map { "_\($0)" }.joined())_\(shift)"
        guard (2...Self.maxTotalBits).contains(totalBits) else {
            throw PatternError(text: label, reason: "total width \(totalBits) must be between 2 and \(Self.maxTotalBits) bits")
        }
        let sorted = masked.sorted()
        guard Set(sorted).count == sorted.count else {
            throw PatternError(text: label, reason: "masked positions repeat")
        }
        if let bad = sorted.first(where: { $0 < 0 || $0 > totalBits - 2 }) {
            throw PatternError(text: label, reason: "masked position \(bad) is outside the \(totalBits - 1) magnitude bits 0...\(totalBits - 2)")
        }
        guard sorted.count < totalBits - 1 else {
            throw PatternError(text: label, reason: "every magnitude bit is masked, so only zero is representable")
        }
        guard (-32...32).contains(shift) else {
            throw PatternError(text: label, reason: "shift \(shift) is outside -32...32")
        }
        self.totalBits = totalBits
        self.masked = sorted
        self.shift = shift
    }

    /// Plain `k`-bit fixed point with one integer bit: the thesis's `k_0_0`.
    public static func plain(bits: Int) throws -> BitPattern { try BitPattern(totalBits: bits, masked: []) }

    /// Parses the label form `n_m_p1_..._pm_s` or the picture form (`X0.0XX`).
    /// - Throws: `PatternError` saying exactly what is wrong.
    public init(parsing text: String) throws {
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        if trimmed.first == "X" || trimmed.first == "x" {
            self = try Self.parsePicture(trimmed)
        } else {
            self = try Self.parseLabel(trimmed)
        }
    }

    static func parseLabel(_ text: String) throws -> BitPattern {
        let fields = text.split(separator: "_", omittingEmptySubsequences: false).map(String.init)
        guard fields.count >= 3 else {
            throw PatternError(text: text, reason: "a label needs at least n_m_s (three fields separated by '_'), or use a picture like X0.0XX")
        }
        var numbers: [Int] = []
        for (index, field) in fields.enumerated() {
            guard let value = Int(field) else {
                throw PatternError(text: text, reason: "field \(index + 1) '\(field)' is not an integer")
            }
            numbers.append(value)
        }
        let (n, m) = (numbers[0], numbers[1])
        let listed = numbers.count - 3
        guard m >= 0 else { throw PatternError(text: text, reason: "the mask count \(m) is negative") }
        guard listed == m else {
            throw PatternError(text: text, reason: "declares \(m) masked position\(m == 1 ? "" : "s") but lists \(listed)")
        }
        return try BitPattern(totalBits: n, masked: Array(numbers[2..<(2 + m)]), shift: numbers[numbers.count - 1])
    }

    static func parsePicture(_ text: String) throws -> BitPattern {
        let characters = Array(text.uppercased())
        guard characters.first == "X" else { throw PatternError(text: text, reason: "a picture starts with the sign bit X") }
        guard characters.filter({ $0 == "." }).count == 1, characters.count >= 3, characters[2] == "." else {
            throw PatternError(text: text, reason: "a picture is the sign X, one integer bit, '.', then fraction bits (like X0.0XX)")
        }
        let magnitude = characters.dropFirst().filter { $0 != "." }
        var masked: [Int] = []
        for (position, character) in magnitude.enumerated() {
            switch character {
            case "X": break
            case "0": masked.append(position)
            default: throw PatternError(text: text, reason: "'\(character)' is not X (stored bit), 0 (masked bit) or '.'")
            }
        }
        return try BitPattern(totalBits: magnitude.count + 1, masked: masked)
    }

    /// Number of masked magnitude bits (`m`).
    public var maskedCount: Int { masked.count }
    /// Stored bits per weight, sign included (`k = n - m`).
    public var storedBits: Int { totalBits - masked.count }
    /// Unmasked magnitude positions, ascending (most significant first).
    public var storedPositions: [Int] { (0..<(totalBits - 1)).filter { !masked.contains($0) } }

    /// The label `n_m_p1_..._pm_s`.
    public var label: String { "\(totalBits)_\(masked.count)\(masked.map { "_\($0)" }.joined())_\(shift)" }

    /// The picture (`X0.0XX`); nil when a shift moves the binary point, which pictures cannot show.
    public var picture: String? {
        guard shift == 0 else { return nil }
        var text = "X"
        for position in 0..<(totalBits - 1) {
            text.append(masked.contains(position) ? "0" : "X")
            if position == 0 { text.append(".") }
        }
        if totalBits == 2 { return "XX." }
        return text
    }

    public var description: String { picture.map { "\(label) (\($0))" } ?? label }

    /// Weight of magnitude position p: 2^-(p + s).
    public func positionWeight(_ position: Int) -> Double { pow2(-(position + shift)) }

    /// The smallest step of the n-bit grid, 2^-(n - 2 + s).
    public var leastSignificantBit: Double { pow2(-fractionBits) }

    /// Fractional bits `F` of the pattern's values: each is an integer times `2^-F` (`n - 2 + s`).
    public var fractionBits: Int { totalBits - 2 + shift }

    /// Largest representable magnitude.
    public var maxMagnitude: Double { storedPositions.reduce(0) { $0 + positionWeight($1) } }

    /// All representable magnitudes (2^(k-1) of them), ascending.
    public var magnitudes: [Double] {
        let positions = storedPositions
        var values: [Double] = [0]
        // Least significant first, so the doubling keeps the list sorted.
        for position in positions.reversed() {
            let weight = positionWeight(position)
            values += values.map { $0 + weight }
        }
        return values.sorted()
    }

    /// True when the stored positions are contiguous: an evenly spaced grid, i.e. a power-of-two scale.
    public var isUniform: Bool {
        let positions = storedPositions
        return positions.last! - positions.first! == positions.count - 1
    }
}

func pow2(_ exponent: Int) -> Double {
    Double(sign: .plus, exponent: exponent, significand: 1)
}

/// A pattern string that cannot be read, with the reason.
public struct PatternError: Error, Equatable, CustomStringConvertible {
    /// The pattern text that failed to parse.
    public var text: String
    /// Why it failed.
    public var reason: String
    public var description: String { "\(text): \(reason)" }
}
