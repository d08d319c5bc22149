import Foundation
import TensorGraph

extension ONNXImporter {
    /// A 2-D constant transposed ([K, N] → [N, K]).
    static func transposed(_ matrix: Constant) -> Constant {
        let (rows, columns) = (matrix.dims[0], matrix.dims[1])
        var values = [Double](repeating: 0, count: matrix.count)
        for r in 0..<rows {
            for c in 0..<columns { values[c * rows + r] = matrix.values[r * columns + c] }
        }
        return Constant(dims: [columns, rows], values: values)
    }

    /// Height and width padding (top, left, bottom, right) from `pads`/`auto_pad`, plus a folded Pad's.
    mutating func spatialPads(_ a: ONNXAttributes, inputShape: [Int], kernel: Size2, stride: Size2, dilation: Size2, extra: [Int]?) -> Size2? {
        var pads = a.ints("pads") ?? [0, 0, 0, 0]
        let autoPad = a.string("auto_pad", "NOTSET")
        if autoPad == "SAME_UPPER" || autoPad == "SAME_LOWER" {
            guard inputShape.count == 4, stride.h > 0, stride.w > 0, dilation.h > 0, dilation.w > 0 else {
                refuse("needs a 4-D input and positive strides and dilations for auto_pad \(autoPad)")
                return nil
            }
            pads = [0, 0, 0, 0]
            for (axis, (size, k, s, d)) in [(inputShape[2], kernel.h, stride.h, dilation.h), (inputShape[3], kernel.w, stride.w, dilation.w)].enumerated() {
                let total = max(((size + s - 1) / s - 1) * s + (k - 1) * d + 1 - size, 0)
                pads[axis] = autoPad == "SAME_UPPER" ? total / 2 : (total + 1) / 2
                pads[axis + 2] = total - pads[axis]
            }
        } else if autoPad != "NOTSET" && autoPad != "VALID" {
            refuse("auto_pad '\(autoPad)' is not one bmq knows")
            return nil
        }
        guard pads.count == 4 else { refuse("pads \(pads) are not 2-D"); return nil }
        if let extra { pads = zip(pads, extra).map { $0 + $1 } }
        guard pads[0] == pads[2], pads[1] == pads[3] else {
            refuse("pads \(pads) are not symmetric; bmq's layers pad both sides alike")
            return nil
        }
        return Size2(pads[0], pads[1])
    }

    mutating func importConvolution(_ node: Onnx_NodeProto, a: ONNXAttributes, input: String, weights: Constant?, bias: Constant?) throws {
        guard let weights, weights.dims.count == 4 else { refuse("needs constant 4-D weights (2-D convolution)"); return }
        let pad = padded[input]
        let source = pad?.source ?? input
        let shape = try self.shape(of: source)
        let kernel = Size2(weights.dims[2], weights.dims[3])
        if let declared = a.ints("kernel_shape"), declared != [kernel.h, kernel.w] {
            refuse("kernel_shape \(declared) disagrees with the weights' \(weights.dims)")
            return
        }
        let strides = a.ints("strides") ?? [1, 1], dilations = a.ints("dilations") ?? [1, 1]
        guard strides.count == 2, dilations.count == 2 else { refuse("is not a 2-D convolution"); return }
        let stride = Size2(strides[0], strides[1]), dilation = Size2(dilations[0], dilations[1])
        guard let padding = spatialPads(a, inputShape: shape, kernel: kernel, stride: stride, dilation: dilation, extra: pad?.pads) else { return }
        let outputs = weights.dims[0]
        var parameters = [Tensor(shape: Shape(weights.dims), data: weights.values.map(Float.init))]
        if let bias {
            guard bias.count == outputs else { refuse("has \(bias.count) biases for \(outputs) outputs"); return }
            parameters.append(Tensor(shape: [outputs], data: bias.values.map(Float.init)))
        }
        add(.convolution(ConvolutionAttributes(numOutput: outputs, kernel: kernel, stride: stride, pad: padding, dilation: dilation,
                                               group: a.int("group", 1), biasTerm: bias != nil)), [source], parameters: parameters)
    }

    mutating func importPooling(_ node: Onnx_NodeProto, a: ONNXAttributes, input: String) throws {
        let average = node.opType == "AveragePool"
        let pad = padded[input]
        let source = pad?.source ?? input
        guard let kernelShape = a.ints("kernel_shape"), kernelShape.count == 2 else { refuse("is not a 2-D pooling"); return }
        let strides = a.ints("strides") ?? [1, 1]
        guard strides.count == 2 else { refuse("is not a 2-D pooling"); return }
        guard (a.ints("dilations") ?? [1, 1]) == [1, 1] else { refuse("dilated pooling is not supported"); return }
        let kernel = Size2(kernelShape[0], kernelShape[1]), stride = Size2(strides[0], strides[1])
        let ownPads = a.ints("pads") ?? [0, 0, 0, 0]
        let ceil = a.int("ceil_mode", 0) == 1
        // bmq's AVE divides by the window clipped to the padded input (Caffe's rule), which is
        // count_include_pad = 1 (as ONNX Runtime computes it, ceil_mode included), or padding a
        // Pad node made real zeros.
        if average, ownPads.contains(where: { $0 != 0 }), a.int("count_include_pad", 0) == 0 {
            refuse("averages over padding excluding it from the divisor (count_include_pad = 0), which bmq does not implement")
            return
        }
        let shape = try self.shape(of: source)
        guard let padding = spatialPads(a, inputShape: shape, kernel: kernel, stride: stride, dilation: Size2(square: 1), extra: pad?.pads)
        else { return }
        add(.pooling(PoolingAttributes(method: average ? .average : .max, kernel: kernel, stride: stride, pad: padding, ceilMode: ceil)), [source])
    }

    /// Reshape, Flatten, Squeeze and Unsqueeze of a tensor: a flatten to [batch, features], or
    /// nothing when the shape does not change.
    mutating func importReshape(_ node: Onnx_NodeProto, a: ONNXAttributes, input: String, target: Constant?, output: String, opset: Int) throws {
        let shape = try self.shape(of: input)
        let features = shape.dropFirst().reduce(1, *)
        var flat: Bool
        switch node.opType {
        case "Flatten":
            guard a.int("axis", 1) == 1 else { refuse("flattens from axis \(a.int("axis", 1)); bmq keeps the batch axis"); return }
            flat = true
        case "Reshape":
            guard let target else { refuse("reshapes to a shape that is not constant"); return }
            var dims = target.values
            if let first = dims.first, first == Self.batch || first == 0 || (first == 1 && shape[0] == 1) { dims[0] = 1 }
            for (index, value) in dims.enumerated() where value == 0 && index < shape.count { dims[index] = Double(shape[index]) }
            let known = dims.filter { $0 != -1 }.reduce(1, *)
            if let unknown = dims.firstIndex(of: -1), known > 0 { dims[unknown] = Double(shape.reduce(1, *)) / known }
            if dims.map({ Int($0) }) == shape { aliases[output] = input; return }
            guard dims.count == 2, Int(dims[0]) == 1, Int(dims[1]) == features else {
                refuse("reshapes \(shape) to \(target.values.map { $0 == Self.batch ? "batch" : String(Int($0)) }); bmq folds reshapes to [batch, features]")
                return
            }
            flat = true
        default:
            // Squeeze and Unsqueeze: only removing the 1x1 of a global pooling is a layout change bmq makes.
            let axes = (opset < 13 ? a.ints("axes") : nil) ?? []
            guard node.opType == "Squeeze", shape.count == 4, shape[2] == 1, shape[3] == 1, axes.isEmpty || Set(axes) == [2, 3] else {
                refuse("changes the rank of \(shape) in a way bmq does not fold")
                return
            }
            flat = true
        }
        if flat, shape.count == 2 { aliases[output] = input; return }
        add(.flatten(FlattenAttributes(axis: 1)), [input])
    }

    /// Add, Sub, Mul and Div: of two tensors an Eltwise; with a constant a bias merged into the
    /// layer before or a per-channel Scale.
    mutating func importArithmetic(_ node: Onnx_NodeProto, output: String, first: Constant?, second: Constant?) throws {
        let op = node.opType
        guard let constant = second ?? (op == "Add" || op == "Mul" ? first : nil) else {
            let operands = [try dynamicInput(0), try dynamicInput(1)]
            switch op {
            case "Add": add(.eltwise(EltwiseAttributes(operation: .sum)), operands)
            case "Sub": add(.eltwise(EltwiseAttributes(operation: .sum, coefficients: [1, -1])), operands)
            case "Mul": add(.eltwise(EltwiseAttributes(operation: .product)), operands)
            default: refuse("divides two tensors")
            }
            return
        }
        let input = try dynamicInput(second == nil ? 1 : 0)
        let shape = try self.shape(of: input)
        let channels = shape.count > 1 ? shape[1] : 1
        // One value for all, or one per channel ([C], [C,1,1], [1,C,1,1], or [1,C] for features).
        guard constant.count == 1 || (constant.count == channels && constant.dims.filter({ $0 != 1 }).count <= 1) else {
            refuse("broadcasts a constant of shape \(constant.dims) over \(shape) in a way bmq does not fold")
            return
        }
        let perChannel = (0..<channels).map { constant.values[constant.count == 1 ? 0 : $0] }
        switch op {
        case "Add", "Sub":
            let bias = perChannel.map { Float(op == "Sub" ? -$0 : $0) }
            if mergeBias(bias, into: input, output: output) { return }
            add(.scale(ScaleAttributes(biasTerm: true)), [input], parameters: [Tensor(shape: [channels], data: [Float](repeating: 1, count: channels)),
                                                                               Tensor(shape: [channels], data: bias)])
        default:
            let factors = perChannel.map { Float(op == "Div" ? 1 / $0 : $0) }
            add(.scale(ScaleAttributes(biasTerm: false)), [input], parameters: [Tensor(shape: [channels], data: factors)])
        }
    }

    /// Gives the bias-free Convolution or InnerProduct that produced `value` (and that nothing
    /// else reads) this bias, renaming its output to `output`.
    mutating func mergeBias(_ bias: [Float], into value: String, output: String) -> Bool {
        guard let index = nodes.lastIndex(where: { $0.outputs == [value] }),
              !nodes[(index + 1)...].contains(where: { $0.inputs.contains(value) }) else { return false }
        var node = nodes[index]
        switch node.op {
        case var .innerProduct(attributes) where !attributes.biasTerm && attributes.numOutput == bias.count:
            attributes.biasTerm = true
            node.op = .innerProduct(attributes)
        case var .convolution(attributes) where !attributes.biasTerm && attributes.numOutput == bias.count:
            attributes.biasTerm = true
            node.op = .convolution(attributes)
        default:
            return false
        }
        node.parameters.append(Tensor(shape: [bias.count], data: bias))
        aliases[output] = value
        nodes[index] = node
        return true
    }
}
