import Datasets
import Foundation
import IntegerDatapath
import Quantization
import TensorGraph

/// What `bmq vectors` writes or checks: a packed deployable's integer datapath on real images.
public struct VectorRequest: Sendable {
    /// The packed model; it must record an integer datapath.
    public var packed: URL
    /// The images whose vectors are written (nil when checking).
    public var data: URL?
    /// The dataset's layout, when content detection should not decide.
    public var dataFormat: DatasetFormat?
    /// Images written.
    public var count: Int
    /// Images of the dataset skipped before the first one written (to write large sets in parts).
    public var start: Int
    /// The vectors folder.
    public var directory: URL

    /// Checks the request's values.
    /// - Throws: `RequestError` for a count that is not positive.
    public init(packed: URL, data: URL?, dataFormat: DatasetFormat? = nil, count: Int = 100, start: Int = 0, directory: URL) throws {
        guard count > 0 else { throw RequestError(.count, "\(.count) must be positive") }
        guard start >= 0 else { throw RequestError(.start, "\(.start) must not be negative") }
        self.start = start
        self.packed = packed
        self.data = data
        self.dataFormat = dataFormat
        self.count = count
        self.directory = directory
    }
}

/// The vectors use case (`bmq vectors`): test vectors an RTL test bench reads, and their check.
public enum VectorGeneration {
    /// Writes the quantized input and every layer's integer output of the first `count` images.
    /// - Throws: `RequestError` without data, `FormatError` or `DatapathError` naming what is wrong.
    public static func write(_ request: VectorRequest) throws -> VectorManifest {
        guard let data = request.data else { throw RequestError(.data, "give the images with \(.data)") }
        let (program, graph) = try load(request.packed)
        let dataset = try Evaluation.readDataset(data, format: request.dataFormat, formatField: .dataFormat)
        let range = min(request.start, dataset.count)..<min(request.start + request.count, dataset.count)
        guard !range.isEmpty else { throw RequestError(.start, "\(.start) \(request.start) is past the \(dataset.count) images") }
        let batch = dataset.batch(range, preprocessing: graph.preprocessing ?? .identity)
        let inputs = stride(from: 0, to: batch.count, by: program.inputCount).map { start in
            program.inputFormat.codes(of: Array(batch.data[start..<(start + program.inputCount)])).codes
        }
        return try TestVectors.write(program, inputs: inputs, labels: Array(dataset.labels[range]), to: request.directory)
    }

    /// Recomputes every layer of a vectors folder from its inputs and compares.
    /// - Throws: `FormatError` naming the file and line that is missing or malformed.
    public static func check(_ request: VectorRequest) throws -> TestVectors.CheckResult {
        try TestVectors.check(try load(request.packed).program, directory: request.directory)
    }

    /// The packed model's integer program, after checking the recorded datapath against the weights.
    static func load(_ packed: URL) throws -> (program: IntegerProgram, graph: Graph) {
        let model = try ModelLoader.load(ModelSource(net: nil, weights: packed))
        guard let plan = model.recordedPlan, let contract = model.recordedDatapath else {
            throw FormatError(file: packed.path, "records no integer datapath (write it with bmq convert and a plan with activation formats)")
        }
        let graph = model.graph
        let program = try IntegerProgram(graph: graph, plan: plan, formats: contract.activationFormats)
        guard program.contract.definesSameDatapath(as: contract) else {
            throw FormatError(file: packed.path, "the recorded datapath (biases, accumulator widths) disagrees with the file's weights and formats")
        }
        return (program, graph)
    }
}
