import Foundation
import SwiftProtobuf
import TensorGraph

/// The Caffe plug-in: `.prototxt` net definitions and `.caffemodel` binary weights,
/// in both the current `layer` and the legacy V1 `layers` forms.
public struct CaffeFormat: TopologyReading, RecordedTopologyReading, MeanImageReading, ModelWriting {
    public init() {}

    public var identifier: String { "caffe" }
    public var fileExtensions: [String] { ["caffemodel"] }

    /// A caffemodel is binary protobuf whose first field is the net name (1), V1 layers (2) or layers (100).
    public func recognizes(header: [UInt8]) -> Bool {
        guard let first = header.first else { return false }
        if first == 0x0A || first == 0x12 { return header.count > 1 && !Self.looksLikeText(header) }
        return first == 0xA2 && header.count > 1 && header[1] == 0x06
    }

    static func looksLikeText(_ bytes: [UInt8]) -> Bool {
        bytes.prefix(256).allSatisfy { $0 == 0x09 || $0 == 0x0A || $0 == 0x0D || (0x20..<0x7F).contains($0) || $0 >= 0x80 }
    }

    /// A prototxt is text; a caffemodel never is.
    public func recognizesTopology(header: [UInt8]) -> Bool { !header.isEmpty && Self.looksLikeText(header) }

    // MARK: Net definitions

    public func readTopology(from url: URL) throws -> Graph { try readNet(from: url) }

    /// Reads a `.prototxt` net definition (TEST phase) as a graph without weights.
    /// - Throws: `FormatError` naming the file and, for syntax and schema errors, the line.
    public func readNet(from url: URL) throws -> Graph {
        let data = try FileIO.read(url)
        let net = try PrototxtText.decodeNet(data, file: url.path)
        return try CaffeNetBuilder(file: url.path).build(net)
    }

    /// The line of `name: "NAME"` in a top-level layer block of the prototxt.
    public func line(ofLayer name: String, in url: URL) -> Int? {
        guard let data = try? FileIO.read(url), let text = String(data: data, encoding: .utf8) else { return nil }
        return PrototxtText.line(ofLayer: name, in: text)
    }

    /// Parses net-definition text (for tests and in-memory use).
    public func readNet(text: String, file: String = "<text>") throws -> Graph {
        let net = try PrototxtText.decodeNet(Data(text.utf8), file: file)
        return try CaffeNetBuilder(file: file).build(net)
    }

    // MARK: Weights

    /// Reads every layer's blobs from a binary `.caffemodel`.
    public func readWeights(from url: URL) throws -> WeightSet {
        try weights(of: try decodeModel(url), file: url.path)
    }

    /// The blobs and the net definition stored in a caffemodel, from one read of the file.
    public func readRecordedModel(from url: URL) throws -> (weights: WeightSet, topology: Result<Graph, any Error>) {
        let net = try decodeModel(url)
        return (try weights(of: net, file: url.path), Result { try recordedTopology(of: net, file: url.path) })
    }

    /// Reads the net stored in a caffemodel (its layer definitions) as a graph without weights,
    /// for when no prototxt is at hand. Caffe's auto-inserted Split layers are kept as splits.
    public func readModelDefinition(from url: URL) throws -> Graph {
        try recordedTopology(of: try decodeModel(url), file: url.path)
    }

    /// Caffe snapshots the training net, so layers are selected for the phase the file records.
    func recordedTopology(of net: Caffe_NetParameter, file: String) throws -> Graph {
        let savedForTest = !net.layer.isEmpty && net.layer.allSatisfy { !$0.hasPhase || $0.phase == .test }
        let phase: Caffe_Phase = net.layers.isEmpty && savedForTest ? .test : .train
        return try CaffeNetBuilder(file: file, phase: phase).build(net)
    }

    func decodeModel(_ url: URL) throws -> Caffe_NetParameter {
        let data = try FileIO.read(url)
        guard !data.isEmpty else { throw FormatError(file: url.path, "the file is empty: expected a binary .caffemodel") }
        let net: Caffe_NetParameter
        do {
            net = try Caffe_NetParameter(serializedBytes: data)
        } catch {
            if Self.looksLikeText([UInt8](data.prefix(256))) {
                throw FormatError(file: url.path, "is text, not a binary .caffemodel (a .prototxt is a network definition, not weights)")
            }
            let reason = switch error as? BinaryDecodingError {
            case .truncated?: "the protobuf data is truncated"
            case .malformedProtobuf?: "the protobuf data is malformed"
            case .invalidUTF8?: "a name or text field is not valid UTF-8, so the file is corrupt"
            case .messageDepthLimit?: "messages are nested deeper than any Caffe file nests them, so the file is corrupt"
            default: "the protobuf data is corrupt"
            }
            throw FormatError(file: url.path, "not a valid .caffemodel: \(reason)")
        }
        guard !net.layer.isEmpty || !net.layers.isEmpty else {
            throw FormatError(file: url.path, "holds no layers: not a .caffemodel")
        }
        return net
    }

    func weights(of net: Caffe_NetParameter, file: String) throws -> WeightSet {
        var layers: [WeightSet.Layer] = []
        var seen = Set<String>()
        for layer in net.unifiedLayers {
            guard !layer.name.isEmpty else { throw FormatError(file: file, "a layer has no name") }
            let blobs = try layer.blobs.enumerated().map { try $1.tensor(file: file, layer: layer.name, index: $0) }
            // Train/test nets may list a name twice (one per phase); the first with blobs wins, as in Caffe.
            if seen.contains(layer.name) { continue }
            if !blobs.isEmpty { seen.insert(layer.name) }
            layers.append(WeightSet.Layer(name: layer.name, type: layer.type, blobs: blobs))
        }
        return WeightSet(layers: layers)
    }

    /// Reads a `.binaryproto` mean image (one BlobProto) as a C x H x W tensor.
    public func readMeanImage(from url: URL) throws -> Tensor {
        let data = try FileIO.read(url)
        let blob: Caffe_BlobProto
        do {
            blob = try Caffe_BlobProto(serializedBytes: data)
        } catch {
            throw FormatError(file: url.path, "not a valid .binaryproto mean file")
        }
        let tensor = try blob.tensor(file: url.path, layer: "mean", index: 0)
        let dims = tensor.shape.droppingLeadingOnes.dims
        guard (1...3).contains(dims.count), tensor.count > 0 else {
            throw FormatError(file: url.path, "mean blob has shape \(tensor.shape), expected 1xCxHxW")
        }
        return tensor.reshaped(Shape(Array(repeating: 1, count: 3 - dims.count) + dims))
    }

    // MARK: Writing

    /// The graph as a current-format NetParameter with blobs in their canonical shapes.
    /// - Throws: `GraphError` naming a layer whose operation has no Caffe form.
    func netParameter(for graph: Graph, includeBlobs: Bool) throws -> Caffe_NetParameter {
        var net = Caffe_NetParameter()
        net.name = graph.name
        for input in graph.inputs {
            var layer = Caffe_LayerParameter()
            layer.name = input.name
            layer.type = "Input"
            layer.top = [input.name]
            var shape = Caffe_BlobShape()
            shape.dim = input.shape.dims.map { Int64($0) }
            layer.inputParam.shape = [shape]
            net.layer.append(layer)
        }
        for node in graph.nodes {
            var layer = try CaffeLayerCodecs.layerParameter(for: node)
            if includeBlobs { layer.blobs = node.parameters.map(Caffe_BlobProto.init) }
            net.layer.append(layer)
        }
        return net
    }

    /// Writes a `.caffemodel` (current format, BlobShape dims) that Caffe loads with the same prototxt.
    public func write(_ graph: Graph, to url: URL) throws {
        let bytes: Data
        do {
            bytes = try netParameter(for: graph, includeBlobs: true).serializedBytes()
        } catch let error as GraphError {
            throw FormatError(file: url.path, "cannot be written: \(error)")
        } catch {
            throw FormatError(file: url.path, "cannot be encoded: \(error)")
        }
        try FileIO.writeAtomically(bytes, to: url)
    }

    /// The graph's topology as deploy `.prototxt` text (Input layers, no weights).
    /// - Throws: `GraphError` naming a layer whose operation has no Caffe form.
    public func prototxt(for graph: Graph) throws -> String {
        try netParameter(for: graph, includeBlobs: false).textFormatString()
    }
}
