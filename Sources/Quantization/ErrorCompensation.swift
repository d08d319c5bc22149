import TensorGraph

/// Error-compensated rounding (the GPTQ / Optimal Brain Quantization update): weights are
/// rounded one input column at a time, and each column's rounding error is spread over the
/// columns not yet rounded, weighted by the inverse of the layer's input correlation
/// `H = sum x x^T` measured on calibration data. Every result is still a value of the scheme's
/// set (the hardware cost is unchanged); only which neighbour a weight rounds to changes, so
/// that the layer's output error, not each weight's own error, is kept small.
public enum ErrorCompensation {
    /// Relative damping added to H's diagonal (a share of its mean), as GPTQ does, so H is invertible.
    public static let damping = 0.01

    /// What one layer's input correlation contributes: the upper Cholesky factor of the damped H^-1.
    public struct Factor: Sendable {
        let upper: [Double]
        /// Inputs per output (the rows and columns of the correlation matrix).
        public let size: Int

        /// - Parameters:
        ///   - gram: `H`, [size, size] row-major.
        ///   - size: the layer's inputs per output.
        /// - Returns: nil when H cannot be factored even with more damping (round plainly then).
        public init?(gram: [Float], size: Int) {
            guard size > 0, gram.count == size * size, let upper = ErrorCompensation.inverseCholeskyFactor(gram, size: size) else { return nil }
            self.upper = upper
            self.size = size
        }
    }

    /// Quantizes `weights` ([rows, columns] row-major: output channels by inputs) with `round(row, value)`.
    /// - Returns: nil when the factor does not fit the weights.
    public static func quantize(_ weights: [Float], rows: Int, columns: Int, factor: Factor,
                                round: (_ row: Int, _ value: Float) -> Float) -> [Float]? {
        guard rows * columns == weights.count, factor.size == columns else { return nil }
        var result = [Float](repeating: 0, count: weights.count)
        var w = [Double](repeating: 0, count: columns)
        // Row by row: each output channel is independent given H.
        for row in 0..<rows {
            let base = row * columns
            for j in 0..<columns { w[j] = Double(weights[base + j]) }
            roundWithFeedback(&w, upper: factor.upper) { column, value in
                let rounded = round(row, Float(value))
                result[base + column] = rounded
                return Double(rounded)
            }
        }
        return result
    }

    /// Rounds `w` in place column by column with `round(column, value)`, spreading each column's
    /// rounding error over the later columns through U (the upper factor of H^-1, [n, n]).
    static func roundWithFeedback(_ w: inout [Double], upper: [Double], round: (_ column: Int, _ value: Double) -> Double) {
        let columns = w.count
        upper.withUnsafeBufferPointer { u in
            w.withUnsafeMutableBufferPointer { w in
                for i in 0..<columns {
                    let value = w[i]
                    let rounded = round(i, value)
                    w[i] = rounded
                    let error = (value - rounded) / u[i * columns + i]
                    guard error != 0 else { continue }
                    let uRow = u.baseAddress! + i * columns
                    for j in (i + 1)..<columns { w[j] -= error * uRow[j] }
                }
            }
        }
    }

    /// The upper Cholesky factor U of H^-1 (H^-1 = U^T U), with H damped; dead inputs (zero
    /// diagonal) get a unit diagonal so they take plain rounding.
    static func inverseCholeskyFactor(_ gram: [Float], size n: Int) -> [Double]? {
        var h = gram.map(Double.init)
        for i in 0..<n where h[i * n + i] <= 0 {
            for j in 0..<n { h[i * n + j] = 0; h[j * n + i] = 0 }
            h[i * n + i] = 1
        }
        return dampedFactors(h, size: n)?.inverseUpper
    }

    /// H plus the damping that makes it factorable (a share of `scale`, by default H's mean
    /// diagonal, raised tenfold up to three times), the damping added, H's lower Cholesky factor
    /// L, and the upper factor U of its inverse (H^-1 = U^T U); nil when even the largest damping
    /// fails or the scale is not positive.
    static func dampedFactors(_ h: [Double], size n: Int, scale: Double? = nil)
        -> (damped: [Double], lambda: Double, lower: [Double], inverseUpper: [Double])? {
        var mean = 0.0
        for i in 0..<n { mean += h[i * n + i] }
        mean = scale ?? mean / Double(max(1, n))
        guard mean > 0, mean.isFinite else { return nil }
        var damping = damping
        for _ in 0..<4 {
            var damped = h
            for i in 0..<n { damped[i * n + i] += damping * mean }
            if let lower = cholesky(damped, size: n), let inverse = inverseFromCholesky(lower, size: n),
               let inverseLower = cholesky(inverse, size: n) {
                // U = L^T of H^-1's lower factor.
                var upper = [Double](repeating: 0, count: n * n)
                for i in 0..<n { for j in 0...i { upper[j * n + i] = inverseLower[i * n + j] } }
                return (damped, damping * mean, lower, upper)
            }
            damping *= 10
        }
        return nil
    }

    /// Lower-triangular L with A = L L^T, or nil when A is not positive definite.
    static func cholesky(_ a: [Double], size n: Int) -> [Double]? {
        var l = [Double](repeating: 0, count: n * n)
        for i in 0..<n {
            for j in 0...i {
                var sum = a[i * n + j]
                for k in 0..<j { sum -= l[i * n + k] * l[j * n + k] }
                if i == j {
                    guard sum > 0, sum.isFinite else { return nil }
                    l[i * n + i] = sum.squareRoot()
                } else {
                    l[i * n + j] = sum / l[j * n + j]
                }
            }
        }
        return l
    }

    /// A^-1 from A's lower Cholesky factor: (L L^T)^-1 = L^-T L^-1.
    static func inverseFromCholesky(_ l: [Double], size n: Int) -> [Double]? {
        // L^-1, lower triangular, by forward substitution column by column.
        var inverse = [Double](repeating: 0, count: n * n)
        for column in 0..<n {
            inverse[column * n + column] = 1 / l[column * n + column]
            for i in (column + 1)..<max(column + 1, n) {
                var sum = 0.0
                for k in column..<i { sum -= l[i * n + k] * inverse[k * n + column] }
                inverse[i * n + column] = sum / l[i * n + i]
            }
        }
        // A^-1[i][j] = sum_k L^-1[k][i] L^-1[k][j], k >= max(i, j).
        var result = [Double](repeating: 0, count: n * n)
        for i in 0..<n {
            for j in 0...i {
                var sum = 0.0
                for k in i..<n { sum += inverse[k * n + i] * inverse[k * n + j] }
                result[i * n + j] = sum
                result[j * n + i] = sum
            }
        }
        return result.allSatisfy(\.isFinite) ? result : nil
    }
}

extension TensorQuantizer {
    /// Quantizes a weight tensor ([outputs, inputs...]) onto `scheme` with error compensation
    /// against a layer's input correlation; falls back to plain rounding when H cannot be used.
    public static func quantizeCompensated(_ tensor: Tensor, scheme: LayerScheme, rounding: RoundingMode,
                                           factor: ErrorCompensation.Factor) -> (Tensor, QuantizationStatistics) {
        let rows = tensor.shape.rank > 0 ? tensor.shape[0] : 1
        let columns = tensor.count / max(1, rows)
        let round: (Int, Float) -> Float
        var scales: [Float] = []
        switch scheme {
        case let .pattern(pattern):
            let quantizer = PatternQuantizer(pattern: pattern, rounding: rounding)
            round = { quantizer.quantize($1) }
        case let .floatScale(method, bits):
            // The scales come from the original weights, as plain rounding would choose them.
            scales = FloatScale.quantize(tensor, method: method, bits: bits).scales
            let levels = FloatScale.levels(bits: bits)
            round = { [scales] row, value in FloatScale.quantize(value, scale: scales[scales.count == 1 ? 0 : row], levels: levels) }
        }
        guard let values = ErrorCompensation.quantize(tensor.data, rows: rows, columns: columns, factor: factor, round: round) else {
            return quantize(tensor, scheme: scheme, rounding: rounding)
        }
        return (Tensor(shape: tensor.shape, data: values), statistics(original: tensor, quantized: values, scheme: scheme, scales: scales))
    }
}
