import TensorGraph

extension PoolingAttributes: CaffeLayerCodec {
    init(caffe layer: CaffeLayer) throws {
        let p = layer.parameters.poolingParam
        let method: PoolingMethod
        switch p.pool {
        case .max: method = .max
        case .ave: method = .average
        case .stochastic: throw CaffeAttributeError("STOCHASTIC pooling is not supported")
        }
        let kernel = try p.globalPooling
            ? Size2(square: 1)
            : CaffeLayerCodecs.size2(p.hasKernelSize ? [p.kernelSize] : [], h: p.hasKernelH ? p.kernelH : nil,
                                     w: p.hasKernelW ? p.kernelW : nil, default: nil, name: "kernel_size")
        self.init(
            method: method,
            kernel: kernel,
            stride: try CaffeLayerCodecs.size2([p.stride], h: p.hasStrideH ? p.strideH : nil, w: p.hasStrideW ? p.strideW : nil,
                                               default: 1, name: "stride"),
            pad: try CaffeLayerCodecs.size2([p.pad], h: p.hasPadH ? p.padH : nil, w: p.hasPadW ? p.padW : nil, default: 0, name: "pad"),
            global: p.globalPooling,
            ceilMode: p.roundMode == .ceil)
    }

    func write(to layer: inout Caffe_LayerParameter) {
        var p = Caffe_PoolingParameter()
        p.pool = method == .max ? .max : .ave
        if global {
            p.globalPooling = true
        } else {
            if kernel.h == kernel.w { p.kernelSize = UInt32(kernel.h) } else { p.kernelH = UInt32(kernel.h); p.kernelW = UInt32(kernel.w) }
            if stride.h == stride.w { p.stride = UInt32(stride.h) } else { p.strideH = UInt32(stride.h); p.strideW = UInt32(stride.w) }
            if pad.h == pad.w { if pad.h != 0 { p.pad = UInt32(pad.h) } } else { p.padH = UInt32(pad.h); p.padW = UInt32(pad.w) }
        }
        if !ceilMode { p.roundMode = .floor }
        layer.poolingParam = p
    }
}
