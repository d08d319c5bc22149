import Foundation
import TensorGraph

/// A node's attributes by name.
struct ONNXAttributes {
    let node: Onnx_NodeProto
    let values: [String: Onnx_AttributeProto]

    init(_ node: Onnx_NodeProto) {
        self.node = node
        values = Dictionary(node.attribute.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
    }

    func int(_ name: String, _ fallback: Int) -> Int { values[name].map { Int($0.i) } ?? fallback }
    func ints(_ name: String) -> [Int]? { values[name].map { $0.ints.map(Int.init) } }
    func float(_ name: String, _ fallback: Float) -> Float { values[name]?.f ?? fallback }
    func string(_ name: String, _ fallback: String) -> String { values[name].map { String(decoding: $0.s, as: UTF8.self) } ?? fallback }
}

extension ONNXImporter {
    /// `'name' (OpType)`, how errors name a node.
    static func describe(_ node: Onnx_NodeProto, index: Int) -> String {
        "'\(node.name.isEmpty ? "#\(index)" : node.name)' (\(node.opType))"
    }

    /// Records why the current node cannot be imported (all are listed at once at the end).
    mutating func refuse(_ why: String) {
        guard let current else { return }
        unsupported.append("\(Self.describe(current.node, index: current.index)): \(why)")
    }

    /// Appends a layer for the current node, writing its first output.
    mutating func add(_ op: Op, _ inputs: [String], parameters: [Tensor] = [], name: String? = nil) {
        guard let current else { return }
        let layer = name ?? layerName(current.node, index: current.index)
        nodes.append(Node(name: layer, op: op, inputs: inputs, outputs: [current.node.output[0]], parameters: parameters))
    }

    mutating func importNode(_ node: Onnx_NodeProto, index: Int, opset: Int) throws {
        current = (node, index)
        defer { current = nil }
        let described = Self.describe(node, index: index)
        guard Self.defaultDomains.contains(node.domain) else {
            refuse("domain '\(node.domain)' is not ONNX's default operator set")
            return
        }
        guard let output = node.output.first else { throw fail("node \(described) has no output") }
        let inputs = node.input
        let a = ONNXAttributes(node)
        let known = constants
        func const(_ position: Int) -> Constant? {
            position < inputs.count && !inputs[position].isEmpty ? known[inputs[position]] : nil
        }
        func dynamic(_ position: Int) throws -> String { try dynamicInput(position) }
        let allConstant = !inputs.filter({ !$0.isEmpty }).isEmpty && inputs.filter({ !$0.isEmpty }).allSatisfy { known[$0] != nil }

        switch node.opType {
        case "Constant":
            guard let value = a.values["value"], value.hasT else {
                if let f = a.values["value_float"] { constants[output] = Constant(dims: [], values: [Double(f.f)]); return }
                if let i = a.values["value_int"] { constants[output] = Constant(dims: [], values: [Double(i.i)]); return }
                if let list = a.values["value_ints"] { constants[output] = Constant(dims: [list.ints.count], values: list.ints.map(Double.init)); return }
                if let list = a.values["value_floats"] { constants[output] = Constant(dims: [list.floats.count], values: list.floats.map(Double.init)); return }
                refuse("holds no tensor value bmq reads")
                return
            }
            constants[output] = try constant(value.t)
        case "DequantizeLinear" where allConstant:
            guard let codes = const(0), let scale = const(1) else { refuse("needs constant codes and scale"); return }
            let zero = const(2)
            let rank = max(codes.dims.count, 1)
            var axis = a.int("axis", 1)
            if axis < 0 { axis += rank }
            // Per tensor (one scale) or per slice along `axis`.
            let inner = codes.dims.count > axis ? codes.dims[(axis + 1)...].reduce(1, *) : 1
            let slices = scale.count
            guard slices == 1 || (codes.dims.count > axis && codes.dims[axis] == slices), zero.map({ $0.count == slices }) ?? true else {
                refuse("has \(slices) scales for a tensor of shape \(codes.dims)")
                return
            }
            let values = codes.values.enumerated().map { index, code -> Double in
                let slice = slices == 1 ? 0 : (index / inner) % slices
                return Double(Float(code - (zero?.values[slice] ?? 0)) * Float(scale.values[slice]))
            }
            constants[output] = Constant(dims: codes.dims, values: values)
        case "Identity", "Dropout", "Cast":
            if let value = const(0) { constants[output] = value } else { aliases[output] = try dynamic(0) }
        case "Shape":
            var dims = try shape(of: try dynamic(0)).map(Double.init)
            if !dims.isEmpty { dims[0] = Self.batch }
            constants[output] = Constant(dims: [dims.count], values: dims)
        case "Gather" where allConstant:
            guard let data = const(0), let indices = const(1), data.dims.count <= 1, a.int("axis", 0) == 0 else {
                refuse("gathers along an axis of a tensor bmq does not fold")
                return
            }
            let picked = try indices.values.map { index -> Double in
                let i = Int(index) < 0 ? Int(index) + data.count : Int(index)
                guard data.values.indices.contains(i) else { throw fail("node \(described): index \(Int(index)) is outside \(data.count) values") }
                return data.values[i]
            }
            constants[output] = Constant(dims: indices.dims, values: picked)
        case "Unsqueeze" where allConstant, "Squeeze" where allConstant:
            guard let data = const(0) else { return }
            constants[output] = Constant(dims: node.opType == "Squeeze" ? data.dims.filter { $0 != 1 } : [data.count], values: data.values)
        case "Concat" where allConstant:
            let parts = inputs.compactMap { known[$0] }
            guard parts.allSatisfy({ $0.dims.count <= 1 }) else { refuse("concatenates constants of rank above 1"); return }
            let values = parts.flatMap(\.values)
            constants[output] = Constant(dims: [values.count], values: values)
        case "Reshape", "Flatten", "Squeeze", "Unsqueeze":
            try importReshape(node, a: a, input: try dynamic(0), target: const(1), output: output, opset: opset)
        case "Conv":
            try importConvolution(node, a: a, input: try dynamic(0), weights: const(1), bias: const(2))
        case "Gemm":
            guard a.int("transA", 0) == 0, let weights = const(1), weights.dims.count == 2 else {
                refuse("needs a constant 2-D B and transA = 0")
                return
            }
            let input = try dynamic(0)
            let (alpha, beta) = (Double(a.float("alpha", 1)), Double(a.float("beta", 1)))
            let matrix = a.int("transB", 0) == 1 ? weights : Self.transposed(weights)
            let outputs = matrix.dims[0]
            var parameters = [Tensor(shape: Shape(matrix.dims), data: matrix.values.map { Float($0 * alpha) })]
            if let c = const(2) {
                guard c.count == outputs || c.count == 1 else { refuse("has a C of \(c.count) values for \(outputs) outputs"); return }
                parameters.append(Tensor(shape: [outputs], data: (0..<outputs).map { Float(c.values[c.count == 1 ? 0 : $0] * beta) }))
            }
            add(.innerProduct(InnerProductAttributes(numOutput: outputs, biasTerm: parameters.count == 2)), [input], parameters: parameters)
        case "MatMul":
            guard let weights = const(1), weights.dims.count == 2 else { refuse("needs a constant 2-D second input"); return }
            let matrix = Self.transposed(weights)
            let input = try dynamic(0)
            add(.innerProduct(InnerProductAttributes(numOutput: matrix.dims[0], biasTerm: false)), [input],
                parameters: [Tensor(shape: Shape(matrix.dims), data: matrix.values.map(Float.init))])
        case "Add", "Sub", "Mul", "Div":
            try importArithmetic(node, output: output, first: const(0), second: const(1))
        case "Sum" where inputs.count > 2, "Max":
            let operands = try inputs.indices.map { try dynamic($0) }
            add(.eltwise(EltwiseAttributes(operation: node.opType == "Max" ? .max : .sum)), operands)
        case "Sum" where inputs.count == 1:
            aliases[output] = try dynamic(0)
        case "Sum":
            let operands = try inputs.indices.map { try dynamic($0) }
            add(.eltwise(EltwiseAttributes(operation: .sum)), operands)
        case "Abs":
            let input = try dynamic(0)
            add(.absVal(AbsValAttributes()), [input])
        case "Relu":
            let input = try dynamic(0)
            add(.relu(ReLUAttributes()), [input])
        case "LeakyRelu":
            let input = try dynamic(0)
            add(.relu(ReLUAttributes(negativeSlope: a.float("alpha", 0.01))), [input])
        case "PRelu":
            let input = try dynamic(0)
            let channels = try shape(of: input).dropFirst().first ?? 1
            guard let slopes = const(1), slopes.count == 1 || (slopes.count == channels && slopes.dims.filter({ $0 != 1 }).count <= 1) else {
                refuse("needs constant slopes, one or one per channel")
                return
            }
            add(.prelu(PReLUAttributes(channelShared: slopes.count == 1 && channels != 1)), [input],
                parameters: [Tensor(shape: [slopes.count], data: slopes.values.map(Float.init))])
        case "Clip":
            let input = try dynamic(0)
            let bound = Float.greatestFiniteMagnitude
            let low = opset < 11 ? a.float("min", -bound) : const(1).map { Float($0.values[0]) } ?? -bound
            let high = opset < 11 ? a.float("max", bound) : const(2).map { Float($0.values[0]) } ?? bound
            if (opset >= 11 && ((inputs.count > 1 && !inputs[1].isEmpty && const(1) == nil) || (inputs.count > 2 && !inputs[2].isEmpty && const(2) == nil))) {
                refuse("clips to bounds that are not constants")
                return
            }
            add(.clip(ClipAttributes(min: low, max: high)), [input])
        case "Transpose":
            let input = try dynamic(0)
            let rank = try shape(of: input).count
            let order = a.ints("perm") ?? Array((0..<rank).reversed())
            guard order.first == 0 else { refuse("moves the batch axis"); return }
            if order == Array(0..<rank) { aliases[output] = input; return }
            add(.permute(PermuteAttributes(order: order)), [input])
        case "Sigmoid":
            let input = try dynamic(0)
            add(.sigmoid(SigmoidAttributes()), [input])
        case "Tanh":
            let input = try dynamic(0)
            add(.tanh(TanHAttributes()), [input])
        case "Softmax":
            let input = try dynamic(0)
            let rank = try shape(of: input).count
            var axis = a.int("axis", opset < 13 ? 1 : -1)
            if axis < 0 { axis += rank }
            // Before opset 13 Softmax normalizes over every axis from `axis` on (one axis only for rank 2).
            guard axis == 1, rank == 2 || opset >= 13 else { refuse("softmax over axes \(axis)... of a rank-\(rank) tensor"); return }
            add(.softmax(SoftmaxAttributes(axis: 1)), [input])
        case "MaxPool", "AveragePool":
            try importPooling(node, a: a, input: try dynamic(0))
        case "GlobalAveragePool", "GlobalMaxPool":
            let input = try dynamic(0)
            add(.pooling(PoolingAttributes(method: node.opType == "GlobalMaxPool" ? .max : .average, kernel: Size2(square: 1), global: true)),
                [input])
        case "BatchNormalization":
            guard let gamma = const(1), let beta = const(2), let mean = const(3), let variance = const(4) else {
                refuse("needs constant scale, bias, mean and variance")
                return
            }
            let channels = mean.count
            guard [gamma, beta, variance].allSatisfy({ $0.count == channels }) else { refuse("has parameters of different lengths"); return }
            let name = layerName(node, index: index)
            let input = try dynamic(0)
            func tensor(_ c: Constant) -> Tensor { Tensor(shape: [channels], data: c.values.map(Float.init)) }
            add(.batchNorm(BatchNormAttributes(eps: a.float("epsilon", 1e-5))), [input],
                parameters: [tensor(mean), tensor(variance), Tensor(shape: [1], data: [1])], name: name)
            let scaleName = node.docString.hasPrefix(ONNXExporter.scaleNamePrefix)
                ? String(node.docString.dropFirst(ONNXExporter.scaleNamePrefix.count)) : name + "_scale"
            usedNames.insert(scaleName)
            nodes.append(Node(name: scaleName, op: .scale(ScaleAttributes(biasTerm: true)), inputs: [output], outputs: [output],
                              parameters: [tensor(gamma), tensor(beta)]))
        case "LRN":
            let input = try dynamic(0)
            add(.lrn(LRNAttributes(localSize: a.int("size", 1), alpha: a.float("alpha", 1e-4), beta: a.float("beta", 0.75), k: a.float("bias", 1),
                                   region: .acrossChannels)), [input])
        case "Concat":
            let rank = try shape(of: try dynamic(0)).count
            var axis = a.int("axis", 1)
            if axis < 0 { axis += rank }
            let operands = try inputs.indices.map { try dynamic($0) }
            add(.concat(ConcatAttributes(axis: axis)), operands)
        case "Pad":
            let input = try dynamic(0)
            let pads = (opset < 11 ? a.ints("pads") ?? a.ints("paddings") : const(1)?.values.map { Int($0) }) ?? []
            let mode = a.string("mode", "constant")
            let value = opset < 11 ? Double(a.float("value", 0)) : (const(2)?.values.first ?? 0)
            guard mode == "constant", value == 0, pads.count == 8, pads[0] == 0, pads[1] == 0, pads[4] == 0, pads[5] == 0 else {
                refuse("only zero padding of height and width is folded")
                return
            }
            padded[output] = (input, [pads[2], pads[3], pads[6], pads[7]])
        default:
            refuse(allConstant ? "computes on constants bmq does not fold" : "is not an op bmq runs")
        }
    }

    /// Input `position` of the current node as a graph value (constants are not values).
    mutating func dynamicInput(_ position: Int) throws -> String {
        guard let (node, index) = current else { throw fail("no node is being imported") }
        let inputs = node.input
        let described = Self.describe(node, index: index)
        guard position < inputs.count, !inputs[position].isEmpty else { throw fail("node \(described) lacks input \(position + 1)") }
        guard constants[inputs[position]] == nil else {
            throw fail("node \(described): input '\(inputs[position])' is a constant where a tensor is expected")
        }
        let name = resolve(inputs[position])
        if let pad = padded[name], !["Conv", "AveragePool"].contains(node.opType) {
            refuse("reads the output of a Pad, which bmq folds only into a following Conv or AveragePool")
            return pad.source
        }
        return name
    }
}
