import TensorGraph

/// Float-scale quantizers: what a user would pick instead of a bit mask, at the same stored
/// width `k` (sign included): values `q * scale` with integer `|q| <= 2^(k-1) - 1`.
///
/// Their scales are arbitrary floats, so unlike bit patterns they are not shift-friendly in
/// hardware: a multiplier per layer (or per channel) is needed to apply them.
public enum FloatScaleMethod: String, Sendable, Codable, CaseIterable {
    /// One scale per layer: the largest magnitude maps to the largest level.
    case maxAbs = "max-abs"
    /// One scale per layer, chosen to minimise the weights' mean squared error.
    case mse
    /// One max-abs scale per output channel (the first weight dimension).
    case perChannel = "per-channel"
}

enum FloatScale {
    static func levels(bits: Int) -> Float { Float((1 << (bits - 1)) - 1) }

    /// Round-to-nearest (ties away from zero) onto `scale`'s grid, saturating at `levels`.
    @inline(__always)
    static func quantize(_ value: Float, scale: Float, levels: Float) -> Float {
        guard scale > 0, !value.isNaN else { return 0 }
        let q = min((value.magnitude / scale).rounded(.toNearestOrAwayFromZero), levels)
        // A zero carries no sign, as in the packed encoding.
        return value < 0 && q != 0 ? -q * scale : q * scale
    }

    static func maxAbsScale(_ values: ArraySlice<Float>, levels: Float) -> Float {
        let top = values.reduce(Float(0)) { max($0, $1.isNaN ? 0 : $1.magnitude) }
        return top / levels
    }

    static func squaredError(_ values: ArraySlice<Float>, scale: Float, levels: Float) -> Double {
        values.reduce(0.0) { sum, value in
            let error = Double(value - quantize(value, scale: scale, levels: levels))
            return sum + error * error
        }
    }

    /// The MSE-minimising scale: a grid over fractions of the max-abs scale, refined around the best.
    static func mseScale(_ values: ArraySlice<Float>, levels: Float) -> Float {
        let top = maxAbsScale(values, levels: levels)
        guard top > 0 else { return 0 }
        var best = top, bestError = squaredError(values, scale: top, levels: levels)
        var step: Float = 0.02
        var center: Float = 0.5
        var span: Float = 0.5
        for _ in 0..<3 {
            var fraction = max(0.01, center - span)
            while fraction <= min(1, center + span) {
                let scale = top * fraction
                let error = squaredError(values, scale: scale, levels: levels)
                if error < bestError { best = scale; bestError = error }
                fraction += step
            }
            center = best / top
            span = step
            step /= 10
        }
        return best
    }

    /// Quantizes a weight tensor; per-channel scales run over the first dimension.
    static func quantize(_ tensor: Tensor, method: FloatScaleMethod, bits: Int) -> (values: [Float], scales: [Float]) {
        let levels = levels(bits: bits)
        let data = tensor.data
        switch method {
        case .maxAbs, .mse:
            let scale = method == .maxAbs ? maxAbsScale(data[...], levels: levels) : mseScale(data[...], levels: levels)
            return (data.map { quantize($0, scale: scale, levels: levels) }, [scale])
        case .perChannel:
            let channels = max(1, tensor.shape.rank > 0 ? tensor.shape[0] : 1)
            let size = data.count / channels
            var values = [Float](repeating: 0, count: data.count)
            var scales: [Float] = []
            for channel in 0..<channels {
                let range = (channel * size)..<((channel + 1) * size)
                let scale = maxAbsScale(data[range], levels: levels)
                scales.append(scale)
                for i in range { values[i] = quantize(data[i], scale: scale, levels: levels) }
            }
            return (values, scales)
        }
    }
}
