import TensorGraph

/// Maps Caffe layer types and parameter messages to graph operations, and back.
enum CaffeOpMapping {
    struct AttributeError: Error {
        var message: String
    }

    /// The operation for a layer, or nil when the type is not supported.
    static func op(for layer: CaffeLayer) throws -> Op? {
        let p = layer.parameters
        switch layer.type {
        case "Convolution": return .convolution(try convolution(p.convolutionParam))
        case "Pooling": return .pooling(try pooling(p.poolingParam))
        case "InnerProduct":
            let ip = p.innerProductParam
            return .innerProduct(InnerProductAttributes(
                numOutput: Int(ip.numOutput), biasTerm: ip.biasTerm, axis: Int(ip.axis), transpose: ip.transpose))
        case "ReLU": return .relu(negativeSlope: p.reluParam.negativeSlope)
        case "Sigmoid": return .sigmoid
        case "TanH": return .tanh
        case "Softmax": return .softmax(axis: Int(p.softmaxParam.axis))
        case "LRN":
            let l = p.lrnParam
            return .lrn(LRNAttributes(localSize: Int(l.localSize), alpha: l.alpha, beta: l.beta, k: l.k,
                                      region: l.normRegion == .withinChannel ? .withinChannel : .acrossChannels))
        case "Dropout": return .dropout(ratio: p.dropoutParam.dropoutRatio)
        case "Flatten": return .flatten(axis: Int(p.flattenParam.axis), endAxis: Int(p.flattenParam.endAxis))
        case "Concat":
            let c = p.concatParam
            return .concat(axis: !c.hasAxis && c.hasConcatDim ? Int(c.concatDim) : Int(c.axis))
        case "Eltwise":
            let e = p.eltwiseParam
            let operation: EltwiseOperation = switch e.operation {
            case .prod: .product
            case .sum: .sum
            case .max: .max
            }
            return .eltwise(EltwiseAttributes(operation: operation, coefficients: e.coeff))
        case "BatchNorm":
            if p.batchNormParam.hasUseGlobalStats, !p.batchNormParam.useGlobalStats {
                throw AttributeError(message: "use_global_stats: false computes batch statistics, which inference does not")
            }
            return .batchNorm(BatchNormAttributes(eps: p.batchNormParam.eps))
        case "Scale":
            guard layer.bottoms.count == 1 else {
                throw AttributeError(message: "Scale with the scale as a second bottom is not supported")
            }
            let s = p.scaleParam
            guard s.numAxes >= 0 else { throw AttributeError(message: "Scale num_axes -1 is not supported") }
            return .scale(ScaleAttributes(axis: Int(s.axis), numAxes: Int(s.numAxes), biasTerm: s.biasTerm))
        case "Split": return .split
        default: return nil
        }
    }

    /// Caffe's repeated-or-explicit size fields: `size` (0, 1 or 2 values) or the `_h`/`_w` pair.
    static func size2(_ values: [UInt32], h: UInt32?, w: UInt32?, default fallback: Int?, name: String) throws -> Size2 {
        if let h, let w { return Size2(Int(h), Int(w)) }
        guard h == nil, w == nil else { throw AttributeError(message: "\(name)_h and \(name)_w must be given together") }
        switch values.count {
        case 0:
            guard let fallback else { throw AttributeError(message: "\(name) is not set") }
            return Size2(square: fallback)
        case 1: return Size2(square: Int(values[0]))
        case 2: return Size2(Int(values[0]), Int(values[1]))
        default: throw AttributeError(message: "\(values.count) \(name) values: only 2-D is supported")
        }
    }

    static func convolution(_ c: Caffe_ConvolutionParameter) throws -> ConvolutionAttributes {
        guard c.axis == 1, !c.forceNdIm2Col else { throw AttributeError(message: "only 2-D convolution over axis 1 is supported") }
        guard c.numOutput > 0 else { throw AttributeError(message: "num_output must be set") }
        return ConvolutionAttributes(
            numOutput: Int(c.numOutput),
            kernel: try size2(c.kernelSize, h: c.hasKernelH ? c.kernelH : nil, w: c.hasKernelW ? c.kernelW : nil, default: nil, name: "kernel"),
            stride: try size2(c.stride, h: c.hasStrideH ? c.strideH : nil, w: c.hasStrideW ? c.strideW : nil, default: 1, name: "stride"),
            pad: try size2(c.pad, h: c.hasPadH ? c.padH : nil, w: c.hasPadW ? c.padW : nil, default: 0, name: "pad"),
            dilation: try size2(c.dilation, h: nil, w: nil, default: 1, name: "dilation"),
            group: Int(c.group),
            biasTerm: c.biasTerm)
    }

    static func pooling(_ p: Caffe_PoolingParameter) throws -> PoolingAttributes {
        let method: PoolingMethod
        switch p.pool {
        case .max: method = .max
        case .ave: method = .average
        case .stochastic: throw AttributeError(message: "STOCHASTIC pooling is not supported")
        }
        let global = p.globalPooling
        let kernel = try global ? Size2(square: 1) : size2(p.hasKernelSize ? [p.kernelSize] : [],
                                                           h: p.hasKernelH ? p.kernelH : nil, w: p.hasKernelW ? p.kernelW : nil,
                                                           default: nil, name: "kernel_size")
        return PoolingAttributes(
            method: method,
            kernel: kernel,
            stride: try size2([p.stride], h: p.hasStrideH ? p.strideH : nil, w: p.hasStrideW ? p.strideW : nil, default: 1, name: "stride"),
            pad: try size2([p.pad], h: p.hasPadH ? p.padH : nil, w: p.hasPadW ? p.padW : nil, default: 0, name: "pad"),
            global: global,
            ceilMode: p.roundMode == .ceil)
    }

    /// The current-format layer definition of a graph node (used by the writers).
    static func layerParameter(for node: Node) -> Caffe_LayerParameter {
        var layer = Caffe_LayerParameter()
        layer.name = node.name
        layer.type = node.op.typeName
        layer.bottom = node.inputs
        layer.top = node.outputs
        switch node.op {
        case let .convolution(a):
            var c = Caffe_ConvolutionParameter()
            c.numOutput = UInt32(a.numOutput)
            c.biasTerm = a.biasTerm
            if a.kernel.h == a.kernel.w { c.kernelSize = [UInt32(a.kernel.h)] } else { c.kernelH = UInt32(a.kernel.h); c.kernelW = UInt32(a.kernel.w) }
            if a.stride.h == a.stride.w { if a.stride.h != 1 { c.stride = [UInt32(a.stride.h)] } } else { c.strideH = UInt32(a.stride.h); c.strideW = UInt32(a.stride.w) }
            if a.pad.h == a.pad.w { if a.pad.h != 0 { c.pad = [UInt32(a.pad.h)] } } else { c.padH = UInt32(a.pad.h); c.padW = UInt32(a.pad.w) }
            if a.dilation.h != 1 || a.dilation.w != 1 { c.dilation = [UInt32(a.dilation.h), UInt32(a.dilation.w)] }
            if a.group != 1 { c.group = UInt32(a.group) }
            layer.convolutionParam = c
        case let .pooling(a):
            var p = Caffe_PoolingParameter()
            p.pool = a.method == .max ? .max : .ave
            if a.global {
                p.globalPooling = true
            } else {
                if a.kernel.h == a.kernel.w { p.kernelSize = UInt32(a.kernel.h) } else { p.kernelH = UInt32(a.kernel.h); p.kernelW = UInt32(a.kernel.w) }
                if a.stride.h == a.stride.w { p.stride = UInt32(a.stride.h) } else { p.strideH = UInt32(a.stride.h); p.strideW = UInt32(a.stride.w) }
                if a.pad.h == a.pad.w { if a.pad.h != 0 { p.pad = UInt32(a.pad.h) } } else { p.padH = UInt32(a.pad.h); p.padW = UInt32(a.pad.w) }
            }
            if !a.ceilMode { p.roundMode = .floor }
            layer.poolingParam = p
        case let .innerProduct(a):
            var ip = Caffe_InnerProductParameter()
            ip.numOutput = UInt32(a.numOutput)
            ip.biasTerm = a.biasTerm
            if a.axis != 1 { ip.axis = Int32(a.axis) }
            if a.transpose { ip.transpose = true }
            layer.innerProductParam = ip
        case let .relu(slope):
            if slope != 0 { layer.reluParam.negativeSlope = slope }
        case .sigmoid, .tanh, .split:
            break
        case let .softmax(axis):
            if axis != 1 { layer.softmaxParam.axis = Int32(axis) }
        case let .lrn(a):
            var l = Caffe_LRNParameter()
            l.localSize = UInt32(a.localSize)
            l.alpha = a.alpha
            l.beta = a.beta
            l.k = a.k
            l.normRegion = a.region == .withinChannel ? .withinChannel : .acrossChannels
            layer.lrnParam = l
        case let .dropout(ratio):
            layer.dropoutParam.dropoutRatio = ratio
        case let .flatten(axis, endAxis):
            if axis != 1 { layer.flattenParam.axis = Int32(axis) }
            if endAxis != -1 { layer.flattenParam.endAxis = Int32(endAxis) }
        case let .concat(axis):
            if axis != 1 { layer.concatParam.axis = Int32(axis) }
        case let .eltwise(a):
            var e = Caffe_EltwiseParameter()
            e.operation = switch a.operation {
            case .product: .prod
            case .sum: .sum
            case .max: .max
            }
            e.coeff = a.coefficients
            layer.eltwiseParam = e
        case let .batchNorm(a):
            layer.batchNormParam.useGlobalStats = true
            if a.eps != 1e-5 { layer.batchNormParam.eps = a.eps }
        case let .scale(a):
            var s = Caffe_ScaleParameter()
            if a.axis != 1 { s.axis = Int32(a.axis) }
            if a.numAxes != 1 { s.numAxes = Int32(a.numAxes) }
            if a.biasTerm { s.biasTerm = true }
            layer.scaleParam = s
        }
        return layer
    }
}
