import Datasets
import Foundation
import Inference
import Quantization
import TensorGraph

/// Stored bits per layer: one width for every selected layer, and per-layer overrides.
public struct BitWidths: Sendable, Equatable {
    /// The width of every selected layer, if given.
    public var all: Int?
    /// Widths of named layers, overriding `all`.
    public var perLayer: [String: Int]

    /// Widths for every layer and for named layers.
    public init(all: Int? = nil, perLayer: [String: Int] = [:]) {
        self.all = all
        self.perLayer = perLayer
    }

    /// Parses `3`, `conv1=4,ip1=2`, or both (`3,ip2=4`).
    /// - Throws: `PlanError` naming the part that is not a width from 2 to 16.
    public init(parsing text: String) throws {
        self.init()
        for part in text.split(separator: ",").map({ $0.trimmingCharacters(in: .whitespaces) }) {
            let pieces = part.split(separator: "=", maxSplits: 1).map(String.init)
            guard let bits = Int(pieces.last ?? ""), (2...16).contains(bits) else {
                throw PlanError("bit width '\(part)' must be K or LAYER=K with K from 2 to 16 stored bits (sign included)")
            }
            if pieces.count == 2 {
                perLayer[pieces[0]] = bits
            } else {
                guard all == nil else { throw PlanError("two widths for every layer in '\(text)'; name layers as LAYER=K") }
                all = bits
            }
        }
        if all == nil && perLayer.isEmpty { throw PlanError("no bit width given") }
    }

    /// The searched layers of `graph` with their widths, in graph order.
    /// - Throws: `PlanError` for a named layer that is missing or has no weights.
    public func layers(in graph: Graph, selection: LayerSelection) throws -> [(name: String, bits: Int)] {
        for name in perLayer.keys { try PlanError.checkWeightLayer(name, in: graph) }
        let selected = all == nil ? [] : try selection.layers(in: graph)
        return graph.nodes.compactMap { node in
            if let bits = perLayer[node.name] { return (node.name, bits) }
            if let all, selected.contains(node.name) { return (node.name, all) }
            return nil
        }
    }
}

/// What `bmq search` asks for.
public struct SearchRequest: Sendable {
    /// The model's files and preprocessing overrides.
    public var model: ModelSource
    /// The calibration images the patterns are chosen on; nil for the training images the net's
    /// TRAIN-phase data layer names.
    public var calibration: URL?
    /// The calibration set's layout, when content detection should not decide.
    public var calibrationFormat: DatasetFormat?
    /// Use only the first calibration images (5,000 by default).
    public var calibrationLimit: Int?
    /// Draw the `calibrationLimit` images at random from the whole set with this seed, instead of taking the first.
    public var calibrationSeed: UInt64?
    /// The test set, used only to report the final numbers.
    public var test: URL?
    /// The test set's layout, when content detection should not decide.
    public var testFormat: DatasetFormat?
    /// Use only the first test images.
    public var testLimit: Int?
    /// Stored bits per layer (sign included).
    public var bits: BitWidths
    /// The layers searched.
    public var layers: LayerSelection
    /// The candidates: bit masks, powers of two only, or float-scale baselines.
    public var family: CandidateFamily
    /// The widest word a candidate pattern may describe.
    public var maxWidth: Int
    /// How weights are rounded onto a candidate.
    public var rounding: RoundingMode
    /// Strategy, shortlist and beam settings.
    public var options: SearchOptions
    /// Images per forward pass.
    public var batchSize: Int
    /// Also score plain k-bit, power-of-two-only and the float-scale baselines for the final table.
    public var compare: Bool
    /// Calibration images whose layer inputs drive error-compensated rounding; 0 rounds each weight plainly.
    public var compensationImages: Int
    /// How the final weights are rounded when `compensationImages` is positive: GPTQ-style per layer,
    /// or layer reconstruction (the search then scores candidates with GPTQ-style weights, and the
    /// final table and the saved model use the reconstructed ones). The integer objective always
    /// uses GPTQ-style weights: its refinement replaces one layer's weights at a time.
    public var compensation: CompensationMethod
    /// Training steps of learned rounding (`adaround`), one calibration batch each.
    public var learningSteps: Int
    /// Enough for the CIFAR-10 nets' 2-bit loss to settle (2,000 steps of 100 images).
    public static let defaultLearningSteps = 2000
    /// A budget of stored bits per weight, averaged over the searched layers' weights: each layer
    /// may then take a width from one below floor(budget) to one above ceil(budget). nil: `bits` per layer.
    public var averageBits: Double?
    /// A total for the searched layers' weights instead (memory bits or shift-add terms), which
    /// the search meets as the average it comes to; nil: `bits` or `averageBits`.
    public var budget: WeightBudget?
    /// Total bits of the integer datapath's activation formats, chosen after the weights on the
    /// calibration images and recorded in the plan; nil leaves the plan without them.
    public var activationBits: ActivationWidths?
    /// What the search minimises: the float-activation network's divergence from the float model
    /// (`float`), or, after that search, the integer datapath's (`integer`: coordinate descent over
    /// the shortlists with the activation formats fixed; needs `activationBits`).
    public var objective: Datapath

    /// Checks the request's values.
    /// - Throws: `RequestError` for a batch size, maximum width or average-bits budget out of range.
    public init(model: ModelSource, calibration: URL?, calibrationFormat: DatasetFormat? = nil, calibrationLimit: Int? = 5000,
                calibrationSeed: UInt64? = nil, test: URL? = nil, testFormat: DatasetFormat? = nil, testLimit: Int? = nil, bits: BitWidths,
                layers: LayerSelection = .all, family: CandidateFamily = .masks, maxWidth: Int = 10, rounding: RoundingMode = .nearest,
                options: SearchOptions = SearchOptions(), batchSize: Int = 100, compare: Bool = true, compensationImages: Int = 0,
                compensation: CompensationMethod = .best, learningSteps: Int = SearchRequest.defaultLearningSteps, averageBits: Double? = nil, budget: WeightBudget? = nil, activationBits: ActivationWidths? = nil, objective: Datapath = .float) throws {
        guard batchSize > 0 else { throw RequestError(.batchSize, "\(.batchSize) must be positive") }
        if let calibrationLimit, calibrationLimit <= 0 { throw RequestError(.calibrationLimit, "\(.calibrationLimit) must be positive") }
        if let testLimit, testLimit <= 0 { throw RequestError(.limit, "\(.limit) must be positive") }
        guard learningSteps > 0 else { throw RequestError(.learningSteps, "\(.learningSteps) must be positive") }
        if objective == .integer, activationBits == nil {
            throw RequestError(.objective, "\(.objective) integer needs the activation formats' widths: give \(.activationBits)")
        }
        self.objective = objective
        if activationBits != nil, family == .floatScale {
            throw RequestError(.activationBits, "the integer datapath needs bit patterns; float-scale baselines need a multiplier")
        }
        self.activationBits = activationBits
        guard (2...BitPattern.maxTotalBits).contains(maxWidth) else {
            throw RequestError(.maxWidth, "\(.maxWidth) \(maxWidth) must be between 2 and \(BitPattern.maxTotalBits)")
        }
        if let averageBits, !(averageBits >= 2 && averageBits <= Double(maxWidth)) {
            throw RequestError(.averageBits, "\(.averageBits) \(averageBits) must be between 2 and \(.maxWidth) \(maxWidth)")
        }
        self.model = model
        self.calibration = calibration
        self.calibrationFormat = calibrationFormat
        self.calibrationLimit = calibrationLimit
        self.calibrationSeed = calibrationSeed
        self.test = test
        self.testFormat = testFormat
        self.testLimit = testLimit
        self.bits = bits
        self.layers = layers
        self.family = family
        self.maxWidth = maxWidth
        self.rounding = rounding
        self.options = options
        self.batchSize = batchSize
        self.compare = compare
        self.compensationImages = compensationImages
        self.compensation = compensation
        self.learningSteps = learningSteps
        self.averageBits = averageBits
        if budget != nil, averageBits != nil { throw RequestError(.budget, "give either \(.budget) or \(.averageBits), not both") }
        self.budget = budget
    }
}

/// One row of the final table: a configuration scored on calibration data and, when given, tested.
public struct SearchComparison: Sendable, Codable {
    /// The configuration's name (float, plain k-bit, best masks, ...).
    public var name: String
    /// What the configuration is.
    public var note: String
    /// Layer → scheme text; empty for the float model.
    public var schemes: [String: String]
    /// Its score on the calibration data.
    public var calibration: SearchScore
    /// Its accuracy on the test set, when one was given.
    public var test: EvaluationResult?
}

/// A dataset a search read.
public struct DataSummary: Sendable, Codable {
    /// The file.
    public var source: String
    /// Its layout.
    public var format: String
    /// Images used.
    public var images: Int
    /// The seed that drew them at random from the set, when they are not its first images.
    public var seed: UInt64? = nil
}

/// Everything a search found, for the plan file, the terminal, `--json` and the HTML report.
public struct SearchReport: Sendable, Codable {
    /// The model's name.
    public var model: String
    /// The calibration images.
    public var calibration: DataSummary
    /// The test images, when given.
    public var test: DataSummary?
    /// The candidate family searched.
    public var family: CandidateFamily
    /// The search strategy.
    public var strategy: SearchStrategy
    /// How weights were rounded.
    public var rounding: RoundingMode
    /// Whether weights were rounded with error compensation (then the plan alone does not reproduce them).
    public var compensated: Bool
    /// The widest word a candidate could describe.
    public var maxWidth: Int
    /// The chosen plan.
    public var plan: QuantizationPlan
    /// Stored bits of the searched layers' weights in all, sign bits included.
    public var storedBits: Int
    /// Shift-add terms of the searched layers' weights in all: their stored magnitude bits.
    public var shiftAddTerms: Int
    /// Stored bits per weight of the chosen plan, averaged over the searched layers' weights.
    public var averageStoredBits: Double
    /// What the search found per layer.
    public var layers: [LayerSearchResult]
    /// The chosen scheme's weight histogram with its representable values, per layer.
    public var histograms: [String: WeightHistogram]
    /// The final table: float, plain k-bit, power-of-two only, the best masks and the baselines.
    public var comparison: [SearchComparison]
    /// Network evaluations the search scored.
    public var evaluations: Int
    /// Seconds spent searching.
    public var searchSeconds: Double
    /// Seconds for the whole request, final table included.
    public var totalSeconds: Double
    /// The model with the chosen weights, exactly as scored (not part of the JSON).
    public var quantizedGraph: Graph?
    /// The chosen weights run on the integer datapath, when activation bits were asked for.
    public var integer: IntegerSearchResult?

    enum CodingKeys: String, CodingKey {
        case model, calibration, test, family, strategy, rounding, compensated, plan, layers, histograms, comparison, evaluations, integer
        case maxWidth = "max_width", searchSeconds = "search_seconds", totalSeconds = "total_seconds"
        case averageStoredBits = "average_stored_bits", storedBits = "stored_bits", shiftAddTerms = "shift_add_terms"
    }
}

/// The searched weights on the integer datapath (`formats/datapath/SPEC.md`).
public struct IntegerSearchResult: Sendable, Codable {
    /// One Convolution or InnerProduct layer.
    public struct Layer: Sendable, Codable {
        /// The layer's name.
        public var name: String
        /// Its output format (`u8.3`: unsigned, 8 bits, 3 fractional).
        public var format: String
        /// Accumulator bits that no input can overflow.
        public var accumulatorBits: Int
        /// The share of outputs saturated on the test images (calibration when no test set).
        public var saturated: Double
        /// The share of outputs saturated on the calibration images.
        public var calibrationSaturated: Double

        enum CodingKeys: String, CodingKey {
            case name, format, saturated
            case accumulatorBits = "accumulator_bits", calibrationSaturated = "calibration_saturated"
        }
    }

    /// Total bits of the activation formats (of those not given their own width).
    public var activationBits: Int
    /// The input's format.
    public var inputFormat: String
    /// Per layer: format, accumulator width, saturation.
    public var layers: [Layer]
    /// Accuracy on the calibration images.
    public var calibration: EvaluationResult
    /// Accuracy on the test images, when given.
    public var test: EvaluationResult?
    /// Each activation's calibration values against its format's range (the input first).
    public var profiles: [ActivationProfile]
    /// What the integer objective changed, when the search used it.
    public var refinement: IntegerRefinement?

    enum CodingKeys: String, CodingKey {
        case layers, calibration, test, profiles, refinement
        case activationBits = "activation_bits", inputFormat = "input_format"
    }
}

/// The integer objective's refinement of the float search's choice (`formats/datapath/SPEC.md`).
public struct IntegerRefinement: Sendable, Codable {
    /// The float search's choice scored on the integer datapath (calibration images).
    public var start: SearchScore
    /// The refined choice's integer score (never worse than `start`).
    public var result: SearchScore
    /// Integer network evaluations run.
    public var evaluations: Int
    /// Layers whose pattern changed.
    public var changed: [String]
    /// Seconds the refinement took.
    public var seconds: Double
}

/// The search use case (`bmq search`): each layer's pattern chosen on calibration data.
public enum SearchPipeline {
    /// Called with a phase name, steps done and steps in the phase.
    public typealias Progress = @Sendable (_ phase: String, _ done: Int, _ total: Int) -> Void

    /// Searches every selected layer's scheme on the calibration data, then tests the result.
    /// - Throws: `FormatError`, `GraphError`, `PlanError` or `RequestError` naming the file, layer or field at fault.
    public static func run(_ request: SearchRequest, progress: Progress? = nil) throws -> SearchReport {
        let started = Date()
        // Without files, the net's own sources: TRAIN for calibration, TEST (when present) for the final table.
        // A seed draws the images from the whole set; without one they are its first.
        let topology = try ModelLoader.topology(of: request.model)
        let seed = request.calibrationSeed
        let all = try Evaluation.images(request.calibration, format: request.calibrationFormat, formatField: .calibrationFormat,
                                        model: request.model, topology: topology, limit: seed == nil ? request.calibrationLimit : nil, training: true)
        let calibration = seed.map { all.randomSubset(count: request.calibrationLimit ?? all.count, seed: $0) } ?? all.prefix(request.calibrationLimit)
        guard calibration.count > 0 else { throw FormatError(file: calibration.source, "holds no images") }
        let test = request.test == nil && ModelLoader.presentDataSource(of: topology, workingDirectory: request.model.workingDirectory) == nil ? nil
            : try Evaluation.images(request.test, format: request.testFormat, formatField: .dataFormat, model: request.model, topology: topology,
                                    limit: request.testLimit, training: false).prefix(request.testLimit)
        if let test, test.imageShape != calibration.imageShape {
            throw FormatError(file: test.source, "images are \(test.imageShape), the calibration images are \(calibration.imageShape)")
        }
        let model = try ModelLoader.load(request.model, imageShape: calibration.imageShape, topology: topology)
        // For the integer datapath the weights are searched with BatchNorm and Scale folded in.
        let graph = request.activationBits == nil ? model.graph : model.graph.foldingBatchNorm()
        let widths = try request.bits.layers(in: graph, selection: request.layers)
        guard !widths.isEmpty else { throw PlanError("no weight layer selected to search") }
        if request.objective == .integer, let unsearched = graph.nodes.first(where: { node in
            node.op.hasWeights && !widths.contains { $0.name == node.name }
        }) {
            throw RequestError(.objective, "\(.objective) integer runs the whole network in integers: layer '\(unsearched.name)' must be searched too")
        }
        for (name, bits) in widths where request.family != .floatScale && bits > request.maxWidth {
            throw RequestError(.maxWidth, "layer '\(name)': \(bits) stored bits do not fit in \(.maxWidth) \(request.maxWidth)")
        }

        // The integer refinement swaps one layer's weights at a time, so it keeps each layer's own (GPTQ) weights.
        let method = request.objective == .integer ? CompensationMethod.gptq : request.compensation
        let evaluator = try NetworkSearchEvaluator(graph: graph, layers: widths.map(\.name), calibration: calibration,
                                                   batchSize: request.batchSize, rounding: request.rounding,
                                                   compensationImages: request.compensationImages,
                                                   reconstructionImages: method == .gptq ? 0 : request.compensationImages)
        if method == .adaround {
            var settings = LearnedRounding.Settings()
            settings.iterations = request.learningSteps
            evaluator.learning = settings
        }
        evaluator.progress = progress
        var options = request.options
        let weightCounts = widths.map { graph.node(named: $0.name)?.parameters.first?.count ?? 0 }
        let totalWeights = weightCounts.reduce(0, +)
        let averageBits = request.averageBits ?? request.budget.map { $0.averageBits(over: totalWeights) }
        if let budget = request.budget, let average = averageBits, !(average >= 2 && average <= Double(request.maxWidth)) {
            throw RequestError(.budget, "\(.budget) \(budget) comes to \(String(format: "%.3f", average)) stored bits for each of the \(totalWeights) weights searched; it must come to between 2 and \(.maxWidth) \(request.maxWidth)")
        }
        if let average = averageBits {
            options.budget = average * Double(totalWeights)
        }
        func searchLayers(_ family: CandidateFamily) -> [SearchLayer] {
            zip(widths, weightCounts).map { layer, weightCount in
                let absMax = Double(graph.node(named: layer.name)?.parameters.first?.statistics.absMax ?? 0)
                let range = averageBits.map { average in
                    max(2, Int(average.rounded(.down)) - 1)...min(family == .floatScale ? 16 : request.maxWidth, Int(average.rounded(.up)) + 1)
                } ?? layer.bits...layer.bits
                let sets = range.map { PatternCandidates.candidates(family: family, storedBits: $0, maxWidth: request.maxWidth, absMax: absMax) }
                let candidates = CandidateSet(schemes: sets.flatMap(\.schemes), expressible: sets.reduce(0) { $0 + $1.expressible },
                                              distinctSets: sets.reduce(0) { $0 + $1.distinctSets })
                return SearchLayer(name: layer.name, storedBits: layer.bits, candidates: candidates, weightCount: weightCount)
            }
        }
        let searchStarted = Date()
        let memo = SearchMemo()
        var result = try PatternSearch(evaluator: evaluator, layers: searchLayers(request.family), options: options, memo: memo,
                                       progress: progress).run()
        var searchSeconds = Date().timeIntervalSince(searchStarted)
        var plan = QuantizationPlan(rounding: request.rounding, entries: zip(widths, result.schemes).map {
            QuantizationPlan.Entry(layer: $0.name, weights: $1)
        })
        var integer: IntegerSearchResult?
        var refinement: IntegerRefinement?
        if let bits = request.activationBits {
            progress?("activation formats", 0, 1)
            var quantized = try evaluator.finalGraph(result.schemes)
            let preprocessing = graph.preprocessing ?? .identity
            let (formats, profiles) = try IntegerDatapathRunner.chooseFormats(graph: quantized, calibration: calibration,
                                                                              preprocessing: preprocessing, bits: bits, batchSize: request.batchSize)
            if request.objective == .integer {
                let refineStarted = Date()
                let layers = searchLayers(request.family)
                // Each layer's shortlist: the candidates the float search scored through the network, best first.
                let shortlists = zip(layers, result.layers).map { layer, found in
                    found.candidates.filter { $0.alone != nil }.compactMap { record in layer.candidates.schemes.first { $0.text == record.scheme } }
                }
                let integerEvaluator = try IntegerSearchEvaluator(float: evaluator, layers: widths.map(\.name), schemes: result.schemes,
                                                                  formats: formats)
                let refined = try PatternSearch(evaluator: integerEvaluator, layers: layers, options: options, progress: progress)
                    .refine(from: result.schemes, shortlists: shortlists)
                refinement = IntegerRefinement(start: refined.start, result: refined.score, evaluations: refined.evaluations,
                                               changed: zip(widths, zip(result.schemes, refined.schemes)).compactMap { layer, pair in
                                                   pair.0 == pair.1 ? nil : layer.name
                                               },
                                               seconds: Date().timeIntervalSince(refineStarted))
                result.schemes = refined.schemes
                for index in result.layers.indices { result.layers[index].chosen = refined.schemes[index].text }
                plan.entries = zip(widths, refined.schemes).map { QuantizationPlan.Entry(layer: $0.name, weights: $1) }
                quantized = try evaluator.finalGraph(refined.schemes)
                searchSeconds += refinement!.seconds
            }
            plan.activations = formats
            let onCalibration = try IntegerDatapathRunner.evaluate(graph: quantized, plan: plan, formats: formats, dataset: calibration,
                                                                   preprocessing: preprocessing, batchSize: request.batchSize)
            let onTest = try test.map {
                try IntegerDatapathRunner.evaluate(graph: quantized, plan: plan, formats: formats, dataset: $0, preprocessing: preprocessing,
                                                   batchSize: request.batchSize)
            }
            integer = IntegerSearchResult(
                activationBits: bits.all, inputFormat: formats.input.description,
                layers: zip((onTest ?? onCalibration).layers, onCalibration.layers).map { layer, calibrated in
                    .init(name: layer.layer, format: layer.format.description, accumulatorBits: layer.accumulatorBits,
                          saturated: Double(layer.saturated) / Double(max(layer.outputs, 1)),
                          calibrationSaturated: Double(calibrated.saturated) / Double(max(calibrated.outputs, 1)))
                },
                calibration: onCalibration.result, test: onTest?.result,
                profiles: profiles, refinement: refinement)
            progress?("activation formats", 1, 1)
        }

        var rows: [ComparisonRow] = [("float", "the model as trained", nil)]
        if request.compare {
            rows.append(("plain", "thesis-style k_0_0 in every layer", try widths.map { .pattern(try BitPattern.plain(bits: $0.bits)) }))
            if request.family != .pow2 {
                let pow2 = try PatternSearch(evaluator: evaluator, layers: searchLayers(.pow2), options: options, memo: memo,
                                             progress: progress).run()
                rows.append(("pow2", "best power-of-two scale per layer (top bits masked in order)", pow2.schemes))
            }
        }
        rows.append(("best", "the search's choice (\(request.family.rawValue))", result.schemes))
        if request.compare {
            for method in FloatScaleMethod.allCases {
                rows.append((method.rawValue, "float-scale baseline (needs a multiplier)", widths.map { .floatScale(method, bits: $0.bits) }))
            }
        }
        let compensated = evaluator.factors.contains { $0 != nil }
        if compensated {
            // Every quantized row's weights were rounded this way, which lifts plain k_0_0 far above nearest rounding.
            rows = rows.map { $0.schemes == nil ? $0 : ($0.name, $0.note + "; \(method)", $0.schemes) }
            plan.compensation = CompensationRecord(method: method, images: min(request.compensationImages, calibration.count),
                                                   steps: method == .adaround ? request.learningSteps : nil)
        }
        let comparison = try finalTable(rows, layers: widths.map(\.name), evaluator: evaluator, memo: memo, test: test,
                                        batchSize: request.batchSize, progress: progress)

        var histograms: [String: WeightHistogram] = [:]
        for (index, entry) in plan.entries.enumerated() {
            guard let weights = graph.node(named: entry.layer)?.parameters.first else { continue }
            let (_, statistics) = evaluator.quantized(layer: index, scheme: entry.weights)
            histograms[entry.layer] = WeightHistogram(weights: weights, scheme: entry.weights, scales: statistics.scales)
        }
        let storedBits = zip(result.schemes, weightCounts).reduce(0) { $0 + $1.0.storedBits * $1.1 }
        return SearchReport(
            model: request.model.net?.path ?? request.model.weights.path,
            calibration: DataSummary(source: calibration.source, format: calibration.format.rawValue, images: calibration.count, seed: seed),
            test: test.map { DataSummary(source: $0.source, format: $0.format.rawValue, images: $0.count) },
            family: request.family, strategy: request.options.strategy, rounding: request.rounding,
            compensated: compensated, maxWidth: request.maxWidth,
            plan: plan,
            storedBits: storedBits, shiftAddTerms: storedBits - totalWeights,
            averageStoredBits: Double(storedBits) / Double(max(1, totalWeights)),
            layers: result.layers, histograms: histograms, comparison: comparison, evaluations: result.evaluations,
            searchSeconds: searchSeconds, totalSeconds: Date().timeIntervalSince(started),
            quantizedGraph: try evaluator.finalGraph(result.schemes), integer: integer)
    }
}

extension SearchPipeline {
    typealias ComparisonRow = (name: String, note: String, schemes: [LayerScheme]?)

    /// Scores each configuration on the calibration data (from the memo when the search already
    /// did) and, when a test set is given, tests it with exactly the weights it was scored with.
    static func finalTable(_ rows: [ComparisonRow], layers: [String], evaluator: NetworkSearchEvaluator, memo: SearchMemo,
                           test: Dataset?, batchSize: Int, progress: Progress?) throws -> [SearchComparison] {
        let start = try evaluator.start()
        var comparison: [SearchComparison] = []
        for (index, row) in rows.enumerated() {
            progress?("final table", index, rows.count)
            let assignment: [LayerScheme?] = row.schemes ?? [LayerScheme?](repeating: nil, count: layers.count)
            // Reconstructed weights are not the ones the search scored: score them afresh.
            let known = evaluator.reconstructionImages > 0 ? nil : memo.score(of: assignment)
            guard let calibration = try known ?? evaluator.score(start, layer: 0, parameters: evaluator.finalParameters(assignment), stoppingAbove: nil)
            else { continue }
            var tested: EvaluationResult?
            if let test {
                let graph = try evaluator.finalGraph(assignment)
                tested = try Evaluator.evaluate(try Network(graph: graph), on: test, preprocessing: graph.preprocessing ?? .identity, batchSize: batchSize)
            }
            comparison.append(SearchComparison(name: row.name, note: row.note,
                                               schemes: Dictionary(uniqueKeysWithValues: zip(layers, (row.schemes ?? []).map(\.text))),
                                               calibration: calibration, test: tested))
        }
        progress?("final table", rows.count, rows.count)
        return comparison
    }

    /// Writes the searched model with its chosen weights (`.caffemodel`, `.h5` or a packed `.bmq`).
    /// Re-applying the plan to these weights changes nothing: every weight is already a value of its pattern.
    /// - Throws: `FormatError` naming the output, or `PlanError`.
    public static func saveWeights(_ report: SearchReport, to output: URL) throws {
        guard let graph = report.quantizedGraph else { throw PlanError("the search kept no quantized model to write") }
        _ = try Conversion.write(graph, plan: report.plan, to: output)
    }
}
