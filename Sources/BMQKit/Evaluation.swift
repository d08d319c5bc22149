import Datasets
import Foundation
import Inference
import IntegerDatapath
import Quantization
import TensorGraph

/// How convolutions are computed (the engine's setting, re-exported for callers of BMQKit).
public typealias ConvolutionMethod = Inference.ConvolutionMethod
/// How a network runs (the engine's settings, re-exported for callers of BMQKit).
public typealias EngineOptions = Inference.EngineOptions
/// How a pass of fewer images than cores uses them (re-exported for callers of BMQKit).
public typealias ImageSplit = Inference.ImageSplit
/// A dataset's layout (re-exported for callers of BMQKit).
public typealias DatasetFormat = Datasets.DatasetFormat

/// What an evaluation measures: a model's accuracy on a dataset, float and, with a plan, quantized.
public struct EvaluationRequest: Sendable {
    /// The model's files and preprocessing overrides.
    public var model: ModelSource
    /// The dataset: MNIST IDX images (labels beside them), a CIFAR-10/100 binary batch, an LMDB
    /// or LevelDB folder of Caffe Datums, or an image list; nil for the test images the net
    /// definition's Data or ImageData layer names.
    public var data: URL?
    /// The dataset's layout, when content detection should not decide.
    public var dataFormat: DatasetFormat?
    /// Use only the first `limit` images.
    public var limit: Int?
    /// Images per forward pass.
    public var batchSize: Int
    /// The quantization to measure beside the float model; empty for float only.
    public var quantization: PlanRequest
    /// How the engine runs.
    public var engine: EngineOptions
    /// Float activations only, or also the integer datapath.
    public var datapath: Datapath
    /// Where the integer datapath's activation formats come from when not from the plan.
    public var activationCalibration: ActivationCalibration?

    /// Checks the request's values.
    /// - Throws: `RequestError` for a batch size or limit that is not positive, or an integer
    ///   datapath without quantized weights.
    public init(model: ModelSource, data: URL?, dataFormat: DatasetFormat? = nil, limit: Int? = nil, batchSize: Int = 100,
                quantization: PlanRequest = PlanRequest(), engine: EngineOptions = .default, datapath: Datapath = .float,
                activationCalibration: ActivationCalibration? = nil) throws {
        guard batchSize > 0 else { throw RequestError(.batchSize, "\(.batchSize) must be positive") }
        if let limit, limit <= 0 { throw RequestError(.limit, "\(.limit) must be positive") }
        // A packed model (no separate net) records its own patterns and datapath.
        if datapath == .integer, quantization.isEmpty, model.net != nil {
            throw RequestError(.datapath, "\(.datapath) integer needs weights on bit patterns: give \(.plan) or \(.pattern)")
        }
        if activationCalibration != nil, datapath != .integer {
            throw RequestError(.calibration, "\(.calibration) chooses activation formats, which only \(.datapath) integer uses")
        }
        self.datapath = datapath
        self.activationCalibration = activationCalibration
        self.model = model
        self.data = data
        self.dataFormat = dataFormat
        self.limit = limit
        self.batchSize = batchSize
        self.quantization = quantization
        self.engine = engine
    }
}

/// What an evaluation found.
public struct EvaluationReport: Sendable {
    /// Accuracy of the model as given (float weights).
    public var result: EvaluationResult
    /// Accuracy with the plan applied, when one was given.
    public var quantized: EvaluationResult?
    /// The plan that was applied, when one was given.
    public var plan: QuantizationPlan?
    /// What the plan did to each quantized layer.
    public var layers: [LayerQuantizationReport]
    /// The dataset's layout, as detected or given.
    public var dataset: DatasetFormat
    /// The model as loaded, with its warnings.
    public var model: LoadedModel
    /// The integer datapath's accuracy and statistics, when asked for.
    public var integer: IntegerEvaluationReport?
}

/// Time spent in one layer over a pass of the data.
public struct LayerTiming: Sendable {
    /// The layer's name.
    public var layer: String
    /// The layer's type (Caffe's spelling).
    public var type: String
    /// Wall time in seconds.
    public var seconds: Double
}

/// The evaluate use case (`bmq eval`): accuracy of a model, float and quantized, on a dataset.
public enum Evaluation {
    /// Reads the data and the model, checks they fit, and measures accuracy the way Caffe's
    /// Accuracy layer counts it.
    /// - Parameters:
    ///   - request: what to measure, checked when it was built.
    ///   - progress: called with images done and images in all passes.
    /// - Throws: `FormatError` or `GraphError` naming the file or layer at fault.
    public static func run(_ request: EvaluationRequest, progress: ((Int, Int) -> Void)? = nil) throws -> EvaluationReport {
        let (dataset, loaded) = try loadDataAndModel(request)
        var model = loaded
        try checkLabels(dataset, fit: model.graph, file: dataset.source)
        let preprocessing = model.graph.preprocessing ?? .identity
        var (plan, recordedDatapath) = try plan(for: request, model: &model)
        let passes = plan == nil ? 1 : 2
        let total = dataset.count * passes
        func measure(_ graph: Graph, pass: Int) throws -> EvaluationResult {
            try Evaluator.evaluate(try Network(graph: graph, options: request.engine), on: dataset,
                                   preprocessing: preprocessing, batchSize: request.batchSize,
                                   progress: { progress?(pass * dataset.count + $0, total) })
        }
        // The float model runs with BatchNorm and Scale folded into their convolutions: the same
        // function, one pass over the activations instead of three.
        let result = try measure(model.graph.foldingBatchNorm(), pass: 0)
        var quantized: EvaluationResult?
        var layers: [LayerQuantizationReport] = []
        var integer: IntegerEvaluationReport?
        if let weightsPlan = plan {
            let graph: Graph
            (graph, layers) = try quantize(model.graph, plan: weightsPlan, datapath: request.datapath)
            quantized = try measure(graph, pass: 1)
            if request.datapath == .integer {
                let formats = try activationFormats(request, graph: graph, plan: weightsPlan, recordedDatapath: recordedDatapath,
                                                    preprocessing: preprocessing)
                plan?.activations = formats
                integer = try IntegerDatapathRunner.evaluate(graph: graph, plan: weightsPlan, formats: formats, dataset: dataset,
                                                             preprocessing: preprocessing, batchSize: request.batchSize)
            }
        }
        return EvaluationReport(result: result, quantized: quantized, plan: plan, layers: layers, dataset: dataset.format, model: model,
                                integer: integer)
    }

    /// Wall time spent in each layer over one pass of the request's data, in node order.
    /// - Throws: as ``run(_:progress:)``.
    public static func profileLayers(_ request: EvaluationRequest) throws -> [LayerTiming] {
        let (dataset, model) = try loadDataAndModel(request)
        let graph = model.graph.foldingBatchNorm()  // as `run` measures it
        let network = try Network(graph: graph, options: request.engine)
        var totals = [Double](repeating: 0, count: graph.nodes.count)
        for range in dataset.batchRanges(size: request.batchSize) {
            let batch = dataset.batch(range, preprocessing: model.graph.preprocessing ?? .identity)
            var mark = Date()
            _ = try network.forward(batch) { index, _ in
                let now = Date()
                totals[index] += now.timeIntervalSince(mark)
                mark = now
            }
        }
        return zip(graph.nodes, totals).map { LayerTiming(layer: $0.name, type: $0.op.typeName, seconds: $1) }
    }

    /// The plan to apply: the request's, or for the integer datapath of a packed model the plan
    /// (and datapath) it records.
    /// - Throws: `RequestError` when the integer datapath is asked of a model with no bit-pattern weights.
    /// A recorded plan whose layers BatchNorm or Scale follow gets a warning in `model`: the
    /// integer datapath folds them into weights already on their patterns and rounds again.
    static func plan(for request: EvaluationRequest, model: inout LoadedModel) throws -> (QuantizationPlan?, DatapathContract?) {
        if let plan = try request.quantization.plan(for: model.graph) { return (plan, nil) }
        guard request.datapath == .integer, request.model.net == nil else { return (nil, nil) }
        guard let recordedPlan = model.recordedPlan else {
            throw RequestError(.datapath, "\(request.model.weights.path) has no bit-pattern weights for \(.datapath) integer")
        }
        let refolded = layersRefoldedAfterQuantization(model.graph, plan: recordedPlan)
        if model.recordedDatapath == nil, !refolded.isEmpty {
            model.warnings.append("\(request.model.weights.lastPathComponent): BatchNorm or Scale follows \(refolded.joined(separator: ", ")); "
                + "the integer datapath folds them into weights already on their patterns and rounds them onto the patterns again, "
                + "so its accuracy is not the quantized float model's. Quantize the folded weights instead: bmq search ... "
                + "--activation-bits 8 chooses each layer's pattern with them folded; bmq convert ... --fold-batchnorm keeps the given pattern")
        }
        return (recordedPlan, model.recordedDatapath)
    }

    /// The planned layers whose weights folding BatchNorm and Scale would change.
    static func layersRefoldedAfterQuantization(_ graph: Graph, plan: QuantizationPlan) -> [String] {
        let kept = Set(graph.foldingBatchNorm().nodes.map(\.name))
        let planned = Set(plan.entries.map(\.layer))
        return graph.nodes.indices.dropLast().compactMap { index in
            let node = graph.nodes[index]
            return planned.contains(node.name) && !kept.contains(graph.nodes[index + 1].name) ? node.name : nil
        }
    }

    /// The graph with `plan` applied; the integer datapath (and a plan made for it) quantizes
    /// BatchNorm and Scale folded into their convolutions.
    static func quantize(_ graph: Graph, plan: QuantizationPlan, datapath: Datapath) throws -> (Graph, [LayerQuantizationReport]) {
        let base = datapath == .integer || plan.activations != nil ? graph.foldingBatchNorm() : graph
        return try QuantizePass.apply(plan, to: base)
    }

    /// The integer datapath's activation formats: chosen on the request's calibration images, or
    /// the plan's, checked against the datapath a packed model records.
    /// - Throws: `RequestError` when there are none, `FormatError` when the recorded datapath disagrees.
    static func activationFormats(_ request: EvaluationRequest, graph: Graph, plan: QuantizationPlan, recordedDatapath: DatapathContract?,
                                  preprocessing: Preprocessing) throws -> ActivationFormats {
        if let calibration = request.activationCalibration {
            let images = try readDataset(calibration.data, format: calibration.format, formatField: .calibrationFormat).prefix(calibration.limit)
            return try IntegerDatapathRunner.chooseFormats(graph: graph, calibration: images, preprocessing: preprocessing,
                                                           bits: calibration.bits, batchSize: request.batchSize).formats
        }
        guard let formats = plan.activations else {
            throw RequestError(.calibration, "the plan has no activation formats: give \(.calibration) images to choose them")
        }
        if let recordedDatapath {
            let contract = try IntegerProgram(graph: graph, plan: plan, formats: formats).contract
            guard contract.definesSameDatapath(as: recordedDatapath) else {
                throw FormatError(file: request.model.weights.path,
                                  "the recorded datapath (biases, accumulator widths) disagrees with the file's weights and formats")
            }
        }
        return formats
    }

    /// Throws when the data's labels name classes the net does not score (a CIFAR-100 file for a
    /// 10-class net), which would otherwise be counted as plain mistakes.
    static func checkLabels(_ dataset: Dataset, fit graph: Graph, file: String) throws {
        guard let classes = try ShapeInference.infer(graph, checkParameters: false).valueShapes[graph.output]?.count(from: 1),
              let largest = dataset.labels.max(), largest >= classes else { return }
        throw FormatError(file: file, "has labels up to \(largest), but the net scores \(classes) classes: is it the dataset this net was trained on?")
    }

    /// Reads the request's data, then the model with the data's image shape (the net definition read once for both).
    static func loadDataAndModel(_ request: EvaluationRequest) throws -> (Dataset, LoadedModel) {
        let topology = try ModelLoader.topology(of: request.model)
        let dataset = try images(request.data, format: request.dataFormat, formatField: .dataFormat, model: request.model,
                                 topology: topology, limit: request.limit, training: false).prefix(request.limit)
        return (dataset, try ModelLoader.load(request.model, imageShape: dataset.imageShape, topology: topology))
    }

    /// The images `data` holds, or with no `data` those of the net's data source for the phase
    /// (TRAIN, for calibration images, when `training`; else TEST), with `source` resolved against
    /// the working directory as Caffe does; either way cropped as the TEST phase's data layer crops.
    /// - Parameters:
    ///   - data: the images given, if any.
    ///   - format: their format, when content detection should not decide.
    ///   - formatField: the request field that names the format, for errors.
    ///   - model: the model, for its working directory.
    ///   - topology: the model's net definition (nil for a self-describing model), which may name the images.
    ///   - limit: read only the first `limit` images of a source.
    ///   - training: the TRAIN phase's source rather than the TEST phase's.
    /// - Throws: `RequestError` naming the field when there are no images to read, `FormatError` for unreadable data.
    static func images(_ data: URL?, format: DatasetFormat?, formatField: RequestField, model: ModelSource, topology: Graph?, limit: Int?,
                       training: Bool) throws -> Dataset {
        var dataSource = training ? topology?.trainingDataSource : topology?.dataSource
        // Calibration images are cropped as the TEST phase crops: they must look like what the
        // quantized net will see, and TRAIN's crop is a random augmentation, not a view of it.
        if training { dataSource?.cropSize = topology?.dataSource?.cropSize ?? 0 }
        let field: RequestField = training ? .calibration : .data
        guard let data else {
            guard let net = model.net, let dataSource else {
                let what = model.net.map { "\($0.path) names no \(training ? "TRAIN" : "TEST")-phase Data or ImageData layer with a source" }
                    ?? "a packed model names no images"
                throw RequestError(field, "\(what): give the images with \(field)")
            }
            let source = CaffeDataSources.location(of: dataSource, workingDirectory: model.workingDirectory)
            guard FileManager.default.fileExists(atPath: source.path) else {
                let whereabouts = dataSource.source.hasPrefix("/") ? "which is not on this machine;"
                    : "which is not at \(source.path) (Caffe opens it from the working directory); run from the folder Caffe runs in, or"
                throw RequestError(field, "\(net.path): layer '\(dataSource.layer)' reads '\(dataSource.source)', \(whereabouts) give the images with \(field)")
            }
            return try CaffeDataSources.read(dataSource, workingDirectory: model.workingDirectory, limit: limit)
        }
        let dataset = try readDataset(data, format: format, formatField: formatField)
        guard let crop = dataSource?.cropSize, crop > 0 else { return dataset }
        return try dataset.centreCropped(to: crop)
    }

    /// Reads a dataset; when its content does not tell its format, the error names the request
    /// field that can.
    static func readDataset(_ url: URL, format: DatasetFormat?, formatField: RequestField) throws -> Dataset {
        do {
            return try DatasetReader.read(url, format: format)
        } catch let error as UnrecognizedDataset {
            throw RequestError(formatField, "\(error.description); name its format with \(formatField)")
        }
    }
}
