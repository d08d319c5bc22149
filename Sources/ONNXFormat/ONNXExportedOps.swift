import Foundation
import TensorGraph

extension ONNXExporter {
    /// One layer as ONNX nodes.
    mutating func exportNode(_ node: Node, followingScale scale: Node?, inputShapes: [Shape]) throws {
        let inputs = try node.inputs.map(read)
        let p = node.parameters
        func output(_ index: Int = 0) -> String { define(node.outputs[index], by: node.name) }
        switch node.op {
        case let .convolution(a):
            var operands = [inputs[0], try weight(node.name + ".weight", p[0], layer: node.name)]
            if a.biasTerm { operands.append(constant(node.name + ".bias", p[1])) }
            self.node("Conv", operands, [output()], name: node.name, [
                Self.ints("kernel_shape", [a.kernel.h, a.kernel.w]), Self.ints("strides", [a.stride.h, a.stride.w]),
                Self.ints("pads", [a.pad.h, a.pad.w, a.pad.h, a.pad.w]), Self.ints("dilations", [a.dilation.h, a.dilation.w]),
                Self.int("group", a.group),
            ])
        case let .innerProduct(a):
            guard a.axis == 1 || (a.axis == -1 && inputShapes[0].rank == 2) else {
                throw GraphError.invalidAttribute(layer: node.name, reason: "ONNX export takes inner products over axis 1")
            }
            var flat = inputs[0]
            if inputShapes[0].rank > 2 {
                flat = define(node.inputs[0] + "/flat", by: node.name)
                self.node("Flatten", [inputs[0]], [flat], name: node.name + "/flatten", [Self.int("axis", 1)])
            }
            var operands = [flat, try weight(node.name + ".weight", p[0], layer: node.name)]
            if a.biasTerm { operands.append(constant(node.name + ".bias", p[1])) }
            self.node("Gemm", operands, [output()], name: node.name, [Self.int("transB", a.transpose ? 0 : 1)])
        case let .pooling(a):
            if a.global {
                self.node(a.method == .max ? "GlobalMaxPool" : "GlobalAveragePool", [inputs[0]], [output()], name: node.name)
                break
            }
            var attributes = [Self.ints("kernel_shape", [a.kernel.h, a.kernel.w]), Self.ints("strides", [a.stride.h, a.stride.w]),
                              Self.ints("pads", [a.pad.h, a.pad.w, a.pad.h, a.pad.w]), Self.int("ceil_mode", a.ceilMode ? 1 : 0)]
            // Caffe's divisor: the window clipped to the padded input.
            if a.method == .average { attributes.append(Self.int("count_include_pad", 1)) }
            self.node(a.method == .max ? "MaxPool" : "AveragePool", [inputs[0]], [output()], name: node.name, attributes)
        case let .relu(a):
            if a.negativeSlope == 0 {
                self.node("Relu", inputs, [output()], name: node.name)
            } else {
                self.node("LeakyRelu", inputs, [output()], name: node.name, [Self.float("alpha", a.negativeSlope)])
            }
        case .sigmoid: self.node("Sigmoid", inputs, [output()], name: node.name)
        case .tanh: self.node("Tanh", inputs, [output()], name: node.name)
        case .absVal: self.node("Abs", inputs, [output()], name: node.name)
        case let .prelu(a):
            // The slopes broadcast from the channel axis: [C, 1, 1] for a feature map.
            let rank = inputShapes[0].rank
            let shape = a.channelShared ? Shape([1]) : Shape([p[0].count] + [Int](repeating: 1, count: max(rank - 2, 0)))
            self.node("PRelu", [inputs[0], constant(node.name + ".slopes", Tensor(shape: shape, data: p[0].data))], [output()], name: node.name)
        case let .permute(a):
            self.node("Transpose", inputs, [output()], name: node.name, [Self.ints("perm", a.fullOrder(rank: inputShapes[0].rank))])
        case let .clip(a):
            self.node("Clip", [inputs[0], constant(node.name + ".min", Tensor(shape: [], data: [a.min])),
                               constant(node.name + ".max", Tensor(shape: [], data: [a.max]))], [output()], name: node.name)
        case let .softmax(a):
            self.node("Softmax", inputs, [output()], name: node.name, [Self.int("axis", a.axis)])
        case let .lrn(a):
            try exportLRN(node, a, input: inputs[0], output: output())
        case .dropout:
            self.node("Identity", inputs, [output()], name: node.name)
        case .split:
            for index in node.outputs.indices { self.node("Identity", [inputs[0]], [output(index)], name: "\(node.name)/\(index)") }
        case let .flatten(a):
            guard a.endAxis == -1 || a.endAxis == inputShapes[0].rank - 1 else {
                throw GraphError.invalidAttribute(layer: node.name, reason: "ONNX's Flatten flattens through the last axis")
            }
            self.node("Flatten", inputs, [output()], name: node.name, [Self.int("axis", a.axis)])
        case let .concat(a):
            self.node("Concat", inputs, [output()], name: node.name, [Self.int("axis", a.axis)])
        case let .eltwise(a):
            try exportEltwise(node, a, inputs: inputs, output: output())
        case let .batchNorm(a):
            // Caffe stores sums scaled by a moving-average factor: mean = m / f, variance = v / f.
            let factor = p[2].data.first ?? 1
            let divide = factor == 0 ? 0 : 1 / factor
            let channels = p[0].count
            let gamma = scale?.parameters[0] ?? Tensor(shape: [channels], data: [Float](repeating: 1, count: channels))
            let beta = scale.flatMap { ($0.op.scaleHasBias) ? $0.parameters[1] : nil } ?? Tensor(zeros: [channels])
            let operands = [inputs[0], constant(node.name + ".gamma", gamma), constant(node.name + ".beta", beta),
                            constant(node.name + ".mean", Tensor(shape: [channels], data: p[0].data.map { $0 * divide })),
                            constant(node.name + ".variance", Tensor(shape: [channels], data: p[1].data.map { $0 * divide }))]
            let value = scale.map { define($0.outputs[0], by: $0.name) } ?? output()
            self.node("BatchNormalization", operands, [value], name: node.name, [Self.float("epsilon", a.eps)])
            // The folded Scale's own name, so that reading the file back restores both layers' names.
            if let scale { proto.node[proto.node.count - 1].docString = Self.scaleNamePrefix + scale.name }
        case let .scale(a):
            guard a.axis == 1, a.numAxes == 1, inputShapes[0].rank >= 2 else {
                throw GraphError.invalidAttribute(layer: node.name, reason: "ONNX export takes Scale over the channel axis")
            }
            let broadcast = Shape([inputShapes[0][1]] + [Int](repeating: 1, count: inputShapes[0].rank - 2))
            let factor = constant(node.name + ".scale", Tensor(shape: broadcast, data: p[0].data))
            if a.biasTerm {
                let scaled = define(node.outputs[0] + "/scaled", by: node.name)
                self.node("Mul", [inputs[0], factor], [scaled], name: node.name + "/mul")
                self.node("Add", [scaled, constant(node.name + ".bias", Tensor(shape: broadcast, data: p[1].data))], [output()], name: node.name)
            } else {
                self.node("Mul", [inputs[0], factor], [output()], name: node.name)
            }
        }
    }

    /// SUM (with coefficients), PROD and MAX.
    mutating func exportEltwise(_ node: Node, _ a: EltwiseAttributes, inputs: [String], output: String) throws {
        var operands = inputs
        if a.operation == .sum, !a.coefficients.isEmpty, a.coefficients.contains(where: { $0 != 1 }) {
            operands = inputs.enumerated().map { index, input in
                let coefficient = a.coefficients[index]
                guard coefficient != 1 else { return input }
                let scaled = define("\(node.name)/term\(index)", by: node.name)
                self.node("Mul", [input, constant("\(node.name).coefficient\(index)", Tensor(shape: [], data: [coefficient]))], [scaled],
                          name: "\(node.name)/coefficient\(index)")
                return scaled
            }
        }
        let op = switch a.operation {
        case .sum: "Sum"
        case .product: "Mul"
        case .max: "Max"
        }
        if op == "Mul", operands.count > 2 {
            var product = operands[0]
            for (index, operand) in operands.dropFirst().enumerated() {
                let value = index == operands.count - 2 ? output : define("\(node.name)/product\(index)", by: node.name)
                self.node("Mul", [product, operand], [value], name: "\(node.name)/\(index)")
                product = value
            }
            return
        }
        self.node(op == "Sum" && operands.count == 2 ? "Add" : op, operands, [output], name: node.name)
    }

    /// Across channels: ONNX's LRN is Caffe's. Within a channel: Caffe's own construction,
    /// `x × (1 + α · avg(x²))^-β` with the n×n average over the zero-padded plane.
    mutating func exportLRN(_ node: Node, _ a: LRNAttributes, input: String, output: String) throws {
        if a.region == .acrossChannels {
            self.node("LRN", [input], [output], name: node.name, [
                Self.int("size", a.localSize), Self.float("alpha", a.alpha), Self.float("beta", a.beta), Self.float("bias", a.k),
            ])
            return
        }
        let pad = (a.localSize - 1) / 2
        func value(_ suffix: String) -> String { define("\(node.name)/\(suffix)", by: node.name) }
        let squared = value("squared"), average = value("average"), scaled = value("scaled"), base = value("base"), factor = value("factor")
        self.node("Mul", [input, input], [squared], name: "\(node.name)/square")
        self.node("AveragePool", [squared], [average], name: "\(node.name)/average", [
            Self.ints("kernel_shape", [a.localSize, a.localSize]), Self.ints("strides", [1, 1]), Self.ints("pads", [pad, pad, pad, pad]),
            Self.int("count_include_pad", 1),
        ])
        self.node("Mul", [average, constant("\(node.name).alpha", Tensor(shape: [], data: [a.alpha]))], [scaled], name: "\(node.name)/alpha")
        self.node("Add", [scaled, constant("\(node.name).one", Tensor(shape: [], data: [1]))], [base], name: "\(node.name)/one")
        self.node("Pow", [base, constant("\(node.name).exponent", Tensor(shape: [], data: [-a.beta]))], [factor], name: "\(node.name)/power")
        self.node("Mul", [input, factor], [output], name: node.name)
    }
}

extension ONNXExporter {
    /// How a BatchNormalization node's doc string names the Scale layer folded into it.
    static let scaleNamePrefix = "bmq scale layer: "
}

extension Op {
    /// Whether a Scale op carries a bias (false for other ops).
    var scaleHasBias: Bool {
        if case let .scale(a) = self { return a.biasTerm }
        return false
    }
}
