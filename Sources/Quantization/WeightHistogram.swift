import TensorGraph

/// A histogram of a layer's weights with the values a scheme can represent, as in the thesis's figures.
public struct WeightHistogram: Sendable, Codable, Equatable {
    /// The lower edge of the first bin.
    public var lower: Double
    /// The upper edge of the last bin.
    public var upper: Double
    /// Weights per bin.
    public var counts: [Int]
    /// Every representable value (both signs) inside the plotted range.
    public var representable: [Double]

    /// A histogram of `weights` with `scheme`'s representable values (none for nil).
    /// - Parameters:
    ///   - weights: the tensor to count.
    ///   - scheme: the scheme whose values are marked.
    ///   - scales: a float-scale scheme's scales (empty for patterns).
    ///   - bins: number of equal-width bins over a range symmetric around zero that covers
    ///   both the weights and the representable values.
    public init(weights: Tensor, scheme: LayerScheme?, scales: [Float] = [], bins: Int = 64) {
        var values: [Double] = []
        switch scheme {
        case let .pattern(pattern)?:
            let magnitudes = pattern.magnitudes
            values = magnitudes.reversed().map { -$0 } + magnitudes.dropFirst()
        case let .floatScale(_, bits)? where scales.count == 1:
            let levels = (1 << (bits - 1)) - 1
            values = (-levels...levels).map { Double($0) * Double(scales[0]) }
        default:
            values = []  // per-channel scales differ per row; no single set to mark
        }
        let top = max(Double(weights.statistics.absMax), values.map(abs).max() ?? 0, 1e-12) * 1.05
        lower = -top
        upper = top
        var counts = [Int](repeating: 0, count: bins)
        for weight in weights.data where !weight.isNaN {
            let position = (Double(weight) - lower) / (upper - lower) * Double(bins)
            counts[min(bins - 1, max(0, Int(position)))] += 1
        }
        self.counts = counts
        representable = values
    }

    /// The bin index a value falls in.
    public func bin(of value: Double) -> Int {
        min(counts.count - 1, max(0, Int((value - lower) / (upper - lower) * Double(counts.count))))
    }
}
