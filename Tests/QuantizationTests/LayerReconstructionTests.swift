import Testing
@testable import Quantization
import TensorGraph

/// Layer reconstruction against the objective it minimises, computed here directly from the samples.
@Suite struct LayerReconstructionTests {
    typealias Generator = ErrorCompensationTests.Generator

    /// A small layer problem: float inputs x, quantized inputs x~ (x plus noise and a shift), weights and biases.
    struct Problem {
        var rows: Int, features: Int, samples: Int
        var x: [Float], quantizedX: [Float]
        var weights: [Float], bias: [Float]

        /// - Parameter independence: the size of noise added to every input on its own (the shared
        ///   factors are of size 1): the larger, the better conditioned the problem.
        init(rows: Int, features: Int, samples: Int, seed: UInt64, shift: Float = 0.2, noise: Float = 0.1, independence: Float = 0) {
            self.rows = rows
            self.features = features
            self.samples = samples
            var generator = Generator(state: seed &+ 7)
            x = ErrorCompensationTests().correlatedInputs(samples: samples, features: features, seed: seed).map {
                $0 + independence * Float.random(in: -1...1, using: &generator)
            }
            quantizedX = x.enumerated().map { index, value in
                value + (index % features == 0 ? shift : 0) + noise * Float.random(in: -1...1, using: &generator)
            }
            weights = (0..<(rows * features)).map { _ in Float.random(in: -0.4...0.4, using: &generator) }
            bias = (0..<rows).map { _ in Float.random(in: -0.2...0.2, using: &generator) }
        }

        var moments: LayerReconstruction.Moments {
            var moments = LayerReconstruction.Moments(inputs: features)
            let size = features + 1
            var gram = [Float](repeating: 0, count: size * size), cross = gram
            for s in 0..<samples {
                let q = Array(quantizedX[(s * features)..<((s + 1) * features)]) + [1]
                let f = Array(x[(s * features)..<((s + 1) * features)]) + [1]
                for i in 0..<size { for j in 0..<size { gram[i * size + j] += q[i] * q[j]; cross[i * size + j] += q[i] * f[j] } }
            }
            moments.add(gram: gram, cross: cross)
            return moments
        }

        /// The damping the reconstruction adds: 1% of the mean squared input.
        var lambda: Double {
            (0..<(samples * features)).reduce(0.0) { $0 + Double(quantizedX[$1]) * Double(quantizedX[$1]) } / Double(features) * ErrorCompensation.damping
        }

        /// The damped objective of one row: sum over samples of the output error squared, plus lambda
        /// times the squared distance of (q, b~) from (w, b).
        func objective(row: Int, q: [Double], bias newBias: Double) -> Double {
            var total = 0.0
            for s in 0..<samples {
                var error = newBias - Double(bias[row])
                for f in 0..<features {
                    error += q[f] * Double(quantizedX[s * features + f]) - Double(weights[row * features + f]) * Double(x[s * features + f])
                }
                total += error * error
            }
            var distance = (newBias - Double(bias[row])) * (newBias - Double(bias[row]))
            for f in 0..<features { distance += (q[f] - Double(weights[row * features + f])) * (q[f] - Double(weights[row * features + f])) }
            return total + lambda * distance
        }

        /// The bias minimising the objective for weights q (closed form: the objective is quadratic in it).
        func bestBias(row: Int, q: [Double]) -> Double {
            var sum = 0.0
            for s in 0..<samples {
                var target = Double(bias[row])
                for f in 0..<features {
                    target += Double(weights[row * features + f]) * Double(x[s * features + f]) - q[f] * Double(quantizedX[s * features + f])
                }
                sum += target
            }
            return (sum + lambda * Double(bias[row])) / (Double(samples) + lambda)
        }
    }

    func grid(_ pattern: BitPattern) -> [Double] {
        LayerReconstruction.valueGrids(Tensor(shape: [1], data: [0]), scheme: .pattern(pattern)).grids[0]
    }

    @Test(arguments: [1, 2, 3, 4, 5, 6] as [UInt64])
    func resultIsALocalMinimumBelowRoundingToNearest(seed: UInt64) throws {
        let problem = Problem(rows: 5, features: 12, samples: 150, seed: seed)
        let pattern = try BitPattern(parsing: "X0.0XX")
        let weights = Tensor(shape: [problem.rows, problem.features], data: problem.weights)
        let result = try #require(LayerReconstruction.reconstruct(weights: weights, bias: Tensor(shape: [problem.rows], data: problem.bias),
                                                                  scheme: .pattern(pattern), moments: problem.moments))
        let values = grid(pattern)
        let nearest = PatternQuantizer(pattern: pattern, rounding: .nearest)
        for row in 0..<problem.rows {
            let q = (0..<problem.features).map { Double(result.weights.data[row * problem.features + $0]) }
            #expect(q.allSatisfy { values.contains($0) })
            let newBias = try #require(result.bias).data[row]
            let best = problem.bestBias(row: row, q: q)
            #expect(abs(Double(newBias) - best) <= 1e-3 * max(1, abs(best)), "row \(row): bias \(newBias), optimum \(best)")
            let reached = problem.objective(row: row, q: q, bias: best)
            // Rounding each weight to nearest, with the original bias and with the best one.
            let plain = (0..<problem.features).map { Double(nearest.quantize(problem.weights[row * problem.features + $0])) }
            #expect(reached <= problem.objective(row: row, q: plain, bias: Double(problem.bias[row])))
            #expect(reached <= problem.objective(row: row, q: plain, bias: problem.bestBias(row: row, q: plain)) * (1 + 1e-5))
            // No single weight moved to a neighbouring value (bias re-solved) does better.
            for f in 0..<problem.features {
                let index = try #require(values.firstIndex(of: q[f]))
                for neighbour in [index - 1, index + 1] where values.indices.contains(neighbour) {
                    var moved = q
                    moved[f] = values[neighbour]
                    let objective = problem.objective(row: row, q: moved, bias: problem.bestBias(row: row, q: moved))
                    #expect(reached <= objective * (1 + 1e-5), "row \(row) weight \(f): \(reached) vs \(objective)")
                }
            }
        }
    }

    /// A local search finds the optimum when inputs are not too correlated (and cannot be sure to
    /// when they are: strongly correlated inputs have many local minima).
    @Test(arguments: [11, 12, 13] as [UInt64])
    func smallRowsReachTheBruteForceOptimumOrComeClose(seed: UInt64) throws {
        // 3^8 assignments per row of a 2-bit pattern: every one tried.
        let problem = Problem(rows: 4, features: 8, samples: 60, seed: seed, independence: 0.5)
        let pattern = try BitPattern(parsing: "X0.X")
        let result = try #require(LayerReconstruction.reconstruct(
            weights: Tensor(shape: [problem.rows, problem.features], data: problem.weights),
            bias: Tensor(shape: [problem.rows], data: problem.bias), scheme: .pattern(pattern), moments: problem.moments))
        let values = grid(pattern)
        var optimal = 0
        for row in 0..<problem.rows {
            var best = Double.infinity
            for code in 0..<(0..<problem.features).reduce(1, { product, _ in product * 3 }) {
                var rest = code
                let q = (0..<problem.features).map { _ -> Double in
                    defer { rest /= 3 }
                    return values[rest % 3]
                }
                best = min(best, problem.objective(row: row, q: q, bias: problem.bestBias(row: row, q: q)))
            }
            let q = (0..<problem.features).map { Double(result.weights.data[row * problem.features + $0]) }
            let reached = problem.objective(row: row, q: q, bias: problem.bestBias(row: row, q: q))
            #expect(reached >= best * (1 - 1e-9))
            // A local search: allowed to miss the optimum, but not by much.
            #expect(reached <= best * 1.25, "row \(row): \(reached) vs optimum \(best)")
            if reached <= best * (1 + 1e-9) { optimal += 1 }
        }
        #expect(optimal >= problem.rows / 2, "\(optimal) of \(problem.rows) rows optimal")
    }

    @Test func aShiftedInputIsAbsorbedByTheBias() throws {
        // Weights already on the pattern and x~ = x + c in the first feature: the best layer keeps
        // the weights and moves each bias by -w0 * c (up to the damping's pull towards the old bias).
        var problem = Problem(rows: 3, features: 6, samples: 200, seed: 21, shift: 0.5, noise: 0)
        let pattern = try BitPattern(parsing: "X0.XXX")
        let quantizer = PatternQuantizer(pattern: pattern, rounding: .nearest)
        problem.weights = quantizer.quantize(problem.weights)
        let result = try #require(LayerReconstruction.reconstruct(
            weights: Tensor(shape: [problem.rows, problem.features], data: problem.weights),
            bias: Tensor(shape: [problem.rows], data: problem.bias), scheme: .pattern(pattern), moments: problem.moments))
        #expect(result.weights.data == problem.weights)
        for row in 0..<problem.rows {
            let expected = problem.bias[row] - problem.weights[row * problem.features] * 0.5
            #expect(abs(try #require(result.bias).data[row] - expected) < 0.01, "row \(row)")
        }
    }

    @Test func baselineRowsKeepTheirOwnScales() throws {
        let problem = Problem(rows: 4, features: 10, samples: 120, seed: 31)
        let weights = Tensor(shape: [problem.rows, problem.features], data: problem.weights)
        let scheme = LayerScheme.floatScale(.perChannel, bits: 3)
        let result = try #require(LayerReconstruction.reconstruct(weights: weights, bias: nil, scheme: scheme, moments: problem.moments))
        let scales = FloatScale.quantize(weights, method: .perChannel, bits: 3).scales
        #expect(result.statistics.scales == scales)
        for row in 0..<problem.rows {
            for f in 0..<problem.features {
                let value = result.weights.data[row * problem.features + f]
                let level = value / scales[row]
                #expect(abs(level) <= 3 && level == level.rounded(), "row \(row) weight \(f): \(value) is not a level of scale \(scales[row])")
            }
        }
        #expect(result.bias == nil)
    }

    @Test func momentsThatDoNotFitAreRefused() {
        let weights = Tensor(shape: [2, 3], data: [0.1, 0.2, 0.3, 0.4, 0.5, 0.6])
        let scheme = LayerScheme.floatScale(.maxAbs, bits: 4)
        #expect(LayerReconstruction.reconstruct(weights: weights, bias: nil, scheme: scheme, moments: .init(inputs: 4)) == nil)
        // No signal at all: zero moments.
        #expect(LayerReconstruction.reconstruct(weights: weights, bias: nil, scheme: scheme, moments: .init(inputs: 3)) == nil)
    }
}
