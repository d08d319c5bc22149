import CaffeFormat
import Foundation
import TensorGraph

/// A per-layer description of a model: topology, shapes and weight statistics.
public struct ModelInspection: Sendable, Codable {
    public struct Blob: Sendable, Codable {
        public var name: String
        public var shape: [Int]
        public var statistics: TensorStatistics
    }

    public struct Layer: Sendable, Codable {
        public var name: String
        public var type: String
        public var bottoms: [String]
        public var tops: [String]
        /// Output shapes, when the input shape is known.
        public var outputShapes: [[Int]]?
        public var blobs: [Blob]
        public var parameterCount: Int

        enum CodingKeys: String, CodingKey {
            case name, type, bottoms, tops, blobs
            case outputShapes = "output_shapes"
            case parameterCount = "parameter_count"
        }
    }

    public var name: String
    public var sources: [String]
    public var inputs: [String: [Int]]
    public var layers: [Layer]
    public var parameterCount: Int
    public var notes: [String]

    enum CodingKeys: String, CodingKey {
        case name, sources, inputs, layers, notes
        case parameterCount = "parameter_count"
    }
}

public enum Inspector {
    /// Describes a net definition, a weights file, or both.
    /// - Parameters:
    ///   - net: a `.prototxt`, or nil to take the topology stored in the weights file.
    ///   - weights: a weights file, or nil to describe the topology alone.
    ///   - imageShape: C x H x W for nets whose input comes from a Data layer.
    /// - Throws: `FormatError` or `GraphError` naming the file or layer at fault.
    public static func inspect(net: URL?, weights: URL?, imageShape: Shape? = nil) throws -> ModelInspection {
        var notes: [String] = []
        var graph: Graph
        var stored: WeightSet?
        if let weights {
            stored = try FormatRegistry.weightsReader(for: weights).readWeights(from: weights)
        }
        if let net {
            graph = try CaffeFormat().readNet(from: net)
        } else if let weights {
            do {
                graph = try CaffeFormat().readModelDefinition(from: weights)
            } catch {
                // The stored definition may hold layers the engine cannot run; the blobs are still worth showing.
                notes.append("topology not shown: \(error)")
                return listing(of: stored ?? WeightSet(layers: []), source: weights.path, notes: notes)
            }
        } else {
            throw FormatError(file: "inspect", "give a .prototxt, a weights file, or both")
        }
        if let imageShape { graph = graph.withInput(batch: graph.inputs[0].shape[0], imageShape: imageShape) }

        var shapes: ShapeInference.Result?
        if graph.hasCompleteInputs {
            shapes = try ShapeInference.infer(graph, checkParameters: false)
        } else {
            notes.append("output shapes need the input's image shape, which a Data layer takes from its data: pass --input-shape C,H,W")
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
        let layers = graph.nodes.enumerated().map { index, node in
            ModelInspection.Layer(
                name: node.name, type: node.op.typeName, bottoms: node.inputs, tops: node.outputs,
                outputShapes: shapes.map { $0.nodeOutputShapes[index].map(\.dims) },
                blobs: node.parameters.enumerated().map { blobIndex, tensor in
                    let names = node.op.parameterNames
                    return ModelInspection.Blob(name: blobIndex < names.count ? names[blobIndex] : "blob \(blobIndex)",
                                                shape: tensor.shape.dims, statistics: tensor.statistics)
                },
                parameterCount: node.parameters.reduce(0) { $0 + $1.count })
        }
        return ModelInspection(
            name: graph.name, sources: [net?.path, weights?.path].compactMap { $0 },
            inputs: Dictionary(uniqueKeysWithValues: graph.inputs.map { ($0.name, $0.shape.dims) }),
            layers: layers, parameterCount: layers.reduce(0) { $0 + $1.parameterCount }, notes: notes)
    }

    static func listing(of weights: WeightSet, source: String, notes: [String]) -> ModelInspection {
        let layers = weights.layers.map { layer in
            ModelInspection.Layer(
                name: layer.name, type: layer.type ?? "?", bottoms: [], tops: [], outputShapes: nil,
                blobs: layer.blobs.enumerated().map { ModelInspection.Blob(name: "blob \($0)", shape: $1.shape.dims, statistics: $1.statistics) },
                parameterCount: layer.blobs.reduce(0) { $0 + $1.count })
        }
        return ModelInspection(name: "", sources: [source], inputs: [:], layers: layers,
                               parameterCount: layers.reduce(0) { $0 + $1.parameterCount }, notes: notes)
    }
}
