import Testing
@testable import BMQKit

/// The search's batch-by-batch stop: a candidate is dropped early only when its per-batch losses
/// sit above the rival's on the same batches by several standard errors.
@Suite struct PairedStoppingTests {
    /// Per-batch losses around `level`, with a seeded wobble of `noise` (shared between calls with the same seed).
    static func losses(_ count: Int, level: Double, noise: Double, seed: Int) -> [Double] {
        (0..<count).map { level + noise * Double((($0 + seed) * 7919) % 13 - 6) / 6 }
    }

    @Test func steadilyWorseBatchesStopAndCloseOrNoisyOnesDoNot() {
        let rival = Self.losses(12, level: 1.0, noise: 0.3, seed: 1)
        // 20% above the rival on every batch: the paired differences are steady.
        #expect(NetworkSearchEvaluator.isSurelyWorse(rival.map { $0 * 1.2 }, than: rival))
        // Equal, better, or above on average by less than the batches' scatter: keep scoring.
        #expect(!NetworkSearchEvaluator.isSurelyWorse(rival, than: rival))
        #expect(!NetworkSearchEvaluator.isSurelyWorse(rival.map { $0 * 0.9 }, than: rival))
        let scattered = zip(rival, Self.losses(12, level: 0.02, noise: 0.5, seed: 5)).map { $0 + $1 }
        #expect(!NetworkSearchEvaluator.isSurelyWorse(scattered, than: rival))
        // Only the batches seen count: a rival with more batches is compared on the first ones.
        #expect(NetworkSearchEvaluator.isSurelyWorse(Array(rival.prefix(10)).map { $0 + 0.1 }, than: rival))
    }
}
