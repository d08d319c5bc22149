import Foundation

/// A fixed-point format `Q(B, F, s)`: an integer `q` of `bits` bits stands for `q × 2^-fraction`
/// (`formats/datapath/SPEC.md`, section 1).
public struct FixedPointFormat: Sendable, Hashable, Codable, CustomStringConvertible {
    /// Total bits, sign included when signed (2 to 32).
    public var bits: Int
    /// Fractional bits; negative values scale by powers of two above 1.
    public var fraction: Int
    /// Two's complement when true, unsigned otherwise.
    public var signed: Bool

    /// A format of `bits` bits with `fraction` fractional bits.
    public init(bits: Int, fraction: Int, signed: Bool) {
        self.bits = bits
        self.fraction = fraction
        self.signed = signed
    }

    /// The smallest integer the format holds.
    public var minimum: Int64 { signed ? -(Int64(1) << (bits - 1)) : 0 }
    /// The largest integer the format holds.
    public var maximum: Int64 { signed ? (Int64(1) << (bits - 1)) - 1 : (Int64(1) << bits) - 1 }
    /// The largest magnitude the format holds.
    public var largestMagnitude: Int64 { signed ? -minimum : maximum }

    /// `x` clamped to the format's range.
    @inline(__always)
    public func saturate(_ x: Int64) -> Int64 { Swift.min(Swift.max(x, minimum), maximum) }

    /// `value` as this format's integer: scaled by 2^fraction, rounded half away from zero, saturated.
    public func quantize(_ value: Float) -> Int64 { quantizeReportingSaturation(value).code }

    /// `value` as this format's integer, and whether saturation changed it.
    public func quantizeReportingSaturation(_ value: Float) -> (code: Int64, saturated: Bool) {
        let scaled = (Double(value) * Double.pow2(fraction)).rounded(.toNearestOrAwayFromZero)
        if scaled > Double(maximum) || !scaled.isFinite && scaled > 0 { return (maximum, true) }
        if scaled < Double(minimum) || !scaled.isFinite { return (minimum, true) }
        return (Int64(scaled), false)
    }

    /// The value an integer of this format stands for.
    public func value(_ q: Int64) -> Double { Double(q) / Double.pow2(fraction) }

    /// `s8.5` (signed, 8 bits, 5 fractional) or `u8.8`.
    public var description: String { "\(signed ? "s" : "u")\(bits).\(fraction)" }

    /// The format with `bits` bits and the most fractional bits for which `largest` (a magnitude
    /// seen in calibration) still fits without saturating.
    public static func fitting(largest: Double, bits: Int, signed: Bool) -> FixedPointFormat {
        let top = Double(FixedPointFormat(bits: bits, fraction: 0, signed: signed).maximum)
        guard largest > 0, largest.isFinite else { return FixedPointFormat(bits: bits, fraction: bits - (signed ? 1 : 0), signed: signed) }
        var fraction = Int((log2(top / largest)).rounded(.down))
        while (largest * Double.pow2(fraction + 1)).rounded(.toNearestOrAwayFromZero) <= top { fraction += 1 }
        while (largest * Double.pow2(fraction)).rounded(.toNearestOrAwayFromZero) > top { fraction -= 1 }
        return FixedPointFormat(bits: bits, fraction: fraction, signed: signed)
    }
}

extension Double {
    /// 2^exponent, exact for every exponent a format uses.
    public static func pow2(_ exponent: Int) -> Double { Double(sign: .plus, exponent: exponent, significand: 1) }
}

/// The activation formats of an integer datapath: the network input's and each Convolution or
/// InnerProduct layer's output (`formats/datapath/SPEC.md`, section 3).
public struct ActivationFormats: Sendable, Equatable {
    /// The quantized network input's format.
    public var input: FixedPointFormat
    /// Each Convolution, InnerProduct or Eltwise layer's output format, by layer name.
    public var layers: [String: FixedPointFormat]

    /// Formats for the input and for the named layers.
    public init(input: FixedPointFormat, layers: [String: FixedPointFormat]) {
        self.input = input
        self.layers = layers
    }
}
