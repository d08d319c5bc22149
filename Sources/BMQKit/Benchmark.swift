import Datasets
import Foundation
import Inference
import Quantization
import TensorGraph

/// What one timed run executes: the float engine with one setting, or the integer datapath.
public enum BenchmarkSubject: Sendable, Equatable {
    /// float32 activations with these engine settings.
    case float(EngineOptions)
    /// The integer datapath (`formats/datapath/SPEC.md`) of the quantized model.
    case integer

    /// A short name: the convolution method, or `integer`.
    public var label: String {
        switch self {
        case let .float(engine): engine.convolution.rawValue
        case .integer: "integer"
        }
    }
}

/// What a benchmark times: whole evaluations of one request, repeated, with one or more engine
/// settings (and the integer datapath) interleaved run by run so that machine drift affects them alike.
public struct BenchmarkRequest: Sendable {
    /// The evaluation to time (its `engine` is replaced by each of `engines` in turn).
    public var evaluation: EvaluationRequest
    /// Timed runs per subject.
    public var runs: Int
    /// What each round runs, in order: the float engine settings, then the integer datapath if asked.
    public var subjects: [BenchmarkSubject]

    /// Checks the request's values.
    /// - Parameters:
    ///   - evaluation: the evaluation to time.
    ///   - runs: timed runs per subject.
    ///   - engines: the float engine settings to compare.
    ///   - datapaths: float (time `engines`), integer (time the integer datapath, which needs a
    ///     quantized model with activation formats: a `.bmq` that records its datapath, or
    ///     calibration images), or both.
    /// - Throws: `RequestError` when `runs` is not positive or nothing is to be timed.
    public init(evaluation: EvaluationRequest, runs: Int = 5, engines: [EngineOptions] = [.default], datapaths: [Datapath] = [.float]) throws {
        guard runs > 0 else { throw RequestError(.runs, "\(.runs) must be positive") }
        guard !datapaths.contains(.float) || !engines.isEmpty else { throw RequestError(.convolution, "give at least one \(.convolution) method") }
        guard !datapaths.isEmpty else { throw RequestError(.datapath, "give at least one \(.datapath)") }
        self.evaluation = evaluation
        self.runs = runs
        subjects = (datapaths.contains(.float) ? engines.map(BenchmarkSubject.float) : []) + (datapaths.contains(.integer) ? [.integer] : [])
    }
}

/// One timed evaluation.
public struct BenchmarkRun: Sendable {
    /// 1-based round; every subject runs once per round.
    public var round: Int
    /// What ran.
    public var subject: BenchmarkSubject
    /// What the run measured (its seconds and images per second included).
    public var result: EvaluationResult
}

/// The fastest and median runs of one subject.
public struct BenchmarkSummary: Sendable {
    /// What ran.
    public var subject: BenchmarkSubject
    /// Seconds of the fastest run.
    public var fastest: Double
    /// Seconds of the median run.
    public var median: Double
    /// Images in each run.
    public var images: Int
    /// Per-image latency of the median run, when images ran one at a time (batch size 1).
    public var latency: LatencyStatistics?
}

/// What a benchmark measured.
public struct BenchmarkReport: Sendable {
    /// Every run, in the order run.
    public var runs: [BenchmarkRun]
    /// One summary per engine setting, in the request's order.
    public var summaries: [BenchmarkSummary]

    /// Each summary's median images/s over the first summary's (1 for the first): the settings
    /// compared by runs interleaved round by round.
    public var speedups: [Double] { summaries.map { summaries[0].median / $0.median } }
}

/// What timing the quantize pass asks for: a model and a plan, applied `runs` times in memory.
public struct QuantizationTimingRequest: Sendable {
    /// The model's files.
    public var model: ModelSource
    /// The quantization to time; must not be empty.
    public var quantization: PlanRequest
    /// Timed runs.
    public var runs: Int
    /// The image shape (C x H x W) for nets whose input comes from a Data layer.
    public var imageShape: Shape?

    /// Checks the request's values.
    /// - Throws: `RequestError` when nothing is to be quantized or `runs` is not positive.
    public init(model: ModelSource, quantization: PlanRequest, runs: Int = 20, imageShape: Shape? = nil) throws {
        try quantization.requireQuantization()
        guard runs > 0 else { throw RequestError(.runs, "\(.runs) must be positive") }
        self.model = model
        self.quantization = quantization
        self.runs = runs
        self.imageShape = imageShape
    }
}

/// How long the quantize pass took.
public struct QuantizationTimingReport: Sendable {
    /// Weights quantized in each run.
    public var weights: Int
    /// Seconds of each run.
    public var seconds: [Double]
}

/// The bench use cases (`bmq bench`, `bmq bench-quantize`). Time with a release build.
public enum Benchmark {
    /// Times the request's evaluation with each engine setting, interleaved round by round.
    /// - Parameters:
    ///   - request: what to time, checked when it was built.
    ///   - onRun: called after each run, to show progress.
    /// - Throws: as ``Evaluation/run(_:progress:)``.
    public static func run(_ request: BenchmarkRequest, onRun: ((BenchmarkRun) -> Void)? = nil) throws -> BenchmarkReport {
        let integer = request.subjects.contains(.integer) ? try IntegerRun(request.evaluation) : nil
        var evaluation = request.evaluation
        var runs: [BenchmarkRun] = []
        for round in 1...request.runs {
            for subject in request.subjects {
                let result: EvaluationResult
                switch subject {
                case let .float(engine):
                    evaluation.engine = engine
                    result = try Evaluation.run(evaluation).result
                case .integer:
                    result = try integer!.time()
                }
                let run = BenchmarkRun(round: round, subject: subject, result: result)
                runs.append(run)
                onRun?(run)
            }
        }
        let summaries = request.subjects.indices.map { index in
            let mine = stride(from: index, to: runs.count, by: request.subjects.count).map { runs[$0].result }.sorted { $0.seconds < $1.seconds }
            let median = mine[mine.count / 2]
            return BenchmarkSummary(subject: request.subjects[index], fastest: mine[0].seconds, median: median.seconds,
                                    images: median.total, latency: median.latency)
        }
        return BenchmarkReport(runs: runs, summaries: summaries)
    }

    /// The integer datapath of an evaluation request, set up once (formats checked or chosen,
    /// weights quantized) so that each timed run is the integer pass alone.
    struct IntegerRun {
        let graph: Graph
        let plan: QuantizationPlan
        let formats: ActivationFormats
        let dataset: Dataset
        let preprocessing: Preprocessing
        let batchSize: Int

        init(_ request: EvaluationRequest) throws {
            var setup = request
            setup.datapath = .integer
            var model: LoadedModel
            (dataset, model) = try Evaluation.loadDataAndModel(setup)
            let (found, recordedDatapath) = try Evaluation.plan(for: setup, model: &model)
            guard let plan = found else { throw RequestError(.datapath, "\(.datapath) integer needs a quantized model") }
            (graph, _) = try Evaluation.quantize(model.graph, plan: plan, datapath: .integer)
            preprocessing = model.graph.preprocessing ?? .identity
            formats = try Evaluation.activationFormats(setup, graph: graph, plan: plan, recordedDatapath: recordedDatapath,
                                                       preprocessing: preprocessing)
            self.plan = plan
            batchSize = request.batchSize
        }

        func time() throws -> EvaluationResult {
            try IntegerDatapathRunner.evaluate(graph: graph, plan: plan, formats: formats, dataset: dataset, preprocessing: preprocessing,
                                               batchSize: batchSize).result
        }
    }

    /// Times the quantize pass alone (weights already in memory).
    /// - Throws: `FormatError`, `GraphError` or `PlanError` naming what does not fit.
    public static func timeQuantization(_ request: QuantizationTimingRequest) throws -> QuantizationTimingReport {
        let model = try ModelLoader.load(request.model, imageShape: request.imageShape)
        guard let plan = try request.quantization.plan(for: model.graph) else { return QuantizationTimingReport(weights: 0, seconds: []) }
        var seconds: [Double] = []
        var weights = 0
        for _ in 0..<request.runs {
            let start = Date()
            let (_, reports) = try QuantizePass.apply(plan, to: model.graph)
            seconds.append(Date().timeIntervalSince(start))
            weights = reports.reduce(0) { $0 + $1.weightCount }
        }
        return QuantizationTimingReport(weights: weights, seconds: seconds)
    }
}
