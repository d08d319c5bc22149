import Foundation
import Testing
@testable import Quantization

@Suite struct CandidateTests {
    /// Every label of `k` stored bits with `n <= maxWidth` and shift 0, by brute force.
    func allLabels(storedBits k: Int, maxWidth: Int) -> [BitPattern] {
        var labels: [BitPattern] = []
        for n in k...maxWidth {
            for masked in PatternCandidates.combinations(of: Array(0...(n - 2)), choose: n - k) {
                if let pattern = try? BitPattern(totalBits: n, masked: masked) { labels.append(pattern) }
            }
        }
        return labels
    }

    @Test(arguments: [2, 3, 4, 5], [0.9, 0.3, 0.12, 0.03])
    func candidatesAreDistinctAndCoverEveryReachingLabel(storedBits: Int, absMax: Double) throws {
        let maxWidth = 10
        let set = PatternCandidates.candidates(family: .masks, storedBits: storedBits, maxWidth: maxWidth, absMax: absMax)
        let labels = allLabels(storedBits: storedBits, maxWidth: maxWidth)
        #expect(set.expressible == labels.count)
        let valueSets = set.schemes.map { scheme -> [Double] in
            guard case let .pattern(pattern) = scheme else { Issue.record("not a pattern: \(scheme)"); return [] }
            #expect(pattern.storedBits == storedBits)
            #expect(pattern.totalBits <= maxWidth || pattern.shift != 0)
            // The label written is the one the pattern parses back to.
            #expect(try! BitPattern(parsing: pattern.label) == pattern)
            return pattern.magnitudes
        }
        #expect(Set(valueSets).count == valueSets.count, "a value set is evaluated twice")
        #expect(set.distinctSets == valueSets.count)
        // Every shift-0 label whose top bit reaches the weights (2^-(t-1) ... 2^-(t+3)) is among the candidates.
        let t = Int((-log2(absMax)).rounded(.up))
        for label in labels where (t - 1)...(t + 3) ~= label.exponents[0] {
            #expect(valueSets.contains(label.magnitudes), "\(label.label) missing")
        }
        // Shifted candidates are genuinely new value sets only where the shift-0 labels cannot reach.
        for case let .pattern(pattern) in set.schemes where pattern.shift != 0 {
            #expect(pattern.exponents[0] < 0 || pattern.exponents.last! > maxWidth - 2)
        }
    }

    @Test func thesisLabelsKeepTheThesisForm() throws {
        #expect(try PatternCandidates.pattern(exponents: [2, 3], maxWidth: 10).label == "5_2_0_1_0")
        #expect(try PatternCandidates.pattern(exponents: [3, 4], maxWidth: 10).label == "6_3_0_1_2_0")
        // Beyond the width, the same set needs a shift: bits 2^-9 and 2^-10.
        #expect(try PatternCandidates.pattern(exponents: [9, 10], maxWidth: 10).label == "3_0_9")
        // Weights above 1 need a negative shift.
        #expect(try PatternCandidates.pattern(exponents: [-1, 0], maxWidth: 10).magnitudes == [0, 1, 2, 3])
    }

    @Test func powerOfTwoFamilyIsEvenlySpaced() {
        let set = PatternCandidates.candidates(family: .pow2, storedBits: 4, maxWidth: 10, absMax: 0.3)
        #expect(set.schemes.count == 5)
        for case let .pattern(pattern) in set.schemes { #expect(pattern.isUniform) }
        let baselines = PatternCandidates.candidates(family: .floatScale, storedBits: 4, maxWidth: 10, absMax: 0.3)
        #expect(baselines.schemes == FloatScaleMethod.allCases.map { .floatScale($0, bits: 4) })
    }

    @Test func nothingToChooseForZeroWeights() {
        #expect(PatternCandidates.candidates(family: .masks, storedBits: 3, maxWidth: 10, absMax: 0).schemes.isEmpty)
    }
}

/// A stand-in engine: the loss of an assignment is a fixed table lookup per layer plus an
/// interaction between neighbouring layers, so the true optimum is known by enumeration.
/// Checkpoints record the schemes applied so far, and every call checks it was handed the
/// checkpoint that matches the schemes it is asked about.
final class TableEvaluator: SearchEvaluator, @unchecked Sendable {
    struct Checkpoint: Sendable { var applied: [String] }

    let candidates: [[LayerScheme]]
    let costs: [[String: Double]]
    let interaction: Double
    private(set) var calls = 0
    private(set) var mismatches: [String] = []
    private let lock = NSLock()

    init(candidates: [[LayerScheme]], seed: UInt64, interaction: Double) {
        var state = seed
        func next() -> Double {
            state = state &* 6364136223846793005 &+ 1442695040888963407
            return Double(state >> 11) / Double(1 << 53)
        }
        self.candidates = candidates
        costs = candidates.map { layer in Dictionary(uniqueKeysWithValues: layer.map { ($0.text, next()) }) }
        self.interaction = interaction
    }

    func loss(_ schemes: [LayerScheme?]) -> Double {
        var total = 0.0
        for (index, scheme) in schemes.enumerated() {
            guard let scheme else { continue }
            total += costs[index][scheme.text]!
            if index > 0, let previous = schemes[index - 1] {
                // Neighbours that share a bit width interact.
                total += previous.storedBits == scheme.storedBits && previous.text != scheme.text ? interaction : 0
            }
        }
        return total
    }

    func start() throws -> Checkpoint { Checkpoint(applied: []) }

    func advance(_ checkpoint: Checkpoint, layer: Int, scheme: LayerScheme?) throws -> Checkpoint {
        check(checkpoint, layer: layer)
        return Checkpoint(applied: checkpoint.applied + [scheme?.text ?? "float"])
    }

    func score(_ checkpoint: Checkpoint, layer: Int, schemes: [LayerScheme?], stoppingAbove limit: Double?) throws -> SearchScore? {
        check(checkpoint, layer: layer)
        let prefix = schemes.prefix(layer).map { $0?.text ?? "float" }
        if prefix != checkpoint.applied { record("checkpoint \(checkpoint.applied) used for \(prefix)") }
        lock.lock()
        calls += 1
        lock.unlock()
        let value = loss(schemes)
        if let limit, value > limit { return nil }
        return SearchScore(loss: value, agreement: 1 - value / 10, accuracy: 0.5)
    }

    func weightError(layer: Int, scheme: LayerScheme) -> Double { costs[layer][scheme.text]! }

    func outputError(_ checkpoint: Checkpoint, layer: Int, scheme: LayerScheme) throws -> Double {
        check(checkpoint, layer: layer)
        return costs[layer][scheme.text]!
    }

    private func check(_ checkpoint: Checkpoint, layer: Int) {
        if checkpoint.applied.count != layer { record("checkpoint after \(checkpoint.applied.count) layers used at layer \(layer)") }
    }

    private func record(_ message: String) {
        lock.lock()
        mismatches.append(message)
        lock.unlock()
    }
}

@Suite struct PatternSearchTests {
    func layers(count: Int, perLayer: Int) throws -> [SearchLayer] {
        try (0..<count).map { index in
            let schemes = try (0..<perLayer).map { LayerScheme.pattern(try BitPattern(totalBits: 3 + $0, masked: Array(0..<$0))) }
            return SearchLayer(name: "layer\(index)", storedBits: 3, candidates: CandidateSet(schemes: schemes, expressible: perLayer, distinctSets: perLayer))
        }
    }

    func optimum(_ evaluator: TableEvaluator) -> Double {
        var best = Double.infinity
        func visit(_ prefix: [LayerScheme]) {
            if prefix.count == evaluator.candidates.count {
                best = min(best, evaluator.loss(prefix))
                return
            }
            for scheme in evaluator.candidates[prefix.count] { visit(prefix + [scheme]) }
        }
        visit([])
        return best
    }

    @Test(arguments: [1, 2, 3, 4, 5] as [UInt64])
    func exhaustiveFindsTheOptimumWithConsistentCheckpoints(seed: UInt64) throws {
        let layers = try layers(count: 4, perLayer: 5)
        let evaluator = TableEvaluator(candidates: layers.map(\.candidates.schemes), seed: seed, interaction: 0.3)
        let search = PatternSearch(evaluator: evaluator, layers: layers, options: SearchOptions(strategy: .exhaustive, shortlist: 5))
        let result = try search.run()
        #expect(evaluator.mismatches.isEmpty, "\(evaluator.mismatches.prefix(3))")
        #expect(abs(result.score.loss - optimum(evaluator)) < 1e-12)
        #expect(abs(evaluator.loss(result.schemes) - result.score.loss) < 1e-12)
        #expect(result.layers.map(\.chosen) == result.schemes.map(\.text))
    }

    @Test(arguments: [1, 2, 3, 4, 5, 6, 7, 8] as [UInt64])
    func beamAndDescentSolveSeparableLossesAndNeverWorsenTheBeam(seed: UInt64) throws {
        let layers = try layers(count: 5, perLayer: 6)
        // Without interaction the loss is separable: the scan alone already knows the optimum.
        let separable = TableEvaluator(candidates: layers.map(\.candidates.schemes), seed: seed, interaction: 0)
        let result = try PatternSearch(evaluator: separable, layers: layers, options: SearchOptions(shortlist: 6)).run()
        #expect(separable.mismatches.isEmpty, "\(separable.mismatches.prefix(3))")
        #expect(abs(result.score.loss - optimum(separable)) < 1e-12)

        // With interaction, descent from the beam's answer can only improve it.
        let coupled = TableEvaluator(candidates: layers.map(\.candidates.schemes), seed: seed, interaction: 0.25)
        let beamOnly = try PatternSearch(evaluator: coupled, layers: layers, options: SearchOptions(shortlist: 6, sweeps: 0)).run()
        let refined = try PatternSearch(evaluator: coupled, layers: layers, options: SearchOptions(shortlist: 6, sweeps: 3)).run()
        #expect(coupled.mismatches.isEmpty, "\(coupled.mismatches.prefix(3))")
        #expect(refined.score.loss <= beamOnly.score.loss)
        #expect(refined.score.loss >= optimum(coupled) - 1e-12)
    }

    @Test func scanRecordsEveryCandidateAndShortlistsByProxy() throws {
        let layers = try layers(count: 2, perLayer: 7)
        let evaluator = TableEvaluator(candidates: layers.map(\.candidates.schemes), seed: 9, interaction: 0)
        let result = try PatternSearch(evaluator: evaluator, layers: layers, options: SearchOptions(shortlist: 3, prefilterFactor: 2)).run()
        for (layer, record) in zip(layers, result.layers) {
            #expect(record.candidates.count == layer.candidates.schemes.count)
            #expect(record.candidates.filter { $0.alone != nil }.count == 3)
            #expect(record.candidates.filter { $0.outputError != nil }.count == 6)
            // Network-scored candidates come first, best first.
            let scored = record.candidates.prefix(3).map { $0.alone!.loss }
            #expect(scored == scored.sorted())
        }
    }

    @Test func tooLargeExhaustiveSearchAndEmptyLayersAreRefused() throws {
        let layers = try layers(count: 3, perLayer: 4)
        let evaluator = TableEvaluator(candidates: layers.map(\.candidates.schemes), seed: 1, interaction: 0)
        #expect(throws: PlanError.self) {
            try PatternSearch(evaluator: evaluator, layers: layers, options: SearchOptions(strategy: .exhaustive, shortlist: 4, exhaustiveLimit: 10)).run()
        }
        var empty = layers
        empty[1].candidates.schemes = []
        #expect(throws: PlanError.self) { try PatternSearch(evaluator: evaluator, layers: empty, options: SearchOptions()).run() }
    }
}

@Suite struct ErrorCompensationTests {
    struct Generator: RandomNumberGenerator {
        var state: UInt64
        mutating func next() -> UInt64 {
            state = state &* 6364136223846793005 &+ 1442695040888963407
            return state ^ (state >> 29)
        }
    }

    /// Inputs with strongly correlated features: a few shared factors plus noise, [samples, features].
    func correlatedInputs(samples: Int, features: Int, seed: UInt64) -> [Float] {
        var generator = Generator(state: seed)
        let mixing = (0..<(3 * features)).map { _ in Float.random(in: -1...1, using: &generator) }
        return (0..<samples).flatMap { _ -> [Float] in
            let factors = (0..<3).map { _ in Float.random(in: -1...1, using: &generator) }
            return (0..<features).map { f in
                factors.indices.reduce(Float(0)) { $0 + factors[$1] * mixing[$1 * features + f] } + 0.1 * Float.random(in: -1...1, using: &generator)
            }
        }
    }

    func gram(_ x: [Float], samples: Int, features: Int) -> [Float] {
        var h = [Float](repeating: 0, count: features * features)
        for s in 0..<samples {
            for i in 0..<features { for j in 0..<features { h[i * features + j] += x[s * features + i] * x[s * features + j] } }
        }
        return h
    }

    func outputError(_ w: [Float], _ q: [Float], x: [Float], rows: Int, samples: Int, features: Int) -> Double {
        var total = 0.0
        for r in 0..<rows {
            for s in 0..<samples {
                var d = 0.0
                for f in 0..<features { d += Double(q[r * features + f] - w[r * features + f]) * Double(x[s * features + f]) }
                total += d * d
            }
        }
        return total
    }

    @Test func inverseFactorInvertsTheDampedGram() throws {
        let n = 12
        let h = gram(correlatedInputs(samples: 40, features: n, seed: 3), samples: 40, features: n)
        let lower = try #require(ErrorCompensation.cholesky(h.map(Double.init), size: n))
        let inverse = try #require(ErrorCompensation.inverseFromCholesky(lower, size: n))
        for i in 0..<n {
            for j in 0..<n {
                let product = (0..<n).reduce(0.0) { $0 + Double(h[i * n + $1]) * inverse[$1 * n + j] }
                #expect(abs(product - (i == j ? 1 : 0)) < 1e-6, "H H^-1 at \(i),\(j) is \(product)")
            }
        }
    }

    @Test func uncorrelatedInputsGivePlainRounding() throws {
        let n = 10, rows = 4
        var identity = [Float](repeating: 0, count: n * n)
        for i in 0..<n { identity[i * n + i] = 1 }
        let weights = (0..<(rows * n)).map { Float(($0 * 37) % 19 - 9) / 30 }
        let quantizer = PatternQuantizer(pattern: try BitPattern(parsing: "X0.0XX"), rounding: .nearest)
        let factor = try #require(ErrorCompensation.Factor(gram: identity, size: n))
        let compensated = try #require(ErrorCompensation.quantize(weights, rows: rows, columns: n, factor: factor) { quantizer.quantize($1) })
        #expect(compensated == quantizer.quantize(weights))
    }

    @Test(arguments: [1, 2, 3, 4] as [UInt64])
    func compensationLowersTheOutputErrorAndStaysOnThePattern(seed: UInt64) throws {
        let (rows, features, samples) = (6, 16, 200)
        var generator = Generator(state: seed &+ 100)
        let weights = (0..<(rows * features)).map { _ in Float.random(in: -0.3...0.3, using: &generator) }
        let x = correlatedInputs(samples: samples, features: features, seed: seed)
        let pattern = try BitPattern(parsing: "X0.0XX")
        let quantizer = PatternQuantizer(pattern: pattern, rounding: .nearest)
        let plain = quantizer.quantize(weights)
        let factor = try #require(ErrorCompensation.Factor(gram: gram(x, samples: samples, features: features), size: features))
        let compensated = try #require(ErrorCompensation.quantize(weights, rows: rows, columns: features, factor: factor) { quantizer.quantize($1) })
        let values = Set(pattern.magnitudes.map(Float.init))
        #expect(compensated.allSatisfy { values.contains($0.magnitude) })
        let plainError = outputError(weights, plain, x: x, rows: rows, samples: samples, features: features)
        let compensatedError = outputError(weights, compensated, x: x, rows: rows, samples: samples, features: features)
        #expect(compensatedError < plainError, "compensated \(compensatedError) vs plain \(plainError)")
    }
}

@Suite struct BudgetSearchTests {
    /// Layers offering widths 2, 3 and 4 (two patterns each), with different weight counts.
    func layers() throws -> [SearchLayer] {
        try [100, 1000, 10].enumerated().map { index, weights in
            let schemes = try [2, 3, 4].flatMap { bits in
                try (0..<2).map { shift in LayerScheme.pattern(try BitPattern(totalBits: bits + shift, masked: Array(0..<shift))) }
            }
            return SearchLayer(name: "layer\(index)", storedBits: 3, candidates: CandidateSet(schemes: schemes, expressible: 6, distinctSets: 6),
                               weightCount: weights)
        }
    }

    func cost(_ schemes: [LayerScheme], _ layers: [SearchLayer]) -> Int {
        zip(schemes, layers).reduce(0) { $0 + $1.0.storedBits * $1.1.weightCount }
    }

    @Test(arguments: [1, 2, 3] as [UInt64])
    func searchesStayWithinTheBudgetAndExhaustiveFindsTheBestThatFits(seed: UInt64) throws {
        let layers = try layers()
        let budget = 2.5 * 1110
        let evaluator = TableEvaluator(candidates: layers.map(\.candidates.schemes), seed: seed, interaction: 0)
        let exhaustive = try PatternSearch(evaluator: evaluator, layers: layers,
                                           options: SearchOptions(strategy: .exhaustive, shortlist: 2, budget: budget)).run()
        let beam = try PatternSearch(evaluator: evaluator, layers: layers, options: SearchOptions(shortlist: 2, budget: budget)).run()
        #expect(evaluator.mismatches.isEmpty)
        #expect(Double(cost(exhaustive.schemes, layers)) <= budget)
        #expect(Double(cost(beam.schemes, layers)) <= budget)
        #expect(exhaustive.score.loss <= beam.score.loss + 1e-12)
        // Brute force over every assignment that fits.
        var best = Double.infinity
        for a in layers[0].candidates.schemes {
            for b in layers[1].candidates.schemes {
                for c in layers[2].candidates.schemes where Double(cost([a, b, c], layers)) <= budget {
                    best = min(best, evaluator.loss([a, b, c]))
                }
            }
        }
        #expect(abs(exhaustive.score.loss - best) < 1e-12)
    }

    @Test func aBudgetBelowTheNarrowestCandidatesIsRefused() throws {
        let layers = try layers()
        let evaluator = TableEvaluator(candidates: layers.map(\.candidates.schemes), seed: 1, interaction: 0)
        #expect(throws: PlanError.self) {
            try PatternSearch(evaluator: evaluator, layers: layers, options: SearchOptions(shortlist: 2, budget: 1.5 * 1110)).run()
        }
    }
}
