/// How a weight is mapped onto a bit pattern. Both are sign-magnitude and saturate at the
/// largest representable magnitude.
public enum RoundingMode: String, Sendable, Codable, CaseIterable {
    /// The thesis taken literally: round to nearest (ties away from zero) on the full `n`-bit
    /// grid, saturate, then clear the masked bits. Clearing can move a value far from the
    /// weight when high bits are masked (0.6 in X0.0XX becomes 0.125).
    case maskAfter = "mask-after"
    /// The nearest representable value of the pattern (ties to the larger magnitude).
    case nearest
}

/// Quantizes weights onto one pattern, precomputing what every weight needs.
public struct PatternQuantizer: Sendable {
    /// The pattern weights are mapped onto.
    public let pattern: BitPattern
    /// How a weight between two representable values is rounded.
    public let rounding: RoundingMode
    let magnitudes: [Double]
    let lsb: Double
    let maxCode: Int
    /// Bits of the (n-1)-bit magnitude code that stay (position p is bit n-2-p).
    let keepMask: Int

    /// A quantizer for `pattern` with `rounding`; the value table is built once.
    public init(pattern: BitPattern, rounding: RoundingMode) {
        self.pattern = pattern
        self.rounding = rounding
        magnitudes = pattern.magnitudes
        lsb = pattern.leastSignificantBit
        maxCode = (1 << (pattern.totalBits - 1)) - 1
        keepMask = pattern.storedPositions.reduce(0) { $0 | (1 << (pattern.totalBits - 2 - $1)) }
    }

    /// The magnitude code on the n-bit grid (masked bits zero) for |w|.
    @inline(__always)
    public func code(forMagnitude magnitude: Double) -> Int {
        switch rounding {
        case .maskAfter:
            let scaled = (magnitude / lsb + 0.5).rounded(.down)
            let code = scaled >= Double(maxCode) ? maxCode : Int(scaled)
            return code & keepMask
        case .nearest:
            return Int(nearestMagnitude(magnitude) / lsb)
        }
    }

    /// The nearest member of the value set, ties to the larger magnitude (binary search).
    @inline(__always)
    func nearestMagnitude(_ magnitude: Double) -> Double {
        var low = 0, high = magnitudes.count - 1
        if magnitude >= magnitudes[high] { return magnitudes[high] }
        while high - low > 1 {
            let mid = (low + high) >> 1
            if magnitudes[mid] <= magnitude { low = mid } else { high = mid }
        }
        return magnitude - magnitudes[low] < magnitudes[high] - magnitude ? magnitudes[low] : magnitudes[high]
    }

    /// The quantized value of one weight. NaN becomes 0; zero magnitudes carry no sign.
    @inline(__always)
    public func quantize(_ weight: Float) -> Float {
        let magnitude = Double(weight.magnitude)
        guard !magnitude.isNaN else { return 0 }
        let code = code(forMagnitude: magnitude)
        if code == 0 { return 0 }
        let value = Float(Double(code) * lsb)
        return weight < 0 ? -value : value
    }

    /// Every weight quantized.
    public func quantize(_ weights: [Float]) -> [Float] { weights.map(quantize) }

    /// Sign and magnitude code of a weight, for packing the stored bits.
    public func signAndCode(_ weight: Float) -> (negative: Bool, code: Int) {
        let code = code(forMagnitude: Double(weight.magnitude.isNaN ? 0 : weight.magnitude))
        return (code != 0 && weight < 0, code)
    }
}
