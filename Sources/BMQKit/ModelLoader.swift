import Datasets
import Foundation
import Quantization
import TensorGraph

/// Where a model comes from, and preprocessing given on the command line.
public struct ModelSource: Sendable {
    /// The net definition; nil when the weights file describes the network itself (a packed `.bmq`).
    public var net: URL?
    /// The weights file, or a self-describing model.
    public var weights: URL
    /// Replaces the mean file the model names (which usually does not exist on this machine).
    public var meanFile: URL?
    /// Replaces the model's input scale: one value, or one per channel.
    public var scale: [Float]?
    /// Replaces the model's per-channel mean values.
    public var meanValues: [Float]?
    /// Net layer name → the weights file's name for it, where they differ (Keras imports).
    public var nameMap: [String: String]
    /// Where relative paths in the net definition (data sources, mean files) start, as Caffe's
    /// working directory; the process's own by default.
    public var workingDirectory = URL(fileURLWithPath: FileManager.default.currentDirectoryPath)

    /// A model from `net` (nil for a self-describing file) and `weights`, with optional preprocessing overrides.
    public init(net: URL?, weights: URL, meanFile: URL? = nil, scale: [Float]? = nil, meanValues: [Float]? = nil,
                nameMap: [String: String] = [:]) {
        self.net = net
        self.weights = weights
        self.meanFile = meanFile
        self.scale = scale
        self.meanValues = meanValues
        self.nameMap = nameMap
    }
}

/// A graph with its weights attached and preprocessing resolved.
public struct LoadedModel: Sendable {
    /// The graph with parameters attached and preprocessing resolved.
    public var graph: Graph
    /// Layers with blobs in the weights file that the net does not use.
    public var unusedWeightLayers: [String]
    /// What the user should know about the load (ignored blobs).
    public var warnings: [String]
    /// The plan a self-describing file's bit-pattern tensors record (packed `.bmq`), if any.
    public var recordedPlan: QuantizationPlan? = nil
    /// The integer datapath a self-describing file records, if any.
    public var recordedDatapath: DatapathContract? = nil
}

/// Loads models for the use cases: network, weights and preprocessing from any registered format.
public enum ModelLoader {
    /// Reads the net definition and the weights, matches them by layer name and resolves preprocessing.
    /// - Throws: `FormatError` or `GraphError` naming the file or layer at fault.
    /// - Parameters:
    ///   - source: the model's files and preprocessing overrides.
    ///   - imageShape: the shape of one input image (C x H x W) when the data is known;
    ///   needed for nets whose input comes from a Data layer, checked against the net otherwise.
    ///   - topology: the net definition as ``topology(of:)`` read it, when the caller already has it.
    public static func load(_ source: ModelSource, imageShape: Shape? = nil, topology: Graph? = nil) throws -> LoadedModel {
        guard let net = source.net else { return try loadSelfDescribing(source, imageShape: imageShape) }
        let topologyReader = try FormatRegistry.topologyReader(for: net)
        var graph = try topology ?? topologyReader.readTopology(from: net)
        let shapeFromData = !graph.hasCompleteInputs && imageShape != nil
        var weights: WeightSet?
        var imageShape = imageShape
        if !graph.hasCompleteInputs, imageShape == nil {
            // Without data: the first image of the data layer's source, else the one size the weights fit.
            if let shape = try sourceImageShape(graph, workingDirectory: source.workingDirectory) {
                imageShape = shape
            } else {
                let stored = try FormatRegistry.weightsReader(for: source.weights).readWeights(from: source.weights, for: graph, nameMap: source.nameMap)
                weights = stored
                imageShape = try imageShapeFittingWeights(graph, stored, net: net)
            }
        }
        if let imageShape {
            if graph.hasCompleteInputs { try checkImageShape(graph, imageShape, file: net) }
            graph = graph.withInput(batch: graph.inputs[0].shape[0], imageShape: imageShape)
        }
        // With a Data layer the input shape came from the dataset, which is then a likely culprit.
        let dataHint = shapeFromData
            ? " (the net's input shape \(Shape(Array(graph.inputs[0].shape.dims.dropFirst()))) was taken from the data; is it the dataset this net was trained on?)" : ""
        // The net's own attributes and shapes first: a mistake there is the prototxt's, not the weights'.
        do {
            _ = try ShapeInference.infer(graph, checkParameters: false)
        } catch let error as GraphError {
            var hint = ""
            if case .invalidShape = error { hint = dataHint }
            throw FormatError(file: net.path, line: error.layer.flatMap { topologyReader.line(ofLayer: $0, in: net) }, error.description + hint)
        }
        let stored = try weights ?? FormatRegistry.weightsReader(for: source.weights)
            .readWeights(from: source.weights, for: graph, nameMap: source.nameMap)
        let result: Graph
        let report: WeightAttachReport
        do {
            (result, report) = try graph.attachingWeights(stored)
        } catch let error as GraphError {
            throw FormatError(file: source.weights.path, error.description + dataHint)
        }
        var resolved = result
        var warnings: [String] = []
        if !report.unusedLayers.isEmpty {
            warnings.append("weights for layers not in the net were ignored: \(report.unusedLayers.joined(separator: ", "))")
        }
        var preprocessing = try resolvePreprocessing(graph.preprocessing, source: source, channels: graph.inputChannels)
        try fitMeanImage(&preprocessing, to: graph, file: source.meanFile ?? net)
        resolved.preprocessing = preprocessing
        return LoadedModel(graph: resolved, unusedWeightLayers: report.unusedLayers, warnings: warnings)
    }

    /// The network `source.net` defines, parameters still empty; nil for a self-describing model.
    /// - Throws: `FormatError` naming the file.
    public static func topology(of source: ModelSource) throws -> Graph? {
        try source.net.map { try FormatRegistry.topologyReader(for: $0).readTopology(from: $0) }
    }

    /// The TEST-phase data source the net names, when it is on this machine.
    static func presentDataSource(of graph: Graph?, workingDirectory: URL) -> DataSourceDescription? {
        guard let dataSource = graph?.dataSource,
              FileManager.default.fileExists(atPath: CaffeDataSources.location(of: dataSource, workingDirectory: workingDirectory).path)
        else { return nil }
        return dataSource
    }

    /// The image shape of the first image the net's data layer names, cropped as the layer crops;
    /// nil when it names none or the source is not on this machine.
    static func sourceImageShape(_ graph: Graph, workingDirectory: URL) throws -> Shape? {
        try presentDataSource(of: graph, workingDirectory: workingDirectory)
            .map { try CaffeDataSources.read($0, workingDirectory: workingDirectory, limit: 1).imageShape }
    }

    /// The one square image size (1 or 3 channels, or the first layer's) for which `weights` fit
    /// the net, as when an inner-product layer's input count pins the size down.
    /// - Throws: `RequestError` naming `--input-shape` when no size or several fit.
    static func imageShapeFittingWeights(_ graph: Graph, _ weights: WeightSet, net: URL) throws -> Shape {
        let firstLayerChannels = graph.nodes.lazy.compactMap { weights.layer(named: $0.name)?.blobs.first }.first
            .flatMap { $0.shape.rank == 4 ? $0.shape[1] : nil }
        var fitting: [Shape] = []
        for channels in Set([1, 3] + (firstLayerChannels.map { [$0] } ?? [])).sorted() {
            for side in 1...512 {
                let shape = Shape([channels, side, side])
                if (try? graph.withInput(batch: 1, imageShape: shape).attachingWeights(weights)) != nil { fitting.append(shape) }
                if fitting.count > 6 { break }
            }
        }
        if fitting.count == 1 { return fitting[0] }
        let input = graph.inputs[0].name
        let fits = fitting.isEmpty ? "" : fitting.count <= 6 ? " (the weights fit \(fitting.map(\.description).joined(separator: ", ")))" : " (the weights fit many sizes)"
        throw RequestError(.inputShape, "\(net.path): the input '\(input)' comes from a data layer whose images are not on this machine, so its image shape is not known\(fits); give it as \(.inputShape) C,H,W (e.g. 3,32,32)")
    }

    /// A packed model holds its own network and preprocessing.
    static func loadSelfDescribing(_ source: ModelSource, imageShape: Shape?) throws -> LoadedModel {
        guard let reader = try FormatRegistry.modelReader(for: source.weights) else {
            throw RequestError(.net, "'\(source.weights.path)' holds weights only: \(.net) is needed too")
        }
        // One read gives the network and, where the format records them, its patterns and datapath.
        var graph: Graph
        var plan: QuantizationPlan?, datapath: DatapathContract?
        if let quantized = reader as? any QuantizedModelReading {
            (graph, plan, datapath) = try quantized.readQuantizedModel(from: source.weights)
        } else {
            graph = try reader.readModel(from: source.weights)
        }
        if let imageShape {
            // A flattened or channels-last input takes the dataset's C x H x W images through a first layout layer.
            graph = graph.adaptingInput(to: imageShape)
            try checkImageShape(graph, imageShape, file: source.weights)
        }
        graph.preprocessing = try resolvePreprocessing(graph.preprocessing, source: source, channels: graph.inputChannels)
        return LoadedModel(graph: graph, unusedWeightLayers: [], warnings: [], recordedPlan: plan, recordedDatapath: datapath)
    }

    /// Cuts a mean image larger than the net's input to the input's size at the centre, where a
    /// net whose data layer crops takes its images from (Caffe subtracts the mean at the crop's
    /// position); any other size mismatch throws.
    static func fitMeanImage(_ preprocessing: inout Preprocessing, to graph: Graph, file: URL) throws {
        guard let mean = preprocessing.meanImage, let input = graph.inputs.first, input.shape.rank == 4 else { return }
        let (channels, height, width) = (input.shape[1], input.shape[2], input.shape[3])
        let dims = mean.shape.dims
        if dims == [channels, height, width] { return }
        guard dims.count == 3, dims[0] == channels, dims[1] >= height, dims[2] >= width, (graph.dataSource?.cropSize ?? 0) > 0 else {
            throw FormatError(file: file.path, "the mean image is \(mean.shape), the net's input images are \(Shape([channels, height, width]))")
        }
        let cropped = mean.shape.centreCropRows(images: 1, height: height, width: width).flatMap { mean.data[$0] }
        preprocessing.meanImage = Tensor(shape: [channels, height, width], data: cropped)
    }

    /// Throws unless the net's declared input image shape equals the data's.
    static func checkImageShape(_ graph: Graph, _ imageShape: Shape, file: URL) throws {
        let declared = Shape(Array(graph.inputs[0].shape.dims.dropFirst()))
        guard declared == imageShape else {
            throw FormatError(file: file.path, "the net takes \(declared) inputs, the data has \(imageShape) images")
        }
    }

    static func resolvePreprocessing(_ declared: Preprocessing?, source: ModelSource, channels: Int) throws -> Preprocessing {
        for (field, values) in [(RequestField.scale, source.scale), (.meanValue, source.meanValues)] {
            if let values, values.count != 1, values.count != channels {
                throw RequestError(field, "\(field) has \(values.count) values; give one, or one per channel (the net's input has \(channels))")
            }
        }
        var preprocessing = declared ?? .identity
        if let scale = source.scale {
            preprocessing.scale = scale.count == 1 ? scale[0] : 1
            preprocessing.channelScales = scale.count == 1 ? [] : scale
        }
        if let values = source.meanValues {
            preprocessing.meanValues = values
            preprocessing.meanFile = nil
        }
        if let meanFile = source.meanFile {
            preprocessing.meanFile = meanFile.path
            preprocessing.meanImage = try FormatRegistry.readMeanImage(from: meanFile)
            preprocessing.meanValues = []
        } else if let named = preprocessing.meanFile, preprocessing.meanImage == nil {
            // Caffe opens it from the working directory; a copy beside the model is found too.
            let places = [source.workingDirectory, (source.net ?? source.weights).deletingLastPathComponent()]
                .map { FileIO.resolve(named, against: $0) }
            guard let resolved = places.first(where: { FileManager.default.fileExists(atPath: $0.path) }) else {
                let model = (source.net ?? source.weights).path
                let tried = places.map(\.path).joined(separator: " or ")
                throw RequestError(.meanFile, "\(model): the model subtracts the mean file '\(named)', which is not at \(tried); give it as \(.meanFile)")
            }
            preprocessing.meanImage = try FormatRegistry.readMeanImage(from: resolved)
        }
        return preprocessing
    }
}

extension Graph {
    /// Whether every input dimension is known.
    public var hasCompleteInputs: Bool { inputs.allSatisfy { !$0.shape.dims.contains(0) } }

    /// The graph with its first input set to `batch` images of `imageShape`.
    public func withInput(batch: Int, imageShape: Shape) -> Graph {
        var copy = self
        copy.inputs[0].shape = Shape([batch] + imageShape.dims)
        return copy
    }
}

extension Graph {
    /// Channels of the first input (dimension 1), or 1 for an input without one.
    var inputChannels: Int { inputs.first.map { $0.shape.rank > 1 ? $0.shape[1] : 1 } ?? 1 }
}
