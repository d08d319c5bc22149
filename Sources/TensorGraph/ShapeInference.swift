/// Computes every value's shape from the input shapes, checking each layer's attributes and parameters.
public enum ShapeInference {
    /// The output shapes of every node, in node order, plus the final shape of every value.
    public struct Result: Sendable {
        public var nodeOutputShapes: [[Shape]]
        public var valueShapes: [String: Shape]
    }

    /// Infers all shapes.
    /// - Parameter checkParameters: also verify that attached parameter blobs have the shapes the layers need.
    /// - Throws: `GraphError` naming the first layer whose shapes or attributes are inconsistent.
    public static func infer(_ graph: Graph, checkParameters: Bool = true) throws -> Result {
        var shapes: [String: Shape] = [:]
        for input in graph.inputs {
            guard input.shape.checkedCount != nil, input.shape.dims.allSatisfy({ $0 > 0 }) else {
                throw GraphError.invalidShape(layer: input.name, reason: "input shape \(input.shape) is not positive")
            }
            shapes[input.name] = input.shape
        }
        var nodeShapes: [[Shape]] = []
        nodeShapes.reserveCapacity(graph.nodes.count)
        for node in graph.nodes {
            let inputShapes = try node.inputs.map { name -> Shape in
                guard let shape = shapes[name] else { throw GraphError.undefinedValue(layer: node.name, value: name) }
                return shape
            }
            let outputs = try outputShapes(of: node, inputs: inputShapes)
            for shape in outputs {
                _ = try ShapeMath.count(shape, layer: node.name)
                guard shape.dims.allSatisfy({ $0 > 0 }) else {
                    throw GraphError.invalidShape(layer: node.name, reason: "output shape \(shape) is empty")
                }
            }
            if checkParameters {
                try checkParameterShapes(of: node, input: inputShapes[0])
            }
            for (name, shape) in zip(node.outputs, outputs) { shapes[name] = shape }
            nodeShapes.append(outputs)
        }
        return Result(nodeOutputShapes: nodeShapes, valueShapes: shapes)
    }

    /// The parameter shapes `node` needs when its first input has shape `input`.
    public static func expectedParameterShapes(of node: Node, input: Shape) throws -> [Shape] {
        switch node.op {
        case let .convolution(a):
            let channels = input[1]
            guard a.group > 0, channels % a.group == 0, a.numOutput % a.group == 0 else {
                throw GraphError.invalidAttribute(
                    layer: node.name,
                    reason: "group \(a.group) must divide the \(channels) input and \(a.numOutput) output channels")
            }
            var shapes = [Shape([a.numOutput, channels / a.group, a.kernel.h, a.kernel.w])]
            if a.biasTerm { shapes.append([a.numOutput]) }
            return shapes
        case let .innerProduct(a):
            let inputSize = try ShapeMath.count(Shape(Array(input.dims[a.axis...])), layer: node.name)
            var shapes = [a.transpose ? Shape([inputSize, a.numOutput]) : Shape([a.numOutput, inputSize])]
            if a.biasTerm { shapes.append([a.numOutput]) }
            return shapes
        case .batchNorm:
            return [[input[1]], [input[1]], [1]]
        case let .scale(a):
            let shape = Shape(Array(input.dims[a.axis..<(a.axis + a.numAxes)]))
            return a.biasTerm ? [shape, shape] : [shape]
        default:
            return []
        }
    }

    static func checkParameterShapes(of node: Node, input: Shape) throws {
        let expected = try expectedParameterShapes(of: node, input: input)
        guard node.parameters.count == expected.count else {
            throw GraphError.missingParameters(
                layer: node.name,
                reason: "has \(node.parameters.count) parameter blobs, a \(node.op.typeName) layer needs \(expected.count)")
        }
        for (index, (tensor, shape)) in zip(node.parameters, expected).enumerated() where tensor.shape != shape {
            throw GraphError.parameterShapeMismatch(
                layer: node.name, blob: node.op.parameterNames[index], found: tensor.shape, expected: shape)
        }
    }

    /// The output shapes of one node given its input shapes.
    /// - Throws: `GraphError` when the inputs or attributes do not fit the operation.
    public static func outputShapes(of node: Node, inputs: [Shape]) throws -> [Shape] {
        let layer = node.name
        func requireInputs(_ count: ClosedRange<Int>) throws {
            guard count.contains(inputs.count) else {
                throw GraphError.invalidAttribute(
                    layer: layer, reason: "a \(node.op.typeName) layer takes \(count) inputs, not \(inputs.count)")
            }
        }
        func requireRank(_ rank: Int, of shape: Shape) throws {
            guard shape.rank == rank else {
                throw GraphError.invalidShape(layer: layer, reason: "needs a \(rank)-D input, got \(shape)")
            }
        }
        func normalizedAxis(_ axis: Int, rank: Int) throws -> Int {
            let resolved = axis < 0 ? axis + rank : axis
            guard resolved >= 0, resolved < rank else {
                throw GraphError.invalidAttribute(layer: layer, reason: "axis \(axis) is out of range for rank \(rank)")
            }
            return resolved
        }

        switch node.op {
        case let .convolution(a):
            try requireInputs(1...1)
            let x = inputs[0]
            try requireRank(4, of: x)
            guard a.numOutput > 0, a.kernel.h > 0, a.kernel.w > 0, a.stride.h > 0, a.stride.w > 0,
                  a.dilation.h > 0, a.dilation.w > 0, a.pad.h >= 0, a.pad.w >= 0 else {
                throw GraphError.invalidAttribute(layer: layer, reason: "kernel, stride, dilation and num_output must be positive")
            }
            let h = try convolutionOutput(x[2], kernel: a.kernel.h, stride: a.stride.h, pad: a.pad.h, dilation: a.dilation.h, layer: layer)
            let w = try convolutionOutput(x[3], kernel: a.kernel.w, stride: a.stride.w, pad: a.pad.w, dilation: a.dilation.w, layer: layer)
            return [[x[0], a.numOutput, h, w]]

        case let .pooling(a):
            try requireInputs(1...1)
            let x = inputs[0]
            try requireRank(4, of: x)
            if a.global { return [[x[0], x[1], 1, 1]] }
            guard a.kernel.h > 0, a.kernel.w > 0, a.stride.h > 0, a.stride.w > 0, a.pad.h >= 0, a.pad.w >= 0 else {
                throw GraphError.invalidAttribute(layer: layer, reason: "kernel and stride must be positive")
            }
            guard a.pad.h < a.kernel.h, a.pad.w < a.kernel.w else {
                throw GraphError.invalidAttribute(layer: layer, reason: "pad must be smaller than the kernel")
            }
            let h = try poolingOutput(x[2], kernel: a.kernel.h, stride: a.stride.h, pad: a.pad.h, ceil: a.ceilMode, layer: layer)
            let w = try poolingOutput(x[3], kernel: a.kernel.w, stride: a.stride.w, pad: a.pad.w, ceil: a.ceilMode, layer: layer)
            return [[x[0], x[1], h, w]]

        case let .innerProduct(a):
            try requireInputs(1...1)
            let axis = try normalizedAxis(a.axis, rank: inputs[0].rank)
            guard axis == a.axis else {
                throw GraphError.invalidAttribute(layer: layer, reason: "use a non-negative axis (\(axis)) for InnerProduct")
            }
            guard a.numOutput > 0 else { throw GraphError.invalidAttribute(layer: layer, reason: "num_output must be positive") }
            return [Shape(Array(inputs[0].dims[..<axis]) + [a.numOutput])]

        case .relu, .sigmoid, .tanh, .dropout, .batchNorm:
            try requireInputs(1...1)
            if case .batchNorm = node.op { guard inputs[0].rank >= 2 else { throw GraphError.invalidShape(layer: layer, reason: "BatchNorm needs channels") } }
            return [inputs[0]]

        case let .softmax(axis):
            try requireInputs(1...1)
            _ = try normalizedAxis(axis, rank: inputs[0].rank)
            return [inputs[0]]

        case let .lrn(a):
            try requireInputs(1...1)
            try requireRank(4, of: inputs[0])
            guard a.localSize > 0, a.localSize % 2 == 1 else {
                throw GraphError.invalidAttribute(layer: layer, reason: "LRN local_size must be odd, got \(a.localSize)")
            }
            return [inputs[0]]

        case let .flatten(axis, endAxis):
            try requireInputs(1...1)
            let x = inputs[0]
            let start = try normalizedAxis(axis, rank: x.rank)
            let end = try normalizedAxis(endAxis, rank: x.rank)
            guard start <= end else { throw GraphError.invalidAttribute(layer: layer, reason: "flatten axis \(axis) is after end_axis \(endAxis)") }
            let merged = try ShapeMath.count(Shape(Array(x.dims[start...end])), layer: layer)
            return [Shape(Array(x.dims[..<start]) + [merged] + Array(x.dims[(end + 1)...]))]

        case let .concat(axis):
            try requireInputs(1...Int.max)
            let first = inputs[0]
            let resolved = try normalizedAxis(axis, rank: first.rank)
            var total = 0
            for shape in inputs {
                var a = shape, b = first
                guard a.rank == b.rank else { throw GraphError.invalidShape(layer: layer, reason: "concat inputs \(shape) and \(first) differ in rank") }
                a[resolved] = 0; b[resolved] = 0
                guard a == b else { throw GraphError.invalidShape(layer: layer, reason: "concat inputs \(shape) and \(first) differ off axis \(resolved)") }
                total = try ShapeMath.add(total, shape[resolved], layer: layer)
            }
            var out = first
            out[resolved] = total
            return [out]

        case let .eltwise(a):
            try requireInputs(2...Int.max)
            for shape in inputs where shape != inputs[0] {
                throw GraphError.invalidShape(layer: layer, reason: "Eltwise inputs differ: \(shape) and \(inputs[0])")
            }
            if !a.coefficients.isEmpty {
                guard a.operation == .sum, a.coefficients.count == inputs.count else {
                    throw GraphError.invalidAttribute(layer: layer, reason: "Eltwise coefficients need SUM and one per input")
                }
            }
            return [inputs[0]]

        case let .scale(a):
            try requireInputs(1...1)
            let x = inputs[0]
            guard a.axis >= 0, a.numAxes >= 0, a.axis + a.numAxes <= x.rank else {
                throw GraphError.invalidAttribute(layer: layer, reason: "Scale axis \(a.axis) with \(a.numAxes) axes does not fit input \(x)")
            }
            return [x]

        case .split:
            try requireInputs(1...1)
            return Array(repeating: inputs[0], count: node.outputs.count)
        }
    }

    static func convolutionOutput(_ size: Int, kernel: Int, stride: Int, pad: Int, dilation: Int, layer: String) throws -> Int {
        let extent = try ShapeMath.add(try ShapeMath.multiply(dilation, kernel - 1, layer: layer), 1, layer: layer)
        let padded = try ShapeMath.add(size, try ShapeMath.multiply(2, pad, layer: layer), layer: layer)
        guard padded >= extent else {
            throw GraphError.invalidShape(layer: layer, reason: "kernel extent \(extent) exceeds padded input \(padded)")
        }
        return (padded - extent) / stride + 1
    }

    /// Caffe's pooling size: rounded up by default, and the last window must start inside the image or left padding.
    static func poolingOutput(_ size: Int, kernel: Int, stride: Int, pad: Int, ceil: Bool, layer: String) throws -> Int {
        let padded = try ShapeMath.add(size, try ShapeMath.multiply(2, pad, layer: layer), layer: layer)
        guard padded >= kernel else {
            throw GraphError.invalidShape(layer: layer, reason: "kernel \(kernel) exceeds padded input \(padded)")
        }
        let span = padded - kernel
        var out = (ceil ? (span + stride - 1) / stride : span / stride) + 1
        if pad > 0, (out - 1) * stride >= size + pad { out -= 1 }
        return out
    }
}
