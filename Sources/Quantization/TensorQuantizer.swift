import TensorGraph

/// What quantizing one tensor did to it.
public struct QuantizationStatistics: Sendable, Codable, Equatable {
    /// Share of weights whose magnitude exceeded the largest representable value.
    public var saturatedShare: Double
    /// Share of non-zero weights that became zero.
    public var zeroedShare: Double
    /// Mean squared difference between the original and quantized values.
    public var meanSquaredError: Double
    /// The float scales of a baseline (one per layer or per channel); empty for patterns.
    public var scales: [Float]

    enum CodingKeys: String, CodingKey {
        case saturatedShare = "saturated_share", zeroedShare = "zeroed_share", meanSquaredError = "mse", scales
    }
}

/// Quantizes whole tensors with a layer scheme.
public enum TensorQuantizer {
    /// Quantizes `tensor` with `scheme` (rounding applies to patterns) and measures the effect.
    public static func quantize(_ tensor: Tensor, scheme: LayerScheme, rounding: RoundingMode) -> (Tensor, QuantizationStatistics) {
        let values: [Float]
        var scales: [Float] = []
        switch scheme {
        case let .pattern(pattern):
            values = PatternQuantizer(pattern: pattern, rounding: rounding).quantize(tensor.data)
        case let .floatScale(method, bits):
            (values, scales) = FloatScale.quantize(tensor, method: method, bits: bits)
        }
        return (Tensor(shape: tensor.shape, data: values), statistics(original: tensor, quantized: values, scheme: scheme, scales: scales))
    }

    /// What quantizing `original` to `quantized` under `scheme` did.
    /// - Parameter scales: a float-scale scheme's scales (empty for patterns).
    static func statistics(original tensor: Tensor, quantized values: [Float], scheme: LayerScheme, scales: [Float]) -> QuantizationStatistics {
        let limits: [Double]
        switch scheme {
        case let .pattern(pattern):
            limits = [pattern.maxMagnitude]
        case let .floatScale(_, bits):
            limits = scales.map { Double($0) * Double(FloatScale.levels(bits: bits)) }
        }
        let perLimit = max(1, tensor.count / max(1, limits.count))
        var saturated = 0, zeroed = 0, nonZero = 0
        var squaredError = 0.0
        for (index, (original, quantized)) in zip(tensor.data, values).enumerated() {
            if Double(original.magnitude) > limits[min(index / perLimit, limits.count - 1)] { saturated += 1 }
            if original != 0 {
                nonZero += 1
                if quantized == 0 { zeroed += 1 }
            }
            let error = Double(original - quantized)
            squaredError += error * error
        }
        let count = Double(max(1, tensor.count))
        return QuantizationStatistics(
            saturatedShare: Double(saturated) / count, zeroedShare: nonZero == 0 ? 0 : Double(zeroed) / Double(nonZero),
            meanSquaredError: squaredError / count, scales: scales)
    }
}
