import TensorGraph

/// Reconstruction-based rounding of one layer: every weight still takes a value of its scheme's
/// set, chosen so that the layer's output computed from the *quantized* network's inputs `x~`
/// stays closest to the float layer's output on the float inputs `x`:
/// minimise `sum ||W~ x~ + b~ - (W x + b)||^2` over calibration data.
///
/// Unlike error compensation on float inputs (GPTQ), this also cancels what the layers before
/// already got wrong, and the bias (kept in float) absorbs the mean output shift: bias
/// correction, solved jointly with the weights. The objective is quadratic. With
/// `H = sum x~ x~^T + lambda I` and the ridge target `w* = H^-1 (sum x~ x^T w + lambda w)` of each
/// output row `w`, it equals `(q - w*)^T H (q - w*)` plus a constant. Each row is rounded by
/// GPTQ's error feedback against H, then improved by coordinate descent: a weight moves to a
/// neighbouring value of its set whenever that lowers the exact objective, until a sweep
/// changes nothing.
public enum LayerReconstruction {
    /// Coordinate-descent sweeps per row at most (each stops the row early when nothing moved).
    public static let sweeps = 32

    /// The second moments of a layer's inputs on calibration data, each input vector extended by
    /// a constant 1 (the bias's input): `gram = sum x~ x~^T` of the quantized network's inputs and
    /// `cross = sum x~ x^T` against the float network's, both [size, size] row-major.
    public struct Moments: Sendable {
        /// Inputs per output plus one.
        public let size: Int
        /// `sum x~ x~^T`.
        public var gram: [Double]
        /// `sum x~ x^T`.
        public var cross: [Double]

        /// Zero moments for `inputs` inputs per output (plus the constant).
        public init(inputs: Int) {
            size = inputs + 1
            gram = [Double](repeating: 0, count: size * size)
            cross = gram
        }

        /// Adds a partial sum (single-precision, as the matrix products give it).
        public mutating func add(gram partialGram: [Float], cross partialCross: [Float]) {
            precondition(partialGram.count == gram.count && partialCross.count == cross.count)
            for i in gram.indices {
                gram[i] += Double(partialGram[i])
                cross[i] += Double(partialCross[i])
            }
        }
    }

    /// Re-rounds a layer's weights onto `scheme` against calibration moments.
    /// - Parameters:
    ///   - weights: [outputs, inputs...], K = count / outputs inputs per output.
    ///   - bias: one per output, or nil when the layer has none (the constant input is then unused).
    ///   - scheme: the pattern (or float scale) whose values the weights must take.
    ///   - moments: of size K + 1.
    /// - Returns: the weights (values of the scheme), the corrected bias, and what quantizing did
    ///   to the weights; nil when the moments do not fit or cannot be factored (no calibration signal).
    public static func reconstruct(weights: Tensor, bias: Tensor?, scheme: LayerScheme, moments: Moments)
        -> (weights: Tensor, bias: Tensor?, statistics: QuantizationStatistics)? {
        let rows = weights.shape.rank > 0 ? weights.shape[0] : 1
        let inputs = weights.count / max(1, rows)
        guard rows > 0, inputs > 0, moments.size == inputs + 1, bias.map({ $0.count == rows }) ?? true else { return nil }
        // The variables of one row: its weights, then its bias when it has one.
        let n = inputs + (bias == nil ? 0 : 1)
        let full = moments.size
        var h = [Double](repeating: 0, count: n * n)
        var cross = h
        for i in 0..<n {
            for j in 0..<n {
                h[i * n + j] = moments.gram[i * full + j]
                cross[i * n + j] = moments.cross[i * full + j]
            }
        }
        // Damping is sized by the weights' inputs alone: the constant's moment is just the sample count.
        var meanDiagonal = 0.0
        for i in 0..<inputs { meanDiagonal += h[i * n + i] }
        meanDiagonal /= Double(inputs)
        guard let factors = ErrorCompensation.dampedFactors(h, size: n, scale: meanDiagonal) else { return nil }
        let (damped, lambda) = (factors.damped, factors.lambda)
        let (grids, scales) = valueGrids(weights, scheme: scheme)

        // With a bias, it is solved for in closed form: what the weights see is the Schur complement
        // S = H_ww - h_wb h_bw / H_bb, i.e. the inputs' correlation around their mean.
        var schur = [Double](repeating: 0, count: inputs * inputs)
        for i in 0..<inputs {
            for j in 0..<inputs {
                schur[i * inputs + j] = damped[i * n + j] - (bias == nil ? 0 : damped[i * n + inputs] * damped[inputs * n + j] / damped[inputs * n + inputs])
            }
        }

        var result = [Float](repeating: 0, count: weights.count)
        var newBias = bias?.data ?? []
        var w = [Double](repeating: 0, count: n)
        var target = w, q = w
        for row in 0..<rows {
            let grid = grids[grids.count == 1 ? 0 : row]
            for j in 0..<inputs { w[j] = Double(weights.data[row * inputs + j]) }
            if let bias { w[inputs] = Double(bias.data[row]) }
            // w* = H^-1 (cross w + lambda w): H w* is what the float layer's output asks of x~.
            for i in 0..<n {
                var sum = lambda * w[i]
                for j in 0..<n { sum += cross[i * n + j] * w[j] }
                target[i] = sum
            }
            solve(lower: factors.lower, size: n, &target)
            // GPTQ's pass from the target (the bias, last, absorbs what the weights leave), then descent.
            q = target
            ErrorCompensation.roundWithFeedback(&q, upper: factors.inverseUpper) { column, value in
                column < inputs ? grid[nearestIndex(value, in: grid)] : value
            }
            var rounded = Array(q[0..<inputs])
            var descent = Descent(curvature: schur, size: inputs, target: Array(target[0..<inputs]), grid: grid, start: rounded)
            descent.run(sweeps: sweeps)
            rounded = descent.q
            for j in 0..<inputs { result[row * inputs + j] = Float(rounded[j]) }
            if bias != nil {
                // The bias that is best for these weights.
                var shift = 0.0
                for j in 0..<inputs { shift += damped[inputs * n + j] * (rounded[j] - target[j]) }
                newBias[row] = Float(target[inputs] - shift / damped[inputs * n + inputs])
            }
        }
        let statistics = TensorQuantizer.statistics(original: weights, quantized: result, scheme: scheme, scales: scales)
        return (Tensor(shape: weights.shape, data: result), bias.map { Tensor(shape: $0.shape, data: newBias) }, statistics)
    }

    /// Local search on `(q - t)^T S (q - t)` over q on a grid: single weights moved to a
    /// neighbouring value, then pairs of weights moved together, while the objective falls.
    struct Descent {
        let curvature: [Double]
        let size: Int
        let grid: [Double]
        var q: [Double]
        var index: [Int]
        /// S (q - t), kept current as weights move.
        var gradient: [Double]

        init(curvature: [Double], size: Int, target: [Double], grid: [Double], start: [Double]) {
            self.curvature = curvature
            self.size = size
            self.grid = grid
            q = start
            index = start.map { LayerReconstruction.nearestIndex($0, in: grid) }
            gradient = (0..<size).map { i in (0..<size).reduce(0.0) { $0 + curvature[i * size + $1] * (start[$1] - target[$1]) } }
        }

        mutating func move(_ j: Int, to newIndex: Int) {
            let delta = grid[newIndex] - q[j]
            q[j] = grid[newIndex]
            index[j] = newIndex
            for i in 0..<size { gradient[i] += delta * curvature[i * size + j] }
        }

        /// The objective's exact change when weight j moves by delta.
        func change(_ j: Int, _ delta: Double) -> Double { delta * (2 * gradient[j] + delta * curvature[j * size + j]) }

        /// Single moves until none helps; true when any was made.
        mutating func singles(sweeps: Int) -> Bool {
            var movedAny = false
            for _ in 0..<sweeps {
                var moved = false
                for j in 0..<size {
                    var best = -1e-12 * curvature[j * size + j] * grid[grid.count - 1] * grid[grid.count - 1], bestIndex = index[j]
                    for candidate in stride(from: index[j] - 1, through: index[j] + 1, by: 2) where grid.indices.contains(candidate) {
                        let change = change(j, grid[candidate] - q[j])
                        if change < best { best = change; bestIndex = candidate }
                    }
                    if bestIndex != index[j] {
                        move(j, to: bestIndex)
                        moved = true
                    }
                }
                movedAny = movedAny || moved
                if !moved { break }
            }
            return movedAny
        }

        /// One sweep of pair moves (each weight of the pair one step up or down); true when any was made.
        mutating func pairs() -> Bool {
            var moved = false
            for i in 0..<size {
                for j in (i + 1)..<max(i + 1, size) {
                    let coupling = 2 * curvature[i * size + j]
                    var best = -1e-12 * curvature[i * size + i] * grid[grid.count - 1] * grid[grid.count - 1]
                    var bestMove: (Int, Int)?
                    for a in stride(from: index[i] - 1, through: index[i] + 1, by: 2) where grid.indices.contains(a) {
                        let di = grid[a] - q[i]
                        let alone = change(i, di)
                        for b in stride(from: index[j] - 1, through: index[j] + 1, by: 2) where grid.indices.contains(b) {
                            let dj = grid[b] - q[j]
                            let total = alone + change(j, dj) + coupling * di * dj
                            if total < best { best = total; bestMove = (a, b) }
                        }
                    }
                    if let (a, b) = bestMove {
                        move(i, to: a)
                        move(j, to: b)
                        moved = true
                    }
                }
            }
            return moved
        }

        mutating func run(sweeps: Int) {
            _ = singles(sweeps: sweeps)
            for _ in 0..<sweeps {
                guard pairs() else { break }
                _ = singles(sweeps: sweeps)
            }
        }
    }

    /// The values each row's weights may take, ascending (one grid for all rows unless the scheme
    /// has a scale per output channel), and a float-scale scheme's scales.
    public static func valueGrids(_ weights: Tensor, scheme: LayerScheme) -> (grids: [[Double]], scales: [Float]) {
        switch scheme {
        case let .pattern(pattern):
            // Magnitudes start at 0: mirror the rest below it.
            let magnitudes = pattern.magnitudes.map { Double(Float($0)) }
            return ([magnitudes.dropFirst().reversed().map { -$0 } + magnitudes], [])
        case let .floatScale(method, bits):
            let scales = FloatScale.quantize(weights, method: method, bits: bits).scales
            let levels = Int(FloatScale.levels(bits: bits))
            // The very products plain rounding gives, so every value is one the baseline can write.
            return (scales.map { scale in (-levels...levels).map { Double(Float($0) * scale) } }, scales)
        }
    }

    /// The index of the grid value nearest to `value` (the larger one on a tie).
    public static func nearestIndex(_ value: Double, in grid: [Double]) -> Int {
        var low = 0, high = grid.count - 1
        if value <= grid[low] { return low }
        if value >= grid[high] { return high }
        while high - low > 1 {
            let mid = (low + high) >> 1
            if grid[mid] <= value { low = mid } else { high = mid }
        }
        return value - grid[low] < grid[high] - value ? low : high
    }

    /// Solves (L L^T) x = b in place, L lower triangular [n, n].
    static func solve(lower l: [Double], size n: Int, _ b: inout [Double]) {
        for i in 0..<n {
            var sum = b[i]
            for k in 0..<i { sum -= l[i * n + k] * b[k] }
            b[i] = sum / l[i * n + i]
        }
        for i in stride(from: n - 1, through: 0, by: -1) {
            var sum = b[i]
            for k in (i + 1)..<n { sum -= l[k * n + i] * b[k] }
            b[i] = sum / l[i * n + i]
        }
    }
}
