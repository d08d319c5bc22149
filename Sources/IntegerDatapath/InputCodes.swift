import CIntegerKernels
import Quantization

extension FixedPointFormat {
    /// Each value's integer in this format (as `quantizeReportingSaturation` gives it) and how
    /// many saturated; vectorised where the format's range and scale are exact in float32.
    public func codes(of values: [Float]) -> (codes: [Int32], saturated: Int) {
        guard bits <= 24, (-126...127).contains(fraction), !values.isEmpty else {
            var saturated = 0
            let codes = values.map { value -> Int32 in
                let (code, clamped) = quantizeReportingSaturation(value)
                if clamped { saturated += 1 }
                return Int32(code)
            }
            return (codes, saturated)
        }
        var saturated = 0
        let codes = [Int32](unsafeUninitializedCapacity: values.count) { codes, initialized in
            saturated = bmq_quantize(values, values.count, Float(Double.pow2(fraction)), Int32(minimum), Int32(maximum), codes.baseAddress!)
            initialized = values.count
        }
        return (codes, saturated)
    }
}
