import Foundation
import TensorGraph

/// Weights in the Keras HDF5 layout: a `model_weights` group (or the root) whose attribute
/// `layer_names` lists the layers; each layer group's attribute `weight_names` lists its
/// datasets by path (`conv1/kernel:0`). Kernels are channels-last: convolution (KH, KW, I, O),
/// dense (IN, OUT).
struct KerasWeights {
    struct Layer {
        var name: String
        var weights: [(name: String, tensor: Tensor)]
    }

    var layers: [Layer]

    /// The Keras group of a file, or nil when the file does not use the Keras layout.
    static func root(of file: HDF5File) throws -> HDF5Group? {
        if file.root.contains("model_weights"), file.root.isGroup("model_weights") {
            let group = try file.root.group("model_weights")
            if try group.stringsAttribute("layer_names") != nil { return group }
        }
        return try file.root.stringsAttribute("layer_names") != nil ? file.root : nil
    }

    static func read(_ root: HDF5Group, sizeLimit: Int) throws -> KerasWeights {
        let names = try root.stringsAttribute("layer_names") ?? []
        let layers = try names.map { name -> Layer in
            guard root.contains(name) else { throw HDF5Error(operation: "reading layer '\(name)'", message: "listed in layer_names but missing") }
            let group = try root.group(name)
            let weightNames = try group.stringsAttribute("weight_names") ?? []
            return Layer(name: name, weights: try weightNames.map { weightName in
                let array = try group.readFloats(weightName, sizeLimit: sizeLimit)
                return (weightName, Tensor(shape: Shape(array.dims), data: array.values))
            })
        }
        return KerasWeights(layers: layers)
    }

    /// The stored weights as a weight set (Keras shapes), for inspection.
    var asStored: WeightSet {
        WeightSet(layers: layers.map { WeightSet.Layer(name: $0.name, type: "Keras", blobs: $0.weights.map(\.tensor)) })
    }

    /// Converts the Keras weights to `graph`'s Caffe layouts.
    ///
    /// Convolution kernels go from (KH, KW, I, O) to (O, I, KH, KW); dense kernels from (IN, OUT)
    /// to (OUT, IN). A dense layer fed by a C x H x W blob also has its inputs reordered, because
    /// Keras flattens channels-last ((h, w, c) order) where Caffe flattens (c, h, w).
    /// - Throws: `GraphError` naming the layer that cannot be imported.
    func converted(for graph: Graph, nameMap: [String: String]) throws -> WeightSet {
        let shapes = try ShapeInference.infer(graph, checkParameters: false)
        var valueShapes: [String: Shape] = Dictionary(uniqueKeysWithValues: graph.inputs.map { ($0.name, $0.shape) })
        var result: [WeightSet.Layer] = []
        for (index, node) in graph.nodes.enumerated() {
            let inputShape = valueShapes[node.inputs[0]] ?? []
            for (name, shape) in zip(node.outputs, shapes.nodeOutputShapes[index]) { valueShapes[name] = shape }
            guard !node.op.parameterNames.isEmpty else { continue }
            let kerasName = nameMap[node.name] ?? node.name
            guard let layer = layers.first(where: { $0.name == kerasName }) else {
                let known = layers.filter { !$0.weights.isEmpty }.map(\.name).joined(separator: ", ")
                throw GraphError.missingParameters(
                    layer: node.name,
                    reason: "the Keras file has no layer '\(kerasName)' (layers with weights: \(known)); map names with --map \(node.name)=KERAS_LAYER")
            }
            let kernel = try Self.find(layer, "kernel", fallback: 0, node: node.name)
            let bias = layer.weights.count > 1 ? try Self.find(layer, "bias", fallback: 1, node: node.name) : nil
            let blobs: [Tensor]
            switch node.op {
            case .convolution:
                guard kernel.shape.rank == 4 else {
                    throw GraphError.invalidShape(layer: node.name, reason: "Keras kernel \(kernel.shape) is not 4-D (KH, KW, I, O)")
                }
                blobs = [Self.permute(kernel, order: [3, 2, 0, 1])] + (bias.map { [$0] } ?? [])
            case let .innerProduct(a):
                guard kernel.shape.rank == 2 else {
                    throw GraphError.invalidShape(layer: node.name, reason: "Keras kernel \(kernel.shape) is not 2-D (IN, OUT)")
                }
                var matrix = kernel  // (IN, OUT), IN in Keras's flatten order
                let spatial = Array(inputShape.dims.dropFirst(a.axis))
                if spatial.count == 3, spatial[1] * spatial[2] > 1, kernel.shape[0] == spatial.reduce(1, *) {
                    matrix = Self.channelsFirstRows(matrix, channels: spatial[0], height: spatial[1], width: spatial[2])
                }
                blobs = [a.transpose ? matrix : Self.permute(matrix, order: [1, 0])] + (bias.map { [$0] } ?? [])
            default:
                throw GraphError.missingParameters(layer: node.name, reason: "importing \(node.op.typeName) weights from Keras is not supported")
            }
            result.append(WeightSet.Layer(name: node.name, type: node.op.typeName, blobs: blobs))
        }
        return WeightSet(layers: result)
    }

    static func find(_ layer: Layer, _ role: String, fallback: Int, node: String) throws -> Tensor {
        if let match = layer.weights.first(where: { $0.name.split(separator: "/").last?.hasPrefix(role) == true }) { return match.tensor }
        guard fallback < layer.weights.count else {
            throw GraphError.missingParameters(layer: node, reason: "Keras layer '\(layer.name)' has no \(role)")
        }
        return layer.weights[fallback].tensor
    }

    /// Transposes a tensor: output axis i is input axis `order[i]`.
    static func permute(_ tensor: Tensor, order: [Int]) -> Tensor {
        let inDims = tensor.shape.dims
        let outDims = order.map { inDims[$0] }
        var inStrides = [Int](repeating: 1, count: inDims.count)
        for axis in stride(from: inDims.count - 2, through: 0, by: -1) { inStrides[axis] = inStrides[axis + 1] * inDims[axis + 1] }
        let strides = order.map { inStrides[$0] }
        var out = [Float](repeating: 0, count: tensor.count)
        var index = [Int](repeating: 0, count: outDims.count)
        for position in 0..<out.count {
            var source = 0
            for axis in 0..<index.count { source += index[axis] * strides[axis] }
            out[position] = tensor.data[source]
            var axis = index.count - 1
            while axis >= 0 {
                index[axis] += 1
                if index[axis] < outDims[axis] { break }
                index[axis] = 0
                axis -= 1
            }
        }
        return Tensor(shape: Shape(outDims), data: out)
    }

    /// Reorders the rows of an (IN, OUT) matrix from (h, w, c) to (c, h, w) flatten order.
    static func channelsFirstRows(_ matrix: Tensor, channels: Int, height: Int, width: Int) -> Tensor {
        let columns = matrix.shape[1]
        var out = [Float](repeating: 0, count: matrix.count)
        for c in 0..<channels {
            for h in 0..<height {
                for w in 0..<width {
                    let keras = ((h * width + w) * channels + c) * columns
                    let caffe = ((c * height + h) * width + w) * columns
                    out.replaceSubrange(caffe..<(caffe + columns), with: matrix.data[keras..<(keras + columns)])
                }
            }
        }
        return Tensor(shape: matrix.shape, data: out)
    }
}
