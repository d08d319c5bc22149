import Foundation
import Quantization

/// A hardware budget the searched layers' weights must fit together, as a total rather than an
/// average: weight memory, or the shift-add terms of a datapath with one multiplier-free product
/// per weight. Each weight costs what its layer's pattern stores, whatever its own value: the
/// hardware is sized for the pattern.
public enum WeightBudget: Sendable, Equatable, CustomStringConvertible {
    /// Stored bits in all, sign bits included (the weight memory).
    case totalBits(Int)
    /// Shift-add terms in all: each weight's stored magnitude bits (its stored bits less the sign).
    case adders(Int)

    /// Parses `bits=N` or `adders=N`; N may end in k (thousands) or M (millions).
    /// - Throws: `PlanError` saying what is wrong.
    public init(parsing text: String) throws {
        let parts = text.split(separator: "=", maxSplits: 1).map { String($0).trimmingCharacters(in: .whitespaces) }
        guard parts.count == 2 else { throw PlanError("budget '\(text)' must be bits=N or adders=N") }
        var digits = Substring(parts[1]), multiplier = 1
        if let last = digits.last, let factor = ["k": 1_000, "K": 1_000, "M": 1_000_000][last] {
            multiplier = factor
            digits = digits.dropLast()
        }
        guard let count = Int(digits), count > 0, count <= Int.max / multiplier else {
            throw PlanError("budget '\(text)': '\(parts[1])' is not a positive whole number (suffixes k and M allowed)")
        }
        switch parts[0] {
        case "bits": self = .totalBits(count * multiplier)
        case "adders": self = .adders(count * multiplier)
        default: throw PlanError("budget '\(text)': '\(parts[0])' is not bits or adders")
        }
    }

    /// The same budget as stored bits per weight averaged over `weights` weights (the search's
    /// constraint): N adders over W weights allow N + W stored bits, one sign bit per weight.
    public func averageBits(over weights: Int) -> Double {
        let count = Double(max(1, weights))
        switch self {
        case let .totalBits(bits): return Double(bits) / count
        case let .adders(adders): return (Double(adders) + count) / count
        }
    }

    public var description: String {
        switch self {
        case let .totalBits(bits): return "bits=\(bits)"
        case let .adders(adders): return "adders=\(adders)"
        }
    }
}
