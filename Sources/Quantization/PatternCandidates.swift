import Foundation

/// Which schemes a search may give a layer.
public enum CandidateFamily: String, Sendable, Codable, CaseIterable {
    /// Every bit-mask pattern (holes included) that the notation writes within the maximum width, with shifts.
    case masks
    /// Only the top magnitude bits masked in order: an evenly spaced grid, i.e. a power-of-two scale.
    case pow2
    /// The float-scale baselines (`max-abs`, `mse`, `per-channel`); not shift-friendly in hardware.
    case floatScale = "float-scale"
}

/// The candidate schemes for one layer, and how many patterns they stand for.
public struct CandidateSet: Sendable {
    /// One scheme per distinct value set, in the order they are tried.
    public var schemes: [LayerScheme]
    /// Patterns of `k` stored bits the label notation can write with `n <= maxWidth`, shift 0.
    public var expressible: Int
    /// Distinct representable value sets among them and their binary-point shifts.
    public var distinctSets: Int

    /// A candidate set and how many patterns it was reduced from.
    public init(schemes: [LayerScheme], expressible: Int, distinctSets: Int) {
        self.schemes = schemes
        self.expressible = expressible
        self.distinctSets = distinctSets
    }
}

/// Generates candidate patterns for a layer.
///
/// A pattern's value set is fixed by the weights `2^-e` of its stored magnitude bits, so two
/// labels with the same exponent set (for instance `5_2_0_1_0` and `3_0_2`) are one candidate.
/// Exponent sets span at most `maxWidth - 2` positions (the label's magnitude bits); the top
/// bit is placed where it can reach the layer's largest weight: from the power of two above
/// `absMax` down to 1/16 of it, so heavily saturating or mostly-zero grids are not evaluated.
public enum PatternCandidates {
    /// How far below the largest weight the top stored bit may sit, in powers of two.
    static let deepestTopBit = 4

    /// The candidate schemes of one layer.
    /// - Parameters:
    ///   - family: bit masks, powers of two only, or float-scale baselines.
    ///   - storedBits: `k`, sign included (at least 2).
    ///   - maxWidth: largest total width `n` a label may use.
    ///   - absMax: the largest weight magnitude of the layer.
    public static func candidates(family: CandidateFamily, storedBits: Int, maxWidth: Int, absMax: Double) -> CandidateSet {
        let expressible = expressibleCount(storedBits: storedBits, maxWidth: maxWidth)
        switch family {
        case .floatScale:
            let schemes = FloatScaleMethod.allCases.map { LayerScheme.floatScale($0, bits: storedBits) }
            return CandidateSet(schemes: schemes, expressible: expressible, distinctSets: schemes.count)
        case .masks, .pow2:
            let sets = exponentSets(storedBits: storedBits, maxWidth: maxWidth, absMax: absMax, contiguousOnly: family == .pow2)
            let schemes = sets.compactMap { try? pattern(exponents: $0, maxWidth: maxWidth) }.map(LayerScheme.pattern)
            return CandidateSet(schemes: schemes, expressible: expressible, distinctSets: sets.count)
        }
    }

    /// Number of labels with `k` stored bits, `n` from `k` to `maxWidth`, shift 0: C(n-1, k-1) each.
    static func expressibleCount(storedBits k: Int, maxWidth: Int) -> Int {
        guard k >= 2, maxWidth >= k else { return 0 }
        return (k...maxWidth).reduce(0) { $0 + binomial($1 - 1, k - 1) }
    }

    static func binomial(_ n: Int, _ r: Int) -> Int {
        guard r >= 0, r <= n else { return 0 }
        var result = 1
        for i in 0..<min(r, n - r) { result = result * (n - i) / (i + 1) }
        return result
    }

    /// Exponent sets (ascending, `k - 1` of them) whose top bit can reach the weights.
    static func exponentSets(storedBits k: Int, maxWidth: Int, absMax: Double, contiguousOnly: Bool) -> [[Int]] {
        guard k >= 2, maxWidth >= k, absMax > 0, absMax.isFinite else { return [] }
        // 2^-t <= absMax < 2^-(t-1): a top bit of 2^-(t-1) can still be the nearest value to absMax.
        let t = Int((-log2(absMax)).rounded(.up))
        let span = maxWidth - 2
        var sets: [[Int]] = []
        for top in (t - 1)...(t - 1 + deepestTopBit) {
            if contiguousOnly {
                sets.append(Array(top..<(top + k - 1)))
                continue
            }
            // Choose the k - 2 lower bits among the `span` positions below the top bit.
            for lower in combinations(of: Array((top + 1)...(top + span)), choose: k - 2) {
                sets.append([top] + lower)
            }
        }
        return sets
    }

    static func combinations(of items: [Int], choose count: Int) -> [[Int]] {
        guard count > 0 else { return [[]] }
        guard items.count >= count else { return [] }
        var result: [[Int]] = []
        for (index, item) in items.enumerated() {
            for rest in combinations(of: Array(items[(index + 1)...]), choose: count - 1) { result.append([item] + rest) }
        }
        return result
    }

    /// The label for an exponent set: the thesis form (shift 0, top bits masked) when it fits in
    /// `maxWidth`, otherwise the narrowest label with a binary-point shift.
    /// - Throws: `PatternError` when the set is empty or spans more than `BitPattern.maxTotalBits`.
    public static func pattern(exponents: [Int], maxWidth: Int) throws -> BitPattern {
        guard let first = exponents.min(), let last = exponents.max() else {
            throw PatternError(text: "[]", reason: "a pattern needs at least one stored magnitude bit")
        }
        let shift = (first >= 0 && last + 2 <= maxWidth) ? 0 : first
        let totalBits = last - shift + 2
        let stored = Set(exponents.map { $0 - shift })
        return try BitPattern(totalBits: totalBits, masked: (0...(last - shift)).filter { !stored.contains($0) }, shift: shift)
    }
}

extension BitPattern {
    /// The bit weights' exponents `e` (a stored bit weighs `2^-e`), ascending: this set alone fixes the values.
    public var exponents: [Int] { storedPositions.map { $0 + shift } }
}
