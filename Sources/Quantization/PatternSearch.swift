import Foundation

/// How well a quantized network agrees with the float one on the calibration data.
public struct SearchScore: Sendable, Codable, Equatable {
    /// Mean KL divergence of the quantized model's class probabilities from the float model's (nats).
    public var loss: Double
    /// Share of images whose top-1 class equals the float model's.
    public var agreement: Double
    /// Top-1 accuracy against the calibration labels.
    public var accuracy: Double
    /// The KL divergence summed over each calibration batch, in order (empty when the evaluator
    /// does not report it): lets a later scoring compare itself batch by batch with this one.
    public var batchLosses: [Double] = []

    /// A score of `loss`, top-1 `agreement` with the float model and calibration `accuracy`.
    public init(loss: Double, agreement: Double, accuracy: Double, batchLosses: [Double] = []) {
        self.loss = loss
        self.agreement = agreement
        self.accuracy = accuracy
        self.batchLosses = batchLosses
    }

    enum CodingKeys: String, CodingKey { case loss, agreement, accuracy }

    /// Lower loss first; agreement breaks exact ties.
    public func isBetter(than other: SearchScore) -> Bool {
        loss != other.loss ? loss < other.loss : agreement > other.agreement
    }
}

/// What a search needs from an inference engine, layer by layer, so the search itself never runs one.
///
/// Layers are the searched layers in execution order. A checkpoint holds the network's values
/// just before a searched layer (with the earlier layers' schemes applied), so changing only
/// layer `i` re-runs the network from layer `i` on, never the part before it.
public protocol SearchEvaluator: Sendable {
    associatedtype Checkpoint: Sendable

    /// The values just before layer 0, with everything before it in float.
    func start() throws -> Checkpoint
    /// Runs from just before layer `layer` to just before layer `layer + 1`, layer `layer` quantized with `scheme` (nil: float).
    func advance(_ checkpoint: Checkpoint, layer: Int, scheme: LayerScheme?) throws -> Checkpoint
    /// Runs from just before layer `layer` to the output, `schemes[j]` for every layer `j >= layer`, and scores the result.
    /// - Parameters:
    ///   - checkpoint: the live values just before layer `layer`.
    ///   - layer: the first layer run.
    ///   - schemes: the scheme of every searched layer (nil: float).
    ///   - limit: the evaluator may stop and return nil as soon as the loss is sure to exceed
    ///     this (the loss is a mean of non-negative per-image terms, so a partial sum bounds it).
    func score(_ checkpoint: Checkpoint, layer: Int, schemes: [LayerScheme?], stoppingAbove limit: Double?) throws -> SearchScore?
    /// The same, where the limit is `rival`'s loss: the evaluator may also stop once the batches
    /// scored so far show, batch by batch against `rival`'s, that the loss is almost surely above it.
    func score(_ checkpoint: Checkpoint, layer: Int, schemes: [LayerScheme?], below rival: SearchScore) throws -> SearchScore?
    /// The cheapest proxy: the relative squared error of layer `layer`'s weights under `scheme`.
    func weightError(layer: Int, scheme: LayerScheme) -> Double
    /// A cheap proxy: the relative squared error of layer `layer`'s own output on part of the checkpoint's data.
    func outputError(_ checkpoint: Checkpoint, layer: Int, scheme: LayerScheme) throws -> Double
}

extension SearchEvaluator {
    /// Stops only when the loss is sure to exceed the rival's.
    public func score(_ checkpoint: Checkpoint, layer: Int, schemes: [LayerScheme?], below rival: SearchScore) throws -> SearchScore? {
        try score(checkpoint, layer: layer, schemes: schemes, stoppingAbove: rival.loss)
    }
}

/// How the search walks the candidates.
public enum SearchStrategy: String, Sendable, Codable, CaseIterable {
    /// Sensitivity scan, beam search over the layers, then coordinate descent.
    case beam
    /// Every combination of the per-layer shortlists (small nets only).
    case exhaustive
}

/// How the search explores the candidates.
public struct SearchOptions: Sendable {
    /// Beam search with coordinate descent, or every combination.
    public var strategy: SearchStrategy
    /// Candidates per layer kept (by the output-error proxy) for scoring through the network.
    public var shortlist: Int
    /// Candidates per layer kept (by weight error) for the output-error proxy, as a multiple of `shortlist`.
    public var prefilterFactor: Int
    /// States kept after each layer of the beam search.
    public var beamWidth: Int
    /// Candidates per state tried at each beam step (the best of the sensitivity scan).
    public var branching: Int
    /// Coordinate-descent sweeps at most (each stops early when nothing changes).
    public var sweeps: Int
    /// Refuse an exhaustive search of more combinations than this.
    public var exhaustiveLimit: Int
    /// Largest total of stored bits (each layer's width times its weight count) an assignment may
    /// use; nil for no limit. Layers then offer candidates of several widths.
    public var budget: Double?

    /// Search settings; the defaults are the ones the README's figures use.
    public init(strategy: SearchStrategy = .beam, shortlist: Int = 8, prefilterFactor: Int = 3, beamWidth: Int = 3, branching: Int = 4,
                sweeps: Int = 2, exhaustiveLimit: Int = 4096, budget: Double? = nil) {
        self.strategy = strategy
        self.shortlist = shortlist
        self.prefilterFactor = prefilterFactor
        self.beamWidth = beamWidth
        self.branching = branching
        self.sweeps = sweeps
        self.exhaustiveLimit = exhaustiveLimit
        self.budget = budget
    }
}

/// One candidate of one layer as the search saw it.
public struct CandidateScore: Sendable, Codable, Equatable {
    /// The candidate's scheme as text.
    public var scheme: String
    /// Relative squared error of the layer's weights with this scheme (the first filter).
    public var weightError: Double
    /// Relative squared error of the layer's output with this scheme (the shortlist proxy; nil when filtered out before).
    public var outputError: Double?
    /// The network score with only this layer quantized (nil when not shortlisted).
    public var alone: SearchScore?

    enum CodingKeys: String, CodingKey { case scheme, alone; case weightError = "weight_error", outputError = "output_error" }
}

/// The search's findings for one layer.
public struct LayerSearchResult: Sendable, Codable, Equatable {
    /// The layer's name.
    public var layer: String
    /// Stored bits per weight (sign included).
    public var storedBits: Int
    /// Candidates the layer's value range admitted, best proxy first.
    public var candidates: [CandidateScore]
    /// The chosen scheme as text.
    public var chosen: String
    /// Patterns of this width that can express the layer's weights.
    public var expressible: Int
    /// Distinct value sets among them (the candidates actually scored).
    public var distinctSets: Int

    enum CodingKeys: String, CodingKey {
        case layer, candidates, chosen, expressible
        case storedBits = "stored_bits", distinctSets = "distinct_sets"
    }
}

/// The best assignment a search found, with its trail.
public struct SearchResult: Sendable {
    /// The chosen scheme of every searched layer, in search order.
    public var schemes: [LayerScheme]
    /// The chosen assignment's score on the calibration data.
    public var score: SearchScore
    /// What the search found per layer.
    public var layers: [LayerSearchResult]
    /// Network evaluations actually run (repeats are answered from a memo).
    public var evaluations: Int
}

/// Scores known by full assignment, shared by searches over the same evaluator and layers
/// (the same assignment is reached from several phases and families).
public final class SearchMemo: @unchecked Sendable {
    var scores: [[String]: SearchScore] = [:]
    /// Loss lower bounds of assignments whose scoring stopped early.
    var lowerBounds: [[String]: Double] = [:]
    /// An empty memo.
    public init() {}

    static func key(_ schemes: [LayerScheme?]) -> [String] { schemes.map { $0?.text ?? "float" } }

    /// The complete score of an assignment, when a search computed it.
    public func score(of schemes: [LayerScheme?]) -> SearchScore? { scores[Self.key(schemes)] }
}

/// The layers a search covers, each with its candidates, in execution order.
public struct SearchLayer: Sendable {
    /// The layer's name.
    public var name: String
    /// The nominal width; candidates may have other widths under a budget.
    public var storedBits: Int
    /// The schemes the search may give it.
    public var candidates: CandidateSet
    /// Weights in the layer: what one stored bit per weight costs.
    public var weightCount: Int

    /// A layer to search with its candidates; `weightCount` weighs it in an average-bits budget.
    public init(name: String, storedBits: Int, candidates: CandidateSet, weightCount: Int = 1) {
        self.name = name
        self.storedBits = storedBits
        self.candidates = candidates
        self.weightCount = weightCount
    }
}

/// Post-training search for the scheme of every layer that best keeps the float model's outputs.
public final class PatternSearch<Evaluator: SearchEvaluator> {
    /// Called with a phase name, steps done and steps in the phase.
    public typealias Progress = @Sendable (_ phase: String, _ done: Int, _ total: Int) -> Void

    let evaluator: Evaluator
    let layers: [SearchLayer]
    let options: SearchOptions
    let progress: Progress?
    let memo: SearchMemo
    private var evaluations = 0

    /// A search over `layers`' candidates.
    /// - Parameters:
    ///   - evaluator: scores assignments (BMQKit's runs the engine on calibration data).
    ///   - layers: the layers to search, in network order, with their candidates.
    ///   - options: strategy, shortlist and beam settings.
    ///   - memo: scores known from an earlier search with the same evaluator and layers.
    ///   - progress: called with each phase's steps.
    public init(evaluator: Evaluator, layers: [SearchLayer], options: SearchOptions, memo: SearchMemo = SearchMemo(), progress: Progress? = nil) {
        self.evaluator = evaluator
        self.layers = layers
        self.options = options
        self.memo = memo
        self.progress = progress
    }

    /// - Throws: `PlanError` when a layer has no candidate or an exhaustive search is too large;
    ///   whatever the evaluator throws.
    public func run() throws -> SearchResult {
        if let empty = layers.first(where: { $0.candidates.schemes.isEmpty }) {
            throw PlanError("layer '\(empty.name)' has no candidate scheme at \(empty.storedBits) bits (are its weights all zero?)")
        }
        let (shortlists, records) = try scan()
        if let budget = options.budget {
            let narrowest = layers.indices.reduce(0.0) { total, index in total + (shortlists[index].map { cost(index, $0) }.min() ?? 0) }
            guard narrowest <= budget else {
                throw PlanError("the bit budget (\(Int(budget)) stored bits) is below the narrowest candidates' \(Int(narrowest))")
            }
        }
        var best: (schemes: [LayerScheme], score: SearchScore)
        switch options.strategy {
        case .exhaustive:
            best = try exhaustive(shortlists)
        case .beam:
            best = try beam(shortlists)
            best = try descend(from: best, shortlists: shortlists)
        }
        let results = layers.indices.map { index in
            LayerSearchResult(layer: layers[index].name, storedBits: best.schemes[index].storedBits, candidates: records[index],
                              chosen: best.schemes[index].text, expressible: layers[index].candidates.expressible,
                              distinctSets: layers[index].candidates.distinctSets)
        }
        return SearchResult(schemes: best.schemes, score: best.score, layers: results, evaluations: evaluations)
    }

    /// Coordinate-descent sweeps from a complete assignment, each layer trying its shortlist with the
    /// others fixed: a second objective (the integer datapath's) refining what a first search chose.
    /// - Parameters:
    ///   - schemes: the starting scheme of every layer.
    ///   - shortlists: each layer's candidates to try.
    /// - Returns: the best assignment found (the start when nothing beats it), its score, and the
    ///   start's score.
    /// - Throws: whatever the evaluator throws.
    public func refine(from schemes: [LayerScheme], shortlists: [[LayerScheme]]) throws
        -> (schemes: [LayerScheme], score: SearchScore, start: SearchScore, evaluations: Int) {
        guard let startScore = try scored(try evaluator.start(), layer: 0, schemes: schemes.map(Optional.some)) else {
            throw PlanError("the starting assignment could not be scored")
        }
        let (best, score) = try descend(from: (schemes, startScore), shortlists: shortlists)
        return (best, score, startScore, evaluations)
    }

    /// The score of an assignment, or nil when its loss exceeds `rival`'s (surely, or almost surely
    /// by the evaluator's batch-by-batch comparison).
    private func scored(_ checkpoint: Evaluator.Checkpoint, layer: Int, schemes: [LayerScheme?], rival: SearchScore? = nil) throws -> SearchScore? {
        let key = SearchMemo.key(schemes)
        let limit = rival?.loss
        if let known = memo.scores[key] { return limit.map { known.loss <= $0 } ?? true ? known : nil }
        if let limit, let lowerBound = memo.lowerBounds[key], lowerBound > limit { return nil }
        evaluations += 1
        let score = try rival.map { try evaluator.score(checkpoint, layer: layer, schemes: schemes, below: $0) }
            ?? evaluator.score(checkpoint, layer: layer, schemes: schemes, stoppingAbove: nil)
        if let score { memo.scores[key] = score } else if let limit { memo.lowerBounds[key] = max(limit, memo.lowerBounds[key] ?? 0) }
        return score
    }

    /// Stored bits an assignment spends on layer `index` with `scheme`.
    private func cost(_ index: Int, _ scheme: LayerScheme) -> Double { Double(scheme.storedBits * layers[index].weightCount) }

    private func fitsBudget(_ schemes: [LayerScheme]) -> Bool {
        guard let budget = options.budget else { return true }
        return schemes.indices.reduce(0.0) { $0 + cost($1, schemes[$1]) } <= budget
    }

    /// Per layer, in order, with the other layers in float, and per stored width: rank every
    /// candidate by its weight error, the best of those by the layer's output error, and score
    /// the shortlist through the rest of the network. Returns each layer's shortlist, best
    /// network score first, and the record of every candidate (network-scored first, then by proxy).
    private func scan() throws -> ([[LayerScheme]], [[CandidateScore]]) {
        var checkpoint = try evaluator.start()
        var shortlists: [[LayerScheme]] = []
        var records: [[CandidateScore]] = []
        let shortlist = max(1, options.shortlist)
        let widths = layers.map { Set($0.candidates.schemes.map(\.storedBits)).sorted() }
        let total = layers.indices.reduce(0) { total, index in
            total + widths[index].reduce(0) { sum, bits in sum + min(shortlist, layers[index].candidates.schemes.filter { $0.storedBits == bits }.count) }
        }
        var done = 0
        for (index, layer) in layers.enumerated() {
            var scored: [(scheme: LayerScheme, record: CandidateScore, score: SearchScore)] = []
            var proxied: [CandidateScore] = [], rest: [CandidateScore] = []
            var assignment = [LayerScheme?](repeating: nil, count: layers.count)
            for bits in widths[index] {
                var ranked = layer.candidates.schemes.filter { $0.storedBits == bits }.map { scheme in
                    (scheme: scheme, record: CandidateScore(scheme: scheme.text, weightError: evaluator.weightError(layer: index, scheme: scheme)))
                }
                ranked.sort { $0.record.weightError < $1.record.weightError }
                let filtered = min(ranked.count, shortlist * max(1, options.prefilterFactor))
                var byOutput: [(scheme: LayerScheme, record: CandidateScore, error: Double)] = []
                for (scheme, record) in ranked.prefix(filtered) {
                    let error = try evaluator.outputError(checkpoint, layer: index, scheme: scheme)
                    var withError = record
                    withError.outputError = error
                    byOutput.append((scheme, withError, error))
                }
                byOutput.sort { $0.error < $1.error }
                for (position, candidate) in byOutput.enumerated() {
                    guard position < shortlist else { proxied.append(candidate.record); continue }
                    assignment[index] = candidate.scheme
                    var record = candidate.record
                    guard let score = try self.scored(checkpoint, layer: index, schemes: assignment) else { continue }
                    record.alone = score
                    scored.append((candidate.scheme, record, score))
                    done += 1
                    progress?("scan \(layer.name)", done, total)
                }
                rest += ranked.dropFirst(filtered).map(\.record)
            }
            scored.sort { $0.score.isBetter(than: $1.score) }
            shortlists.append(scored.map(\.scheme))
            records.append(scored.map(\.record) + proxied.sorted { ($0.outputError ?? 0) < ($1.outputError ?? 0) }
                           + rest.sorted { $0.weightError < $1.weightError })
            if index + 1 < layers.count { checkpoint = try evaluator.advance(checkpoint, layer: index, scheme: nil) }
        }
        return (shortlists, records)
    }

    /// Layer by layer: extend each kept state with its layer's best candidates (later layers in
    /// float), keep the best `beamWidth`.
    private func beam(_ shortlists: [[LayerScheme]]) throws -> ([LayerScheme], SearchScore) {
        let start = try evaluator.start()
        var states: [(schemes: [LayerScheme], checkpoint: Evaluator.Checkpoint)] = [([], start)]
        var best: [(schemes: [LayerScheme], score: SearchScore, parent: Int)] = []
        let branching = max(1, options.branching)
        // The least the layers after each one can cost, so a state never takes bits the rest will need.
        var cheapestAfter = [Double](repeating: 0, count: layers.count + 1)
        for index in layers.indices.reversed() {
            cheapestAfter[index] = cheapestAfter[index + 1] + (shortlists[index].map { cost(index, $0) }.min() ?? 0)
        }
        for index in layers.indices {
            var expanded: [(schemes: [LayerScheme], score: SearchScore, parent: Int)] = []
            var tried = 0
            for (parent, state) in states.enumerated() {
                let spent = state.schemes.indices.reduce(0.0) { $0 + cost($1, state.schemes[$1]) }
                let affordable = shortlists[index].filter { scheme in
                    options.budget.map { spent + cost(index, scheme) + cheapestAfter[index + 1] <= $0 } ?? true
                }
                for scheme in affordable.prefix(branching) {
                    let schemes = state.schemes + [scheme]
                    let assignment = schemes.map(Optional.some) + [LayerScheme?](repeating: nil, count: layers.count - schemes.count)
                    // Only a score better than the worst one kept so far matters.
                    let rival = expanded.count >= options.beamWidth ? expanded[options.beamWidth - 1].score : nil
                    if let score = try scored(state.checkpoint, layer: index, schemes: assignment, rival: rival) {
                        expanded.append((schemes, score, parent))
                        expanded.sort { $0.score.isBetter(than: $1.score) }
                    }
                    tried += 1
                    progress?("beam \(layers[index].name)", tried, states.count * min(branching, affordable.count))
                }
            }
            best = Array(expanded.prefix(max(1, options.beamWidth)))
            if index + 1 < layers.count {
                states = try best.map { ($0.schemes, try evaluator.advance(states[$0.parent].checkpoint, layer: index, scheme: $0.schemes[index])) }
            }
        }
        guard let winner = best.first else { throw PlanError("the beam search found no assignment within the bit budget") }
        return (winner.schemes, winner.score)
    }

    /// Revisit every layer with the others fixed at their current choice; keep any improvement.
    private func descend(from start: ([LayerScheme], SearchScore), shortlists: [[LayerScheme]]) throws -> ([LayerScheme], SearchScore) {
        var (schemes, score) = start
        for sweep in 0..<max(0, options.sweeps) {
            var changed = false
            var checkpoint = try evaluator.start()
            for index in layers.indices {
                for (tried, candidate) in shortlists[index].enumerated() where candidate != schemes[index] {
                    var trial = schemes
                    trial[index] = candidate
                    guard fitsBudget(trial) else { continue }
                    if let trialScore = try scored(checkpoint, layer: index, schemes: trial.map(Optional.some), rival: score),
                       trialScore.isBetter(than: score) {
                        (schemes, score, changed) = (trial, trialScore, true)
                    }
                    progress?("refine \(sweep + 1) \(layers[index].name)", tried + 1, shortlists[index].count)
                }
                if index + 1 < layers.count { checkpoint = try evaluator.advance(checkpoint, layer: index, scheme: schemes[index]) }
            }
            if !changed { break }
        }
        return (schemes, score)
    }

    /// Every combination of the shortlists, depth first, reusing each prefix's checkpoint.
    private func exhaustive(_ shortlists: [[LayerScheme]]) throws -> ([LayerScheme], SearchScore) {
        let combinations = shortlists.reduce(1) { $0.multipliedReportingOverflow(by: max(1, $1.count)).partialValue }
        guard combinations <= options.exhaustiveLimit else {
            throw PlanError("an exhaustive search would score \(combinations) combinations (limit \(options.exhaustiveLimit)); use the beam strategy or a smaller shortlist")
        }
        var best: ([LayerScheme], SearchScore)?
        var done = 0
        func visit(_ prefix: [LayerScheme], _ checkpoint: Evaluator.Checkpoint) throws {
            let index = prefix.count
            for scheme in shortlists[index] {
                let schemes = prefix + [scheme]
                if index + 1 == layers.count {
                    guard fitsBudget(schemes) else { continue }
                    if let score = try scored(checkpoint, layer: index, schemes: schemes.map(Optional.some), rival: best?.1),
                       best.map({ score.isBetter(than: $0.1) }) ?? true {
                        best = (schemes, score)
                    }
                    done += 1
                    progress?("exhaustive", done, combinations)
                } else {
                    try visit(schemes, try evaluator.advance(checkpoint, layer: index, scheme: scheme))
                }
            }
        }
        try visit([], try evaluator.start())
        guard let best else { throw PlanError("the search had no combination to score") }
        return best
    }
}
