@testable import BMQKit
import Foundation
import Quantization
import TensorGraph
import Testing

/// The pieces of learned rounding that can be checked on their own.
@Suite struct LearnedRoundingTests {
    @Test func shareIsTheRectifiedSigmoidAndItsInverse() {
        for h in [0.01, 0.15, 0.5, 0.9, 0.99] {
            let (share, slope) = LearnedRounding.Layer.share(LearnedRounding.Layer.variable(forShare: h))
            #expect(abs(share - h) < 1e-12)
            // The slope against a central difference.
            let v = LearnedRounding.Layer.variable(forShare: h), step = 1e-6
            let numeric = (LearnedRounding.Layer.share(v + step).h - LearnedRounding.Layer.share(v - step).h) / (2 * step)
            #expect(abs(numeric - slope) < 1e-6)
        }
        // Clipped at both ends: exactly 0 and 1, with no slope.
        #expect(LearnedRounding.Layer.share(-10) == (0, 0) && LearnedRounding.Layer.share(10) == (1, 0))
    }

    @Test func divergenceGradientMatchesCentralDifferences() {
        let scores = Tensor(shape: [2, 4], data: [0.3, -1.2, 2.0, 0.1, 1.5, 0.2, -0.4, 0.9])
        let reference = NetworkSearchEvaluator.logProbabilities(Tensor(shape: [2, 4], data: [0.1, 0.4, 1.0, -0.5, 2.0, -1.0, 0.0, 0.5]),
                                                                areProbabilities: false)
        func meanDivergence(_ scores: Tensor) -> Double {
            let logs = NetworkSearchEvaluator.logProbabilities(scores, areProbabilities: false)
            return zip(reference, logs).reduce(0.0) { $0 + Foundation.exp($1.0) * ($1.0 - $1.1) } / 2
        }
        let gradient = LearnedRounding.divergenceGradient(scores, reference: reference)
        for i in scores.data.indices {
            var plus = scores, minus = scores
            plus.data[i] += 1e-3
            minus.data[i] -= 1e-3
            let numeric = (meanDivergence(plus) - meanDivergence(minus)) / 2e-3
            #expect(abs(numeric - Double(gradient.data[i])) < 1e-4, "score \(i)")
        }
    }

    @Test func adamMovesAgainstTheGradientByAboutTheRate() {
        var moments = LearnedRounding.AdamMoments(count: 2)
        var variables = [1.0, -1.0]
        moments.step(&variables, gradient: [3, -0.001], rate: 0.1, t: 1)
        // The first bias-corrected step is the rate times the gradient's sign.
        #expect(abs(variables[0] - 0.9) < 1e-6 && abs(variables[1] + 0.9) < 1e-4)
    }
}
