import TensorGraph

/// A graph checked and ready to run on batches of any size.
public struct Network: Sendable {
    public let graph: Graph

    /// Checks shapes, attributes and parameters for the graph's declared input shapes.
    /// - Throws: `GraphError` naming the first inconsistent layer.
    public init(graph: Graph) throws {
        guard graph.inputs.count == 1 else {
            throw GraphError.emptyGraph(reason: "the engine runs nets with one input; this one has \(graph.inputs.count)")
        }
        _ = try ShapeInference.infer(graph)
        self.graph = graph
    }

    /// The input shape for one image (without the batch dimension).
    public var imageShape: Shape { Shape(Array(graph.inputs[0].shape.dims.dropFirst())) }

    /// Number of parallel GEMM threads OpenBLAS may use.
    public static func setBLASThreads(_ count: Int) { BLAS.setThreads(count) }

    /// Runs the network on a batch and returns the graph's output value.
    /// - Parameter observe: called after each node with its index and output tensors (for debugging and comparisons).
    /// - Throws: `GraphError` when the input does not fit the network.
    public func forward(_ input: Tensor, observe: ((Int, [Tensor]) -> Void)? = nil) throws -> Tensor {
        guard Shape(Array(input.shape.dims.dropFirst())) == imageShape, input.shape.rank >= 1 else {
            throw GraphError.invalidShape(layer: graph.inputs[0].name,
                                          reason: "input batch \(input.shape) does not fit the net's input \(graph.inputs[0].shape)")
        }
        let batched = graph.withBatch(input.shape[0])
        let shapes = try ShapeInference.infer(batched, checkParameters: false)
        var values: [String: Tensor] = [graph.inputs[0].name: input]
        for (index, node) in graph.nodes.enumerated() {
            let inputs = try node.inputs.map { name -> Tensor in
                guard let value = values[name] else { throw GraphError.undefinedValue(layer: node.name, value: name) }
                return value
            }
            // Release in-place inputs before the kernel runs so their storage can be reused.
            for name in node.outputs where node.inputs.contains(name) { values[name] = nil }
            let outputs = run(node, inputs: inputs, outputShapes: shapes.nodeOutputShapes[index])
            for (name, tensor) in zip(node.outputs, outputs) { values[name] = tensor }
            observe?(index, outputs)
        }
        guard let output = values[graph.output] else { throw GraphError.undefinedValue(layer: "output", value: graph.output) }
        return output
    }

    func run(_ node: Node, inputs: [Tensor], outputShapes: [Shape]) -> [Tensor] {
        let x = inputs[0]
        let p = node.parameters
        switch node.op {
        case let .convolution(a):
            return [Kernels.convolution(x, a, weights: p[0], bias: a.biasTerm ? p[1] : nil, outputShape: outputShapes[0])]
        case let .innerProduct(a):
            return [Kernels.innerProduct(x, a, weights: p[0], bias: a.biasTerm ? p[1] : nil, outputShape: outputShapes[0])]
        case let .pooling(a):
            return [Kernels.pooling(x, a, outputShape: outputShapes[0])]
        case let .relu(slope):
            return [Kernels.relu(x, negativeSlope: slope)]
        case .sigmoid:
            return [Kernels.sigmoid(x)]
        case .tanh:
            return [Kernels.tanh(x)]
        case let .softmax(axis):
            return [Kernels.softmax(x, axis: axis)]
        case let .lrn(a):
            return [Kernels.lrn(x, a)]
        case .dropout:
            return [x]
        case .flatten:
            return [x.reshaped(outputShapes[0])]
        case let .concat(axis):
            return [Kernels.concat(inputs, axis: axis, outputShape: outputShapes[0])]
        case let .eltwise(a):
            return [Kernels.eltwise(inputs, a)]
        case let .batchNorm(a):
            return [Kernels.batchNorm(x, a, mean: p[0], variance: p[1], factor: p[2])]
        case let .scale(a):
            return [Kernels.scale(x, a, scale: p[0], bias: a.biasTerm ? p[1] : nil)]
        case .split:
            return Array(repeating: x, count: node.outputs.count)
        }
    }
}
