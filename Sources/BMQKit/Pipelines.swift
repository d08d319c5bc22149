import Datasets
import Foundation
import Inference
import Quantization
import TensorGraph

/// What `bmq eval` asks for.
public struct EvaluationRequest: Sendable {
    public var model: ModelSource
    public var data: URL
    public var dataFormat: DatasetFormat?
    public var limit: Int?
    public var batchSize: Int
    public var quantization: PlanRequest
    /// How the engine runs.
    public var engine: EngineOptions

    public init(model: ModelSource, data: URL, dataFormat: DatasetFormat? = nil, limit: Int? = nil, batchSize: Int = 100,
                quantization: PlanRequest = PlanRequest(), engine: EngineOptions = .default) throws {
        guard batchSize > 0 else { throw RequestError(.batchSize, "\(.batchSize) must be positive") }
        if let limit, limit <= 0 { throw RequestError(.limit, "\(.limit) must be positive") }
        self.model = model
        self.data = data
        self.dataFormat = dataFormat
        self.limit = limit
        self.batchSize = batchSize
        self.quantization = quantization
        self.engine = engine
    }
}

public struct EvaluationReport: Sendable {
    /// Accuracy of the model as given (float weights).
    public var result: EvaluationResult
    /// Accuracy with the plan applied, when one was given.
    public var quantized: EvaluationResult?
    public var plan: QuantizationPlan?
    public var layers: [LayerQuantizationReport]
    public var dataset: DatasetFormat
    public var model: LoadedModel
}

public enum Pipelines {
    /// Reads the request's data, then the model with the data's image shape.
    static func loadDataAndModel(_ request: EvaluationRequest) throws -> (Dataset, LoadedModel) {
        let dataset = try DatasetReader.read(request.data, format: request.dataFormat).prefix(request.limit)
        return (dataset, try ModelLoader.load(request.model, imageShape: dataset.imageShape))
    }

    /// Reads the data and the model, checks they fit, and measures accuracy.
    /// - Throws: `FormatError` or `GraphError` naming the file or layer at fault.
    public static func evaluate(_ request: EvaluationRequest, progress: ((Int, Int) -> Void)? = nil) throws -> EvaluationReport {
        let (dataset, model) = try loadDataAndModel(request)
        let plan = try request.quantization.plan(for: model.graph)
        let passes = plan == nil ? 1 : 2
        let total = dataset.count * passes
        func run(_ graph: Graph, pass: Int) throws -> EvaluationResult {
            try Evaluator.evaluate(try Network(graph: graph, options: request.engine), on: dataset, preprocessing: model.graph.preprocessing ?? .identity,
                                   batchSize: request.batchSize, progress: { progress?(pass * dataset.count + $0, total) })
        }
        let result = try run(model.graph, pass: 0)
        var quantized: EvaluationResult?
        var layers: [LayerQuantizationReport] = []
        if let plan {
            let (graph, reports) = try QuantizePass.apply(plan, to: model.graph)
            layers = reports
            quantized = try run(graph, pass: 1)
        }
        return EvaluationReport(result: result, quantized: quantized, plan: plan, layers: layers, dataset: dataset.format, model: model)
    }

    /// Applies a plan to a model and writes the quantized (dequantized-to-float) weights.
    /// - Throws: as `convert`, and `PlanError` when no plan was given.
    public static func quantize(model source: ModelSource, plan request: PlanRequest, output: URL,
                                imageShape: Shape? = nil) throws -> (QuantizationPlan, [LayerQuantizationReport]) {
        try request.requireQuantization()
        let (plan, reports) = try convert(model: source, plan: request, output: output, imageShape: imageShape)
        return (plan ?? QuantizationPlan(rounding: .nearest, entries: []), reports)
    }

    /// Reads a model (any weights format), applies a plan when one is given, and writes it in the
    /// format the output name asks for (`.caffemodel`, `.caffemodel.h5`/`.h5`). An input is never overwritten.
    /// - Throws: `FormatError`, `PlanError` or `PatternError` naming what is wrong.
    public static func convert(model source: ModelSource, plan request: PlanRequest, output: URL,
                               imageShape: Shape? = nil) throws -> (QuantizationPlan?, [LayerQuantizationReport]) {
        let inputs = [source.net, source.weights].compactMap { $0?.standardizedFileURL.resolvingSymlinksInPath().path }
        guard !inputs.contains(output.standardizedFileURL.resolvingSymlinksInPath().path) else {
            throw FormatError(file: output.path, "is an input of this command; choose another output name")
        }
        _ = try FormatRegistry.writer(for: output)
        let model = try ModelLoader.load(source, imageShape: imageShape)
        let plan = try request.plan(for: model.graph)
        return (plan, try write(model.graph, plan: plan, to: output))
    }

    /// Applies `plan` (when given) to `graph` and writes it in the format the output name asks for.
    /// - Throws: `FormatError` or `PlanError` naming what is wrong.
    public static func write(_ graph: Graph, plan: QuantizationPlan?, to output: URL) throws -> [LayerQuantizationReport] {
        _ = try FormatRegistry.writer(for: output)
        var graph = graph
        var reports: [LayerQuantizationReport] = []
        if let plan { (graph, reports) = try QuantizePass.apply(plan, to: graph) }
        try FormatRegistry.write(graph, plan: plan, reports: reports, to: output)
        return reports
    }
}

/// How convolutions are computed (the engine's setting, re-exported for callers of BMQKit).
public typealias ConvolutionMethod = Inference.ConvolutionMethod
/// How a network runs (the engine's settings, re-exported for callers of BMQKit).
public typealias EngineOptions = Inference.EngineOptions

extension Pipelines {
    /// Wall time spent in each layer over one pass of the request's data, in node order.
    public static func profileLayers(_ request: EvaluationRequest) throws -> [(layer: String, type: String, seconds: Double)] {
        let (dataset, model) = try loadDataAndModel(request)
        let network = try Network(graph: model.graph, options: request.engine)
        var totals = [Double](repeating: 0, count: model.graph.nodes.count)
        for range in dataset.batchRanges(size: request.batchSize) {
            let batch = dataset.batch(range, preprocessing: model.graph.preprocessing ?? .identity)
            var mark = Date()
            _ = try network.forward(batch) { index, _ in
                let now = Date()
                totals[index] += now.timeIntervalSince(mark)
                mark = now
            }
        }
        return zip(model.graph.nodes, totals).map { ($0.name, $0.op.typeName, $1) }
    }
}

extension Pipelines {
    /// Times the quantize pass alone (weights already in memory): seconds per run.
    public static func timeQuantization(model source: ModelSource, plan request: PlanRequest, runs: Int,
                                        imageShape: Shape? = nil) throws -> (weights: Int, seconds: [Double]) {
        let model = try ModelLoader.load(source, imageShape: imageShape)
        try request.requireQuantization()
        guard let plan = try request.plan(for: model.graph) else { return (0, []) }
        var seconds: [Double] = []
        var weights = 0
        for _ in 0..<max(1, runs) {
            let start = Date()
            let (_, reports) = try QuantizePass.apply(plan, to: model.graph)
            seconds.append(Date().timeIntervalSince(start))
            weights = reports.reduce(0) { $0 + $1.weightCount }
        }
        return (weights, seconds)
    }
}
