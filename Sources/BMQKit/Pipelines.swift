import Datasets
import Foundation
import Inference
import TensorGraph

/// What `bmq eval` asks for.
public struct EvaluationRequest: Sendable {
    public var model: ModelSource
    public var data: URL
    public var dataFormat: DatasetFormat?
    public var limit: Int?
    public var batchSize: Int

    public init(model: ModelSource, data: URL, dataFormat: DatasetFormat? = nil, limit: Int? = nil, batchSize: Int = 100) {
        self.model = model
        self.data = data
        self.dataFormat = dataFormat
        self.limit = limit
        self.batchSize = batchSize
    }
}

public struct EvaluationReport: Sendable {
    public var result: EvaluationResult
    public var dataset: DatasetFormat
    public var model: LoadedModel
}

public enum Pipelines {
    /// Reads the data and the model, checks they fit, and measures accuracy.
    /// - Throws: `FormatError` or `GraphError` naming the file or layer at fault.
    public static func evaluate(_ request: EvaluationRequest, progress: ((Int, Int) -> Void)? = nil) throws -> EvaluationReport {
        guard request.batchSize > 0 else { throw FormatError(file: "--batch-size", "must be positive") }
        let dataset = try DatasetReader.read(request.data, format: request.dataFormat).prefix(request.limit)
        let model = try ModelLoader.load(request.model, imageShape: dataset.imageShape)
        let network = try Network(graph: model.graph)
        let total = dataset.count
        let result = try Evaluator.evaluate(
            network, on: dataset, preprocessing: model.graph.preprocessing ?? .identity,
            batchSize: request.batchSize, progress: { progress?($0, total) })
        return EvaluationReport(result: result, dataset: dataset.format, model: model)
    }
}

extension Pipelines {
    /// Sets the OpenBLAS thread count for GEMM.
    public static func setBLASThreads(_ count: Int) { Network.setBLASThreads(count) }
}

extension Pipelines {
    /// Wall time spent in each layer over one pass of the request's data, in node order.
    public static func profileLayers(_ request: EvaluationRequest) throws -> [(layer: String, type: String, seconds: Double)] {
        let dataset = try DatasetReader.read(request.data, format: request.dataFormat).prefix(request.limit)
        let model = try ModelLoader.load(request.model, imageShape: dataset.imageShape)
        let network = try Network(graph: model.graph)
        var totals = [Double](repeating: 0, count: model.graph.nodes.count)
        var first = 0
        while first < dataset.count {
            let range = first..<min(first + request.batchSize, dataset.count)
            let batch = dataset.batch(range, preprocessing: model.graph.preprocessing ?? .identity)
            var mark = Date()
            _ = try network.forward(batch) { index, _ in
                let now = Date()
                totals[index] += now.timeIntervalSince(mark)
                mark = now
            }
            first = range.upperBound
        }
        return zip(model.graph.nodes, totals).map { ($0.name, $0.op.typeName, $1) }
    }
}
