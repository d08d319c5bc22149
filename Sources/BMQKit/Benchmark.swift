import Foundation
import Inference
import Quantization
import TensorGraph

/// What a benchmark times: whole evaluations of one request, repeated, with one or more engine
/// settings interleaved run by run so that machine drift affects them alike.
public struct BenchmarkRequest: Sendable {
    /// The evaluation to time (its `engine` is replaced by each of `engines` in turn).
    public var evaluation: EvaluationRequest
    /// Timed runs per engine setting.
    public var runs: Int
    /// The engine settings to compare; at least one.
    public var engines: [EngineOptions]

    /// Checks the request's values.
    /// - Throws: `RequestError` when `runs` is not positive or no engine setting is given.
    public init(evaluation: EvaluationRequest, runs: Int = 5, engines: [EngineOptions] = [.default]) throws {
        guard runs > 0 else { throw RequestError(.runs, "\(.runs) must be positive") }
        guard !engines.isEmpty else { throw RequestError(.convolution, "give at least one \(.convolution) method") }
        self.evaluation = evaluation
        self.runs = runs
        self.engines = engines
    }
}

/// One timed evaluation.
public struct BenchmarkRun: Sendable {
    /// 1-based round; every engine setting runs once per round.
    public var round: Int
    /// The engine setting of this run.
    public var engine: EngineOptions
    /// What the run measured (its seconds and images per second included).
    public var result: EvaluationResult
}

/// The fastest and median runs of one engine setting.
public struct BenchmarkSummary: Sendable {
    /// The engine setting.
    public var engine: EngineOptions
    /// Seconds of the fastest run.
    public var fastest: Double
    /// Seconds of the median run.
    public var median: Double
    /// Images in each run.
    public var images: Int
}

/// What a benchmark measured.
public struct BenchmarkReport: Sendable {
    /// Every run, in the order run.
    public var runs: [BenchmarkRun]
    /// One summary per engine setting, in the request's order.
    public var summaries: [BenchmarkSummary]
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
        var evaluation = request.evaluation
        var runs: [BenchmarkRun] = []
        for round in 1...request.runs {
            for engine in request.engines {
                evaluation.engine = engine
                let run = BenchmarkRun(round: round, engine: engine, result: try Evaluation.run(evaluation).result)
                runs.append(run)
                onRun?(run)
            }
        }
        let summaries = request.engines.indices.map { index in
            let mine = stride(from: index, to: runs.count, by: request.engines.count).map { runs[$0] }
            let seconds = mine.map(\.result.seconds).sorted()
            return BenchmarkSummary(engine: request.engines[index], fastest: seconds[0], median: seconds[seconds.count / 2],
                                    images: mine[0].result.total)
        }
        return BenchmarkReport(runs: runs, summaries: summaries)
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
