import Foundation
import TensorGraph

/// A graph checked and ready to run on batches of any size.
public struct Network: Sendable {
    public let graph: Graph
    /// The settings this network runs with.
    public let options: EngineOptions
    /// `liveness[i]`: the values live just before node i (index `nodes.count`: after the last node).
    let liveness: [Set<String>]
    /// Images `forward` runs through the whole net at a time: as many as keep the largest
    /// activation within 2 MiB (measured on ResNet-20: 25% more images/s than whole batches of 100).
    let imagesPerPass: Int
    /// The graph's convolution and inner-product weights as the kernels read them, made on first use.
    let preparedWeights = PreparedWeights()

    /// Checks shapes, attributes and parameters for the graph's declared input shapes.
    /// - Throws: `GraphError` naming the first inconsistent layer.
    public init(graph: Graph, options: EngineOptions = .default) throws {
        guard graph.inputs.count == 1 else {
            throw GraphError.emptyGraph(reason: "the engine runs nets with one input; this one has \(graph.inputs.count)")
        }
        let shapes = try ShapeInference.infer(graph)
        let largest = shapes.nodeOutputShapes.joined().map { $0.rank > 0 ? $0.count(from: 1) : 1 }.max() ?? 1
        imagesPerPass = max(1, (1 << 19) / max(1, largest))
        self.graph = graph
        self.options = options
        liveness = Self.liveness(of: graph)
        BLAS.setThreads(options.blasThreads)
    }

    /// The input shape for one image (without the batch dimension).
    public var imageShape: Shape { Shape(Array(graph.inputs[0].shape.dims.dropFirst())) }

    /// Runs the network on a batch and returns the graph's output value.
    /// - Parameter observe: called after each node with its index and output tensors (for debugging and comparisons).
    /// - Throws: `GraphError` when the input does not fit the network.
    public func forward(_ input: Tensor, observe: ((Int, [Tensor]) -> Void)? = nil) throws -> Tensor {
        guard Shape(Array(input.shape.dims.dropFirst())) == imageShape, input.shape.rank >= 1 else {
            throw GraphError.invalidShape(layer: graph.inputs[0].name,
                                          reason: "input batch \(input.shape) does not fit the net's input \(graph.inputs[0].shape)")
        }
        let batch = input.shape[0], slice = imagesPerPass
        if observe == nil, batch > slice {
            // A few images at a time through the whole net: their activations stay in the core's
            // cache from one layer to the next, where a whole batch's would stream through memory.
            let imageSize = input.shape.count(from: 1)
            var outputs: [Tensor] = []
            for first in stride(from: 0, to: batch, by: slice) {
                let count = min(slice, batch - first)
                var dims = input.shape.dims
                dims[0] = count
                let part = Tensor(shape: Shape(dims), data: Array(input.data[(first * imageSize)..<((first + count) * imageSize)]))
                outputs.append(try forward(part))
            }
            var dims = outputs[0].shape.dims
            dims[0] = batch
            return Tensor(shape: Shape(dims), data: outputs.flatMap(\.data))
        }
        let values = try resume([graph.inputs[0].name: input], batch: batch, nodes: graph.nodes.indices, observe: observe)
        guard let output = values[graph.output] else { throw GraphError.undefinedValue(layer: "output", value: graph.output) }
        return output
    }

    /// The values a pass must hold just before node `index` to finish from there: those that node
    /// or a later one reads, and the graph's output once it exists.
    public func liveValues(before index: Int) -> Set<String> { liveness[min(max(0, index), liveness.count - 1)] }

    /// The values `node` reads, in order.
    static func inputs(of node: Node, in values: [String: Tensor]) throws -> [Tensor] {
        try node.inputs.map { name in
            guard let value = values[name] else { throw GraphError.undefinedValue(layer: node.name, value: name) }
            return value
        }
    }

    /// Runs `nodes` on `values` (the live values just before the range) and returns the values live
    /// just after it, so a pass can be stopped at any node and resumed later, as often as wanted.
    /// - Parameters:
    ///   - batch: the batch size of the values.
    ///   - parameters: replacement parameters by node index (a quantized layer's weights), used
    ///     instead of the graph's own for those nodes.
    /// - Throws: `GraphError` when a value a node reads is missing.
    public func resume(_ values: [String: Tensor], batch: Int, nodes: Range<Int>, parameters: [Int: [Tensor]] = [:],
                       observe: ((Int, [Tensor]) -> Void)? = nil) throws -> [String: Tensor] {
        let shapes = try ShapeInference.infer(graph.withBatch(batch), checkParameters: false)
        var values = values
        for index in nodes {
            var node = graph.nodes[index]
            if let replacement = parameters[index] { node.parameters = replacement }
            var inputs = try Self.inputs(of: node, in: values)
            // Drop in-place inputs from the table so element-wise kernels own their storage and skip a copy.
            for name in node.outputs where node.inputs.contains(name) { values[name] = nil }
            let outputs = Self.run(node, inputs: &inputs, outputShapes: shapes.nodeOutputShapes[index], options: options,
                                   prepared: parameters[index] == nil ? PreparedWeights.Slot(store: preparedWeights, node: index) : nil)
            for (name, tensor) in zip(node.outputs, outputs) { values[name] = tensor }
            observe?(index, outputs)
            // Free what no later node reads: a long pass keeps only its working set.
            let live = liveness[index + 1]
            for name in values.keys where !live.contains(name) { values[name] = nil }
        }
        return values
    }

    /// Walking back from the end: a value is live before node i when node i or a later one reads
    /// it; the output is live throughout, so it survives to the end once produced.
    static func liveness(of graph: Graph) -> [Set<String>] {
        var sets = [Set<String>](repeating: [], count: graph.nodes.count + 1)
        var readLater: Set<String> = [graph.output]
        sets[graph.nodes.count] = readLater
        for index in graph.nodes.indices.reversed() {
            readLater.formUnion(graph.nodes[index].inputs)
            sets[index] = readLater
        }
        return sets
    }

    /// Runs one node on a batch with the engine's kernels, for callers that drive the layers
    /// themselves (the integer datapath runs its integer-valued products here; see there why exactly).
    /// - Parameter outputShapes: the node's output shapes for this batch.
    public static func runNode(_ node: Node, inputs: [Tensor], outputShapes: [Shape], options: EngineOptions = .default) -> [Tensor] {
        var inputs = inputs
        return run(node, inputs: &inputs, outputShapes: outputShapes, options: options)
    }

    /// Runs one node with the engine's kernels; `inputs` may be consumed by in-place kernels.
    static func run(_ node: Node, inputs: inout [Tensor], outputShapes: [Shape], options: EngineOptions = .default,
                    prepared: PreparedWeights.Slot? = nil) -> [Tensor] {
        let p = node.parameters
        /// Applies an in-place kernel to the first input, which is uniquely owned when the layer is in place.
        func inPlace(_ kernel: (inout Tensor) -> Void) -> [Tensor] {
            var y = inputs.removeFirst()
            kernel(&y)
            return [y]
        }
        switch node.op {
        case let .convolution(a):
            return [Kernels.convolution(inputs[0], a, weights: p[0], bias: a.biasTerm ? p[1] : nil, outputShape: outputShapes[0],
                                        method: options.convolution, prepared: prepared)]
        case let .innerProduct(a):
            return [Kernels.innerProduct(inputs[0], a, weights: p[0], bias: a.biasTerm ? p[1] : nil, outputShape: outputShapes[0],
                                         prepared: prepared, vectorUnit: options.vectorKernels)]
        case let .pooling(a):
            return [Kernels.pooling(inputs[0], a, outputShape: outputShapes[0], vectorUnit: options.vectorKernels)]
        case let .relu(a):
            return inPlace { Kernels.relu(&$0, negativeSlope: a.negativeSlope) }
        case .sigmoid:
            return inPlace { Kernels.sigmoid(&$0) }
        case .tanh:
            return inPlace { Kernels.tanh(&$0) }
        case .absVal:
            return inPlace { Kernels.absVal(&$0) }
        case .prelu:
            return inPlace { Kernels.prelu(&$0, slopes: p[0]) }
        case let .clip(a):
            return inPlace { Kernels.clip(&$0, min: a.min, max: a.max) }
        case let .permute(a):
            return [Kernels.permute(inputs[0], order: a.fullOrder(rank: inputs[0].shape.rank), outputShape: outputShapes[0])]
        case let .softmax(a):
            return [Kernels.softmax(inputs[0], axis: a.axis)]
        case let .lrn(a):
            return [Kernels.lrn(inputs[0], a, vectorUnit: options.vectorKernels)]
        case .dropout:
            return [inputs[0]]
        case .flatten:
            return [inputs[0].reshaped(outputShapes[0])]
        case let .concat(a):
            return [Kernels.concat(inputs, axis: a.axis, outputShape: outputShapes[0])]
        case let .eltwise(a):
            return [Kernels.eltwise(inputs, a)]
        case let .batchNorm(a):
            return inPlace { Kernels.batchNorm(&$0, a, mean: p[0], variance: p[1], factor: p[2]) }
        case let .scale(a):
            return inPlace { Kernels.scale(&$0, a, scale: p[0], bias: a.biasTerm ? p[1] : nil) }
        case .split:
            return Array(repeating: inputs[0], count: node.outputs.count)
        }
    }
}

/// Weights rearranged for the convolution and inner-product kernels, made once per layer and kept for the network's
/// lifetime: the graph's parameters never change (replacement parameters bypass it).
/// A layer can be packed for more than one kernel (Winograd or direct, chosen by batch size), so
/// each packing is kept under its own layout.
final class PreparedWeights: @unchecked Sendable {
    private let lock = NSLock()
    private var packed: [Key: [Float]] = [:]

    /// How weights are laid out for a kernel.
    enum Layout: Hashable {
        case direct, winograd, innerProduct
    }

    private struct Key: Hashable {
        let node: Int
        let layout: Layout
    }

    /// One node's entries.
    struct Slot {
        let store: PreparedWeights
        let node: Int

        /// The node's weights packed for `layout`, made by `make` the first time.
        func packed(_ layout: Layout, _ make: () -> [Float]) -> [Float] {
            let key = Key(node: node, layout: layout)
            if let packed = store.lock.withLock({ store.packed[key] }) { return packed }
            let packed = make()
            store.lock.withLock { store.packed[key] = packed }
            return packed
        }
    }
}
