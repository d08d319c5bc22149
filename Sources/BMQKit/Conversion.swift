import Foundation
import IntegerDatapath
import Quantization
import TensorGraph

/// What a conversion writes: a model read in any format, optionally quantized, written in the
/// format its output name asks for (`bmq convert`, and `bmq quantize`, which requires a plan).
public struct ConversionRequest: Sendable {
    /// The model's files and preprocessing overrides.
    public var model: ModelSource
    /// The quantization to apply; empty to convert the weights as they are.
    public var quantization: PlanRequest
    /// The output file; its name picks the format.
    public var output: URL
    /// The image shape (C x H x W) for nets whose input comes from a Data layer.
    public var imageShape: Shape?
    /// Write bit-pattern weights as integer codes with a power-of-two scale (ONNX QDQ).
    public var integerWeights: Bool
    /// Fold BatchNorm and Scale into their convolutions before quantizing, so that the stored
    /// pattern weights are the ones the integer datapath multiplies.
    public var foldBatchNorm = false

    /// Checks that the output name has a format and is not one of the inputs.
    /// - Parameters:
    ///   - model: the model's files and preprocessing overrides.
    ///   - quantization: the plan or patterns to apply; empty to convert only.
    ///   - output: the file to write; its name picks the format.
    ///   - imageShape: C x H x W for nets whose input comes from a Data layer.
    ///   - requirePlan: refuse a request with nothing to quantize (`bmq quantize`).
    ///   - integerWeights: write bit-pattern weights as integer codes and a power-of-two scale
    ///     (`DequantizeLinear` in an `.onnx` output).
    ///   - foldBatchNorm: fold BatchNorm and Scale into their convolutions before quantizing.
    /// - Throws: `RequestError` without a required plan, `FormatError` naming the output.
    public init(model: ModelSource, quantization: PlanRequest = PlanRequest(), output: URL, imageShape: Shape? = nil,
                requirePlan: Bool = false, integerWeights: Bool = false, foldBatchNorm: Bool = false) throws {
        self.foldBatchNorm = foldBatchNorm
        if integerWeights, !output.lastPathComponent.lowercased().hasSuffix(".onnx") {
            throw RequestError(.qdq, "\(.qdq) writes .onnx outputs; '\(output.lastPathComponent)' is not one")
        }
        if integerWeights { try quantization.requireQuantization() }
        self.integerWeights = integerWeights
        if requirePlan { try quantization.requireQuantization() }
        let inputs = [model.net, model.weights].compactMap { $0?.standardizedFileURL.resolvingSymlinksInPath().path }
        guard !inputs.contains(output.standardizedFileURL.resolvingSymlinksInPath().path) else {
            throw FormatError(file: output.path, "is an input of this command; choose another output name")
        }
        _ = try FormatRegistry.writer(for: output)
        self.model = model
        self.quantization = quantization
        self.output = output
        self.imageShape = imageShape
    }
}

/// What a conversion did.
public struct ConversionReport: Sendable {
    /// The plan that was applied, when one was given.
    public var plan: QuantizationPlan?
    /// What the plan did to each quantized layer.
    public var layers: [LayerQuantizationReport]
    /// The file written.
    public var output: URL
}

/// The convert and quantize use cases: read, quantize when asked, write.
public enum Conversion {
    /// Reads the model, applies the plan when one is given, and writes the output atomically.
    /// - Throws: `FormatError`, `PlanError` or `GraphError` naming what is wrong.
    public static func run(_ request: ConversionRequest) throws -> ConversionReport {
        let model = try ModelLoader.load(request.model, imageShape: request.imageShape)
        let plan = try request.quantization.plan(for: model.graph)
        let graph = request.foldBatchNorm ? model.graph.foldingBatchNorm() : model.graph
        return ConversionReport(plan: plan, layers: try write(graph, plan: plan, to: request.output, integerWeights: request.integerWeights),
                                output: request.output)
    }

    /// Applies `plan` (when given) to `graph` and writes it in the format the output name asks for.
    /// A plan with activation formats is for the integer datapath: BatchNorm and Scale are folded
    /// into their convolutions first, and a packed output records the datapath.
    /// - Throws: `FormatError`, `PlanError` or `DatapathError` naming what is wrong.
    public static func write(_ graph: Graph, plan: QuantizationPlan?, to output: URL, integerWeights: Bool = false) throws
        -> [LayerQuantizationReport] {
        _ = try FormatRegistry.writer(for: output)
        var graph = plan?.activations == nil ? graph : graph.foldingBatchNorm()
        var reports: [LayerQuantizationReport] = []
        var datapath: DatapathContract?
        if let plan {
            (graph, reports) = try QuantizePass.apply(plan, to: graph)
            if let formats = plan.activations {
                datapath = try IntegerProgram(graph: graph, plan: plan, formats: formats).contract
            }
        }
        try FormatRegistry.write(graph, plan: plan, reports: reports, datapath: datapath, to: output, integerWeights: integerWeights)
        return reports
    }
}
