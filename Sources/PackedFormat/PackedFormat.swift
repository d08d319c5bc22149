import Foundation
import Quantization
import TensorGraph

/// The packed deployable (`.bmq`): a self-describing network whose quantized tensors keep
/// only their stored bits. See `formats/packed/SPEC.md`.
public struct PackedFormat: QuantizedModelReading, WeightsReading, QuantizedModelWriting {
    public init() {}

    public var identifier: String { "packed" }
    public var fileExtensions: [String] { ["bmq"] }

    public func recognizes(header: [UInt8]) -> Bool { Array(header.prefix(8)) == PackedLayout.magic }

    /// Reads and checks every section (CRCs, encodings, padding, value validity).
    /// - Throws: `FormatError` naming the file and the section at fault.
    public func read(from url: URL) throws -> PackedModel {
        try PackedReader.decode([UInt8](try FileIO.read(url)), file: url.path)
    }

    /// The runnable graph stored in the file, tensors decoded to float32.
    public func readModel(from url: URL) throws -> Graph { try graph(of: try read(from: url), file: url) }

    /// The model's graph, with a graph error reported against the file's description.
    func graph(of model: PackedModel, file url: URL) throws -> Graph {
        do {
            return try model.graph()
        } catch let error as GraphError {
            throw FormatError(file: url.path, "network description: \(error)")
        }
    }

    public func readWeights(from url: URL) throws -> WeightSet {
        let graph = try readModel(from: url)
        return WeightSet(layers: graph.nodes.map { WeightSet.Layer(name: $0.name, type: $0.op.typeName, blobs: $0.parameters) })
    }

    /// Writes every tensor as float32.
    public func write(_ graph: Graph, to url: URL) throws {
        try write(graph, encodings: [:], to: url)
    }

    /// Writes the graph with the given per-tensor encodings (tensor names as `<layer>/<blob>`), atomically.
    /// - Throws: `FormatError` when a value does not fit its encoding or the file cannot be written.
    public func write(_ graph: Graph, encodings: [String: TensorEncoding], to url: URL) throws {
        try FileIO.writeAtomically(Data(try PackedWriter.encode(graph, encodings: encodings, file: url.path)), to: url)
    }

    /// Writes the graph with every quantized tensor in its plan's encoding: a pattern keeps only
    /// its stored bits, a baseline its integers and scales; everything else stays float32.
    public func write(_ graph: Graph, quantizedBy plan: QuantizationPlan, reports: [LayerQuantizationReport], datapath: DatapathContract?,
                      to url: URL) throws {
        let bytes = try PackedWriter.encode(graph, encodings: Self.encodings(plan: plan, reports: reports, graph: graph), datapath: datapath,
                                            file: url.path)
        try FileIO.writeAtomically(Data(bytes), to: url)
    }

    /// The graph, the plan behind the file's bit-pattern tensors, and its datapath, from one read.
    public func readQuantizedModel(from url: URL) throws -> (graph: Graph, plan: QuantizationPlan?, datapath: DatapathContract?) {
        let model = try read(from: url)
        var rounding: RoundingMode?
        var entries: [QuantizationPlan.Entry] = []
        let byName = Dictionary(model.tensors.map { ($0.name, $0.encoding) }, uniquingKeysWith: { a, _ in a })
        for layer in model.description.layers where layer.op.hasWeights {
            guard case let .pattern(pattern, mode)? = byName[GraphDescription.parameterName(layer: layer.name, op: layer.op, index: 0)] else {
                continue
            }
            rounding = rounding ?? mode
            var bias: LayerScheme?
            if case let .pattern(biasPattern, _)? = byName[GraphDescription.parameterName(layer: layer.name, op: layer.op, index: 1)] {
                bias = .pattern(biasPattern)
            }
            entries.append(.init(layer: layer.name, weights: .pattern(pattern), bias: bias))
        }
        let datapath = model.description.datapath
        let plan = rounding.map { QuantizationPlan(rounding: $0, entries: entries, activations: datapath?.activationFormats) }
        return (try graph(of: model, file: url), plan, datapath)
    }

    /// Each quantized tensor's encoding by its stored name (`<layer>/<blob>`).
    static func encodings(plan: QuantizationPlan, reports: [LayerQuantizationReport], graph: Graph) -> [String: TensorEncoding] {
        var encodings: [String: TensorEncoding] = [:]
        for entry in plan.entries {
            guard let node = graph.node(named: entry.layer) else { continue }
            let report = reports.first { $0.layer == entry.layer }
            func encoding(_ scheme: LayerScheme, scales: [Float]?) -> TensorEncoding {
                switch scheme {
                case let .pattern(pattern): return .pattern(pattern, plan.rounding)
                case let .floatScale(_, bits): return .scaledInteger(bits: bits, scales: scales ?? [])
                }
            }
            encodings[GraphDescription.parameterName(layer: node.name, op: node.op, index: 0)] = encoding(entry.weights, scales: report?.weights.scales)
            if let bias = entry.bias, node.parameters.count > 1 {
                encodings[GraphDescription.parameterName(layer: node.name, op: node.op, index: 1)] = encoding(bias, scales: report?.bias?.scales)
            }
        }
        return encodings
    }

    /// The encoded bytes without writing them (for the spec's worked examples and tests).
    public func encode(_ graph: Graph, encodings: [String: TensorEncoding]) throws -> [UInt8] {
        try PackedWriter.encode(graph, encodings: encodings, file: "<memory>")
    }

    public func decode(_ bytes: [UInt8], file: String = "<memory>") throws -> PackedModel {
        try PackedReader.decode(bytes, file: file)
    }
}
