/// Computes every value's shape from the input shapes, checking each layer's attributes and parameters.
public enum ShapeInference {
    /// The input and output shapes of every node, in node order, plus the final shape of every value.
    public struct Result: Sendable {
        /// Each node's input shapes as it reads them (a value a later layer rewrites in place keeps
        /// the shape it had here), in node order.
        public var nodeInputShapes: [[Shape]]
        /// Each node's output shapes, in node order.
        public var nodeOutputShapes: [[Shape]]
        /// Every value's last shape by name.
        public var valueShapes: [String: Shape]
    }

    /// Infers all shapes.
    /// - Parameters:
    ///   - graph: the graph, its input shapes complete.
    ///   - checkParameters: also verify that attached parameter blobs have the shapes the layers need.
    /// - Throws: `GraphError` naming the first layer whose shapes or attributes are inconsistent.
    public static func infer(_ graph: Graph, checkParameters: Bool = true) throws -> Result {
        var shapes: [String: Shape] = [:]
        for input in graph.inputs {
            guard input.shape.checkedCount != nil, input.shape.dims.allSatisfy({ $0 > 0 }) else {
                throw GraphError.invalidShape(layer: input.name, reason: "input shape \(input.shape) is not positive")
            }
            shapes[input.name] = input.shape
        }
        var nodeShapes: [[Shape]] = [], nodeInputs: [[Shape]] = []
        nodeShapes.reserveCapacity(graph.nodes.count)
        nodeInputs.reserveCapacity(graph.nodes.count)
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
            nodeInputs.append(inputShapes)
            nodeShapes.append(outputs)
        }
        return Result(nodeInputShapes: nodeInputs, nodeOutputShapes: nodeShapes, valueShapes: shapes)
    }

    /// The parameter shapes `node` needs when its first input has shape `input`.
    /// - Throws: `GraphError` when the attributes cannot hold such an input.
    public static func expectedParameterShapes(of node: Node, input: Shape) throws -> [Shape] {
        try node.op.attributes.parameterShapes(input: input, rule: ShapeRule(layer: node.name, outputCount: node.outputs.count))
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
        let attributes = node.op.attributes
        let accepted = type(of: attributes).inputCount
        guard accepted.contains(inputs.count) else {
            throw GraphError.invalidAttribute(
                layer: node.name, reason: "a \(node.op.typeName) layer takes \(accepted) inputs, not \(inputs.count)")
        }
        return try attributes.outputShapes(inputs, rule: ShapeRule(layer: node.name, outputCount: node.outputs.count))
    }
}
