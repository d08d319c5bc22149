/// Parameter blobs read from a weights file, grouped by layer name in file order.
public struct WeightSet: Sendable, Equatable {
    /// One layer's blobs.
    public struct Layer: Sendable, Equatable {
        /// The layer name, as the file stores it.
        public var name: String
        /// The layer type as the file records it, when it does.
        public var type: String?
        /// The parameter blobs in the order the file stores them.
        public var blobs: [Tensor]
        /// A layer's blobs, with its type when the file records one.
        public init(name: String, type: String? = nil, blobs: [Tensor]) {
            self.name = name
            self.type = type
            self.blobs = blobs
        }
    }

    /// Every layer with blobs, in file order.
    public var layers: [Layer]
    /// A set of `layers`.
    public init(layers: [Layer]) { self.layers = layers }

    /// The layer called `name`, if any.
    public func layer(named name: String) -> Layer? { layers.first { $0.name == name } }

    /// The set with file layer `map[name]` presented under the graph's `name`.
    public func renamed(_ map: [String: String]) -> WeightSet {
        guard !map.isEmpty else { return self }
        let graphName = Dictionary(map.map { ($1, $0) }, uniquingKeysWith: { first, _ in first })
        return WeightSet(layers: layers.map { layer in
            var copy = layer
            copy.name = graphName[layer.name] ?? layer.name
            return copy
        })
    }
}

/// What attaching weights to a graph noticed without failing.
public struct WeightAttachReport: Sendable, Equatable {
    /// Layers that carry blobs in the file but are not in the graph.
    public var unusedLayers: [String] = []
}

extension Graph {
    /// Returns the graph with parameters taken from `weights`, matched by layer name.
    ///
    /// A stored blob is accepted when its shape equals the needed one after dropping
    /// leading 1s, which is how legacy 4-D Caffe blobs (V1 biases are 1x1x1xN) compare.
    /// - Throws: `GraphError` naming the layer whose blobs are missing or misshapen.
    public func attachingWeights(_ weights: WeightSet) throws -> (Graph, WeightAttachReport) {
        let shapes = try ShapeInference.infer(self, checkParameters: false)
        var valueShapes: [String: Shape] = [:]
        for input in inputs { valueShapes[input.name] = input.shape }
        var result = self
        var used = Set<String>()
        for (index, node) in nodes.enumerated() {
            let inputShape = valueShapes[node.inputs[0]] ?? []
            let expected = try ShapeInference.expectedParameterShapes(of: node, input: inputShape)
            for (name, shape) in zip(node.outputs, shapes.nodeOutputShapes[index]) { valueShapes[name] = shape }
            guard !expected.isEmpty else { continue }
            guard let stored = weights.layer(named: node.name) else {
                throw GraphError.missingParameters(layer: node.name, reason: "the weights file has no layer of this name")
            }
            used.insert(node.name)
            guard stored.blobs.count == expected.count else {
                throw GraphError.missingParameters(
                    layer: node.name,
                    reason: "the weights file has \(stored.blobs.count) blobs, a \(node.op.typeName) layer with these settings needs \(expected.count)")
            }
            result.nodes[index].parameters = try zip(stored.blobs, expected).enumerated().map { blobIndex, pair in
                let (blob, shape) = pair
                if blob.shape == shape { return blob }
                guard blob.shape.droppingLeadingOnes == shape.droppingLeadingOnes else {
                    throw GraphError.parameterShapeMismatch(
                        layer: node.name, blob: node.op.parameterNames[blobIndex], found: blob.shape, expected: shape)
                }
                return blob.reshaped(shape)
            }
        }
        let report = WeightAttachReport(
            unusedLayers: weights.layers.filter { !$0.blobs.isEmpty && !used.contains($0.name) }.map(\.name))
        return (result, report)
    }
}
