import TensorGraph

extension InnerProductAttributes: CaffeLayerCodec {
    init(caffe layer: CaffeLayer) throws {
        let ip = layer.parameters.innerProductParam
        self.init(numOutput: Int(ip.numOutput), biasTerm: ip.biasTerm, axis: Int(ip.axis), transpose: ip.transpose)
    }

    func write(to layer: inout Caffe_LayerParameter) {
        var ip = Caffe_InnerProductParameter()
        ip.numOutput = UInt32(numOutput)
        ip.biasTerm = biasTerm
        if axis != 1 { ip.axis = Int32(axis) }
        if transpose { ip.transpose = true }
        layer.innerProductParam = ip
    }
}
