import Foundation
import Quantization
import TensorGraph

/// A per-layer description of a model: topology, shapes and weight statistics.
public struct ModelInspection: Sendable, Codable {
    /// One parameter blob.
    public struct Blob: Sendable, Codable {
        /// The blob's role (`weights`, `bias`, ...).
        public var name: String
        /// The blob's dimensions.
        public var shape: [Int]
        /// Its values' range, mean and spread.
        public var statistics: TensorStatistics
    }

    /// One layer of the described model.
    public struct Layer: Sendable, Codable {
        /// The layer's name.
        public var name: String
        /// The layer's type (Caffe's spelling).
        public var type: String
        /// The values it reads.
        public var bottoms: [String]
        /// The values it writes.
        public var tops: [String]
        /// Output shapes, when the input shape is known.
        public var outputShapes: [[Int]]?
        /// Its parameter blobs.
        public var blobs: [Blob]
        /// Parameter values in all its blobs.
        public var parameterCount: Int
        /// The plan's effect on this layer's weights, when a plan was given.
        public var quantization: LayerQuantization?

        enum CodingKeys: String, CodingKey {
            case name, type, bottoms, tops, blobs, quantization
            case outputShapes = "output_shapes"
            case parameterCount = "parameter_count"
        }
    }

    /// A scheme's effect on one layer's weights.
    public struct LayerQuantization: Sendable, Codable {
        /// The scheme as text.
        public var scheme: String
        /// The rounding mode's name.
        public var rounding: String
        /// Saturated and zeroed shares and the squared error.
        public var statistics: QuantizationStatistics
        /// The weights' histogram with the scheme's representable values.
        public var histogram: WeightHistogram
    }

    /// The network's name.
    public var name: String
    /// The files described.
    public var sources: [String]
    /// Input shapes by input name.
    public var inputs: [String: [Int]]
    /// Every layer in order.
    public var layers: [Layer]
    /// Parameter values in the whole model.
    public var parameterCount: Int
    /// What could not be shown, and why.
    public var notes: [String]
    /// Whether output shapes are missing because the input's image shape is not known (a net
    /// fed by a Data layer, inspected without an input shape).
    public var needsInputShape: Bool

    enum CodingKeys: String, CodingKey {
        case name, sources, inputs, layers, notes
        case parameterCount = "parameter_count", needsInputShape = "needs_input_shape"
    }
}

/// What an inspection describes: a net definition, a weights file, or both.
public struct InspectionRequest: Sendable {
    /// A network definition, or nil to take the topology recorded in the weights file.
    public var net: URL?
    /// A weights file, or nil to describe the topology alone.
    public var weights: URL?
    /// C x H x W for nets whose input comes from a Data layer.
    public var imageShape: Shape?
    /// Patterns or a plan whose effect on each layer's weights is shown.
    public var quantization: PlanRequest

    /// Checks that there is something to describe.
    /// - Throws: `RequestError` without either file, or with a quantization but no weights.
    public init(net: URL?, weights: URL?, imageShape: Shape? = nil, quantization: PlanRequest = PlanRequest()) throws {
        guard net != nil || weights != nil else { throw RequestError(.net, "give a \(.net), a \(.weights) file, or both") }
        if !quantization.isEmpty, weights == nil {
            throw RequestError(.weights, "showing a pattern's effect needs the \(.weights) file")
        }
        self.net = net
        self.weights = weights
        self.imageShape = imageShape
        self.quantization = quantization
    }
}

/// What a packed-file inspection asks for.
public struct PackedInspectionRequest: Sendable {
    /// The packed `.bmq` file.
    public var file: URL
    /// Also check every decoded value against its encoding's value set.
    public var verify: Bool

    /// A request to describe `file`, checking every value when `verify` is set.
    public init(file: URL, verify: Bool = false) {
        self.file = file
        self.verify = verify
    }
}

/// The inspect use case (`bmq inspect`): a model's layers, shapes and weight statistics, or a
/// packed file's tensors and encodings.
public enum Inspection {
    /// Whether the file's content is a packed `.bmq` model.
    public static func isPackedModel(_ url: URL) -> Bool {
        (try? FormatRegistry.format(of: url).identifier) == FormatRegistry.packed.identifier
    }

    /// Describes a net definition, a weights file, or both.
    /// - Throws: `FormatError` or `GraphError` naming the file or layer at fault.
    public static func model(_ request: InspectionRequest) throws -> ModelInspection {
        let (net, weights, imageShape, quantization) = (request.net, request.weights, request.imageShape, request.quantization)
        var notes: [String] = []
        var graph: Graph
        var stored: WeightSet?
        var recorded: Result<Graph, any Error>?
        // A self-describing model (an .onnx file) carries its network and weights together.
        let model = net == nil ? try weights.flatMap { try FormatRegistry.modelReader(for: $0)?.readModel(from: $0) } : nil
        if let weights, model == nil {
            let reader = try FormatRegistry.weightsReader(for: weights)
            if net == nil, let recording = reader as? any RecordedTopologyReading {
                (stored, recorded) = try recording.readRecordedModel(from: weights)
            } else {
                stored = try reader.readWeights(from: weights)
            }
        }
        if let model {
            graph = model
        } else if let net {
            graph = try FormatRegistry.topologyReader(for: net).readTopology(from: net)
        } else if let weights, let recorded {
            switch recorded {
            case let .success(topology): graph = topology
            case let .failure(error):
                // The stored definition may hold layers the engine cannot run; the blobs are still worth showing.
                notes.append("topology not shown: \(error)")
                return listing(of: stored ?? WeightSet(layers: []), source: weights.path, notes: notes)
            }
        } else if let weights {
            notes.append("this weights file holds no network definition; give the prototxt too for topology and shapes")
            return listing(of: stored ?? WeightSet(layers: []), source: weights.path, notes: notes)
        } else {
            throw RequestError(.net, "give a \(.net), a \(.weights) file, or both")
        }
        if let imageShape {
            graph = graph.withInput(batch: graph.inputs[0].shape[0], imageShape: imageShape)
        } else if !graph.hasCompleteInputs,
                  let shape = try ModelLoader.sourceImageShape(graph, workingDirectory: URL(fileURLWithPath: FileManager.default.currentDirectoryPath)) {
            graph = graph.withInput(batch: graph.inputs[0].shape[0], imageShape: shape)
        }

        var shapes: ShapeInference.Result?
        if graph.hasCompleteInputs {
            shapes = try ShapeInference.infer(graph, checkParameters: false)
        } else {
            notes.append("output shapes need the input's image shape, which a Data layer takes from its data")
        }
        if let stored {
            if shapes != nil {
                let (attached, report) = try graph.attachingWeights(stored)
                graph = attached
                if !report.unusedLayers.isEmpty {
                    notes.append("weights for layers not in the net: \(report.unusedLayers.joined(separator: ", "))")
                }
            } else {
                // Without shapes the blobs cannot be checked, only shown as stored.
                for index in graph.nodes.indices {
                    graph.nodes[index].parameters = stored.layer(named: graph.nodes[index].name)?.blobs ?? []
                }
            }
        }
        let plan = try quantization.plan(for: graph)
        let layers = graph.nodes.enumerated().map { index, node in
            var view: ModelInspection.LayerQuantization?
            if let plan, let entry = plan.entry(for: node.name), let weights = node.parameters.first {
                let (_, statistics) = TensorQuantizer.quantize(weights, scheme: entry.weights, rounding: plan.rounding)
                view = ModelInspection.LayerQuantization(
                    scheme: entry.weights.description, rounding: plan.rounding.rawValue, statistics: statistics,
                    histogram: WeightHistogram(weights: weights, scheme: entry.weights, scales: statistics.scales))
            }
            return ModelInspection.Layer(
                name: node.name, type: node.op.typeName, bottoms: node.inputs, tops: node.outputs,
                outputShapes: shapes.map { $0.nodeOutputShapes[index].map(\.dims) },
                blobs: node.parameters.enumerated().map { blobIndex, tensor in
                    let names = node.op.parameterNames
                    return ModelInspection.Blob(name: blobIndex < names.count ? names[blobIndex] : "blob \(blobIndex)",
                                                shape: tensor.shape.dims, statistics: tensor.statistics)
                },
                parameterCount: node.parameters.reduce(0) { $0 + $1.count }, quantization: view)
        }
        return ModelInspection(
            name: graph.name, sources: [net?.path, weights?.path].compactMap { $0 },
            inputs: Dictionary(uniqueKeysWithValues: graph.inputs.map { ($0.name, $0.shape.dims) }),
            layers: layers, parameterCount: layers.reduce(0) { $0 + $1.parameterCount }, notes: notes,
            needsInputShape: shapes == nil)
    }

    static func listing(of weights: WeightSet, source: String, notes: [String]) -> ModelInspection {
        let layers = weights.layers.map { layer in
            ModelInspection.Layer(
                name: layer.name, type: layer.type ?? "?", bottoms: [], tops: [], outputShapes: nil,
                blobs: layer.blobs.enumerated().map { ModelInspection.Blob(name: "blob \($0)", shape: $1.shape.dims, statistics: $1.statistics) },
                parameterCount: layer.blobs.reduce(0) { $0 + $1.count }, quantization: nil)
        }
        return ModelInspection(name: "", sources: [source], inputs: [:], layers: layers,
                               parameterCount: layers.reduce(0) { $0 + $1.parameterCount }, notes: notes, needsInputShape: false)
    }
}
