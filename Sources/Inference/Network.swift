import Foundation
import Synchronization
import SIMDKernels
import TensorGraph

/// A graph checked and ready to run on batches of any size.
public struct Network: Sendable {
    public let graph: Graph
    /// The settings this network runs with.
    public let options: EngineOptions
    /// `liveness[i]`: the values live just before node i (index `nodes.count`: after the last node).
    let liveness: [Set<String>]
    /// Images `resume` runs through its nodes at a time: as many as keep the largest
    /// activation within 2 MiB (measured on ResNet-20: 25% more images/s than whole batches of 100).
    let imagesPerPass: Int
    /// Whether every node treats each image on its own (no softmax, concat, flatten or permute
    /// across the batch axis), so a batch can run as consecutive slices of images.
    let keepsImagesApart: Bool
    /// Per convolution or Eltwise SUM whose output the next nodes only transform channel by
    /// channel (batch norm, scale, ReLU): those nodes, which run as the kernel's epilogue; empty
    /// without the vector unit.
    let epilogueChains: [Int: EpilogueChain]

    /// The nodes after a kernel that run as its epilogue.
    struct EpilogueChain {
        /// How many nodes follow the kernel's.
        let length: Int
        /// Channels of the kernel's output.
        let channels: Int
        /// Their steps with the graph's own parameters, made once.
        let epilogue: ChannelEpilogue
    }
    /// The graph's convolution and inner-product weights as the kernels read them, made on first use.
    let preparedWeights = PreparedWeights()
    /// Whether passes of fewer images than cores split (`EngineOptions.imageSplit` `measured`).
    let splitChoice = SplitChoice()
    /// Every node's shapes per batch size, inferred once for each (a pass of one image would
    /// otherwise spend a tenth of its time inferring them).
    let batchShapes = BatchShapes()

    /// Checks shapes, attributes and parameters for the graph's declared input shapes.
    /// - Throws: `GraphError` naming the first inconsistent layer.
    public init(graph: Graph, options: EngineOptions = .default) throws {
        guard graph.inputs.count == 1 else {
            throw GraphError.emptyGraph(reason: "the engine runs nets with one input; this one has \(graph.inputs.count)")
        }
        let shapes = try ShapeInference.infer(graph)
        let largest = shapes.nodeOutputShapes.joined().map { $0.rank > 0 ? $0.count(from: 1) : 1 }.max() ?? 1
        imagesPerPass = max(1, (1 << 19) / max(1, largest))
        keepsImagesApart = zip(graph.nodes, shapes.nodeInputShapes).allSatisfy { node, inputs in
            Self.keepsImagesApart(node, inputRank: inputs.first?.rank ?? 0)
        }
        self.graph = graph
        self.options = options
        liveness = Self.liveness(of: graph)
        epilogueChains = options.vectorKernels ? Self.epilogueChains(of: graph, shapes: shapes, liveness: liveness) : [:]
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
        let batch = input.shape[0]
        func pass() throws -> Tensor {
            let values = try resume([graph.inputs[0].name: input], batch: batch, nodes: graph.nodes.indices, observe: observe)
            guard let output = values[graph.output] else { throw GraphError.undefinedValue(layer: "output", value: graph.output) }
            return output
        }
        guard options.imageSplit != .always, Parallel.splitsWithinItems(batch) else { return try pass() }
        let (splits, trial) = options.imageSplit == .never ? (false, false) : splitChoice.next()
        let start = trial ? DispatchTime.now().uptimeNanoseconds : 0
        let output = splits ? try pass() : try Parallel.runSerially(pass)
        if trial { splitChoice.record(splits: splits, seconds: Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9) }
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
        guard observe == nil, keepsImagesApart, batch > imagesPerPass else {
            return try resumeWhole(values, batch: batch, nodes: nodes, parameters: parameters, observe: observe)
        }
        // A few images at a time through the whole range: their activations stay in the core's
        // cache from one layer to the next, where a whole batch's would stream through memory.
        // Equal slices (100 images as 4 x 25, not 32 + 32 + 32 + 4): a small last slice fills the kernels' lanes poorly.
        let sliceCount = (batch + imagesPerPass - 1) / imagesPerPass
        var slices: [[String: Tensor]] = []
        for slice in 0..<sliceCount {
            let images = (slice * batch / sliceCount)..<((slice + 1) * batch / sliceCount)
            slices.append(try resumeWhole(values.mapValues { $0.images(images, of: batch) }, batch: images.count, nodes: nodes,
                                          parameters: parameters, observe: nil))
        }
        var joined: [String: Tensor] = [:]
        for name in slices[0].keys { joined[name] = Tensor(joiningImages: slices.compactMap { $0[name] }) }
        return joined
    }

    /// `resume` on the whole batch at once.
    private func resumeWhole(_ values: [String: Tensor], batch: Int, nodes: Range<Int>, parameters: [Int: [Tensor]],
                             observe: ((Int, [Tensor]) -> Void)?) throws -> [String: Tensor] {
        let shapes = try batchShapes.shapes(of: graph, batch: batch)
        var values = values
        var index = nodes.lowerBound
        while index < nodes.upperBound {
            var node = graph.nodes[index]
            if let replacement = parameters[index] { node.parameters = replacement }
            let fused = observe == nil ? epilogue(after: index, before: nodes.upperBound, parameters: parameters) : nil
            let last = index + (fused?.length ?? 0)
            var inputs = try Self.inputs(of: node, in: values)
            // Drop in-place inputs from the table so element-wise kernels own their storage and skip a copy.
            for name in node.outputs where node.inputs.contains(name) { values[name] = nil }
            let outputs = Self.run(node, inputs: &inputs, outputShapes: shapes.nodeOutputShapes[index], options: options,
                                   prepared: PreparedWeights.Slot(store: preparedWeights, node: index, replacement: parameters[index]?.first?.data),
                                   epilogue: fused?.epilogue)
            for (name, tensor) in zip(graph.nodes[last].outputs, outputs) { values[name] = tensor }
            observe?(index, outputs)
            // Free what no later node reads: a long pass keeps only its working set.
            let live = liveness[last + 1]
            for name in values.keys where !live.contains(name) { values[name] = nil }
            index = last + 1
        }
        return values
    }

    /// The epilogue of the nodes after `index` (below `end`) that can run inside its kernel, and how many they are.
    func epilogue(after index: Int, before end: Int, parameters: [Int: [Tensor]]) -> (length: Int, epilogue: ChannelEpilogue)? {
        guard let chain = epilogueChains[index] else { return nil }
        let chainNodes = (index + 1)...(index + chain.length)
        if chainNodes.upperBound < end, !chainNodes.contains(where: { parameters[$0] != nil }) { return (chain.length, chain.epilogue) }
        // Cut short by the range, or with replaced parameters: the steps as they stand here.
        var steps: [ChannelEpilogue.Step] = []
        var length = 0
        for next in (index + 1)..<min(end, index + 1 + chain.length) {
            var node = graph.nodes[next]
            if let replacement = parameters[next] { node.parameters = replacement }
            guard let nodeSteps = Self.epilogueSteps(node, channels: chain.channels) else { break }
            steps += nodeSteps
            length += 1
        }
        return length > 0 ? (length, ChannelEpilogue(steps: steps, channels: chain.channels, wide: VectorUnit.wideVectors)) : nil
    }

    /// The chains `epilogueChains` holds: each convolution or Eltwise SUM followed by nodes that read
    /// only its value (or the previous one's) and transform it channel by channel, where no later
    /// node reads a value the chain overwrites or renames.
    static func epilogueChains(of graph: Graph, shapes: ShapeInference.Result, liveness: [Set<String>]) -> [Int: EpilogueChain] {
        var chains: [Int: EpilogueChain] = [:]
        for (index, node) in graph.nodes.enumerated() {
            switch node.op {
            case .convolution: break
            case let .eltwise(a) where a.operation == .sum: break
            default: continue
            }
            guard node.outputs.count == 1, let shape = shapes.nodeOutputShapes[index].first, shape.rank > 1 else { continue }
            var value = node.outputs[0], length = 0
            var steps: [ChannelEpilogue.Step] = []
            while index + length + 1 < graph.nodes.count {
                let next = graph.nodes[index + length + 1]
                guard next.inputs == [value], next.outputs.count == 1,
                      next.outputs[0] == value || !liveness[index + length + 2].contains(value),
                      let nextSteps = epilogueSteps(next, channels: shape[1]) else { break }
                steps += nextSteps
                value = next.outputs[0]
                length += 1
            }
            if length > 0 {
                chains[index] = EpilogueChain(length: length, channels: shape[1],
                                              epilogue: ChannelEpilogue(steps: steps, channels: shape[1], wide: VectorUnit.wideVectors))
            }
        }
        return chains
    }

    /// A node's operation as epilogue steps on values of `channels` channels, when it is one of
    /// the per-channel layers an epilogue runs (and its parameters fit).
    static func epilogueSteps(_ node: Node, channels: Int) -> [ChannelEpilogue.Step]? {
        let p = node.parameters
        switch node.op {
        case let .batchNorm(a):
            guard p.count == 3, p[0].count == channels, p[1].count == channels, p[2].count >= 1 else { return nil }
            let (means, deviations) = Kernels.batchNormStatistics(a, mean: p[0], variance: p[1], factor: p[2])
            return [.normalize(mean: means, deviation: deviations)]
        case let .scale(a):
            guard a.axis == 1, a.numAxes == 1, p.count == (a.biasTerm ? 2 : 1), p.allSatisfy({ $0.count == channels }) else { return nil }
            return [.scale(p[0].data)] + (a.biasTerm ? [.shift(p[1].data)] : [])
        case let .relu(a):
            return [.relu(negativeSlope: a.negativeSlope)]
        default:
            return nil
        }
    }

    /// Whether `node` computes each image's outputs from that image's inputs alone.
    static func keepsImagesApart(_ node: Node, inputRank: Int) -> Bool {
        func isBatchAxis(_ axis: Int) -> Bool { axis == 0 || axis == -inputRank }
        switch node.op {
        case let .softmax(a): return !isBatchAxis(a.axis)
        case let .concat(a): return !isBatchAxis(a.axis)
        case let .flatten(a): return !isBatchAxis(a.axis)
        case let .scale(a): return !isBatchAxis(a.axis)
        case let .permute(a): return a.fullOrder(rank: inputRank).first == 0
        default: return true
        }
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
                    prepared: PreparedWeights.Slot? = nil, epilogue: ChannelEpilogue? = nil) -> [Tensor] {
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
                                        method: options.convolution, prepared: prepared, epilogue: epilogue)]
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
            return [Kernels.eltwise(inputs, a, epilogue: epilogue)]
        case let .batchNorm(a):
            return inPlace { Kernels.batchNorm(&$0, a, mean: p[0], variance: p[1], factor: p[2]) }
        case let .scale(a):
            return inPlace { Kernels.scale(&$0, a, scale: p[0], bias: a.biasTerm ? p[1] : nil) }
        case .split:
            return Array(repeating: inputs[0], count: node.outputs.count)
        }
    }
}

extension Tensor {
    /// Images `range` of a batch-major tensor holding `batch` images.
    func images(_ range: Range<Int>, of batch: Int) -> Tensor {
        precondition(shape.rank > 0 && shape[0] == batch, "value \(shape) is not batch-major for \(batch) images")
        let size = shape.count(from: 1)
        var dims = shape.dims
        dims[0] = range.count
        return Tensor(shape: Shape(dims), data: Array(data[(range.lowerBound * size)..<(range.upperBound * size)]))
    }

    /// Batch-major parts joined along the batch axis, in order.
    init(joiningImages parts: [Tensor]) {
        var dims = parts[0].shape.dims
        dims[0] = parts.reduce(0) { $0 + $1.shape[0] }
        self.init(shape: Shape(dims), data: parts.flatMap(\.data))
    }
}

/// `Network`'s shapes by batch size.
final class BatchShapes: Sendable {
    private let results = Mutex<[Int: ShapeInference.Result]>([:])
    /// Batch sizes kept (a pass's slices come in one or two sizes; the calibration sets' last batches add a few).
    static let capacity = 16

    /// Every node's shapes in `graph` (the network's own) with `batch` images.
    func shapes(of graph: Graph, batch: Int) throws -> ShapeInference.Result {
        if let known = results.withLock({ $0[batch] }) { return known }
        let inferred = try ShapeInference.infer(graph.withBatch(batch), checkParameters: false)
        results.withLock { results in
            if results.count >= Self.capacity { results.removeAll() }
            results[batch] = inferred
        }
        return inferred
    }
}

/// Weights rearranged for the convolution and inner-product kernels, made once per layer and kept for the network's
/// lifetime: the graph's parameters never change. Replacement weights (a quantized layer's, in a
/// search) keep their latest packing per layer, reused while the same weights come back.
/// A layer can be packed for more than one kernel (Winograd or direct, chosen by batch size), so
/// each packing is kept under its own layout.
/// Each node's kernel geometry is kept beside its packings.
final class PreparedWeights: @unchecked Sendable {
    private let lock = NSLock()
    private var packed: [Key: [Float]] = [:]
    private var replaced: [Key: (weights: [Float], packed: [Float])] = [:]
    private var geometries: [Key: any Sendable] = [:]

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
        /// The weights the node runs with instead of the graph's; nil for the graph's own.
        var replacement: [Float]? = nil

        /// The node's weights packed for `layout`, made by `make` the first time.
        func packed(_ layout: Layout, _ make: () -> [Float]) -> [Float] {
            let key = Key(node: node, layout: layout)
            guard let replacement else {
                if let packed = store.lock.withLock({ store.packed[key] }) { return packed }
                let packed = make()
                store.lock.withLock { store.packed[key] = packed }
                return packed
            }
            // Equal arrays that share storage compare without reading their elements.
            if let entry = store.lock.withLock({ store.replaced[key] }), entry.weights == replacement { return entry.packed }
            let packed = make()
            store.lock.withLock { store.replaced[key] = (replacement, packed) }
            return packed
        }

        /// The node's kernel geometry for `layout` (its shapes' plan, the same for every batch
        /// size and weights), made by `make` the first time.
        func geometry<Geometry: Sendable>(_ layout: Layout, _ make: () -> Geometry) -> Geometry {
            let key = Key(node: node, layout: layout)
            if let known = store.lock.withLock({ store.geometries[key] }) as? Geometry { return known }
            let geometry = make()
            store.lock.withLock { store.geometries[key] = geometry }
            return geometry
        }
    }
}
