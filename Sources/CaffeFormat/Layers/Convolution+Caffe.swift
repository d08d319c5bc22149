import TensorGraph

extension ConvolutionAttributes: CaffeLayerCodec {
    init(caffe layer: CaffeLayer) throws {
        let c = layer.parameters.convolutionParam
        guard c.axis == 1, !c.forceNdIm2Col else { throw CaffeAttributeError("only 2-D convolution over axis 1 is supported") }
        guard c.numOutput > 0 else { throw CaffeAttributeError("num_output must be set") }
        self.init(
            numOutput: Int(c.numOutput),
            kernel: try CaffeLayerCodecs.size2(c.kernelSize, h: c.hasKernelH ? c.kernelH : nil, w: c.hasKernelW ? c.kernelW : nil,
                                               default: nil, name: "kernel"),
            stride: try CaffeLayerCodecs.size2(c.stride, h: c.hasStrideH ? c.strideH : nil, w: c.hasStrideW ? c.strideW : nil,
                                               default: 1, name: "stride"),
            pad: try CaffeLayerCodecs.size2(c.pad, h: c.hasPadH ? c.padH : nil, w: c.hasPadW ? c.padW : nil, default: 0, name: "pad"),
            dilation: try CaffeLayerCodecs.size2(c.dilation, h: nil, w: nil, default: 1, name: "dilation"),
            group: Int(c.group),
            biasTerm: c.biasTerm)
    }

    func write(to layer: inout Caffe_LayerParameter) {
        var c = Caffe_ConvolutionParameter()
        c.numOutput = UInt32(numOutput)
        c.biasTerm = biasTerm
        if kernel.h == kernel.w { c.kernelSize = [UInt32(kernel.h)] } else { c.kernelH = UInt32(kernel.h); c.kernelW = UInt32(kernel.w) }
        if stride.h == stride.w { if stride.h != 1 { c.stride = [UInt32(stride.h)] } } else { c.strideH = UInt32(stride.h); c.strideW = UInt32(stride.w) }
        if pad.h == pad.w { if pad.h != 0 { c.pad = [UInt32(pad.h)] } } else { c.padH = UInt32(pad.h); c.padW = UInt32(pad.w) }
        if dilation.h != 1 || dilation.w != 1 { c.dilation = [UInt32(dilation.h), UInt32(dilation.w)] }
        if group != 1 { c.group = UInt32(group) }
        layer.convolutionParam = c
    }
}
