import TensorGraph

extension ConcatAttributes: CaffeLayerCodec {
    init(caffe layer: CaffeLayer) throws {
        let c = layer.parameters.concatParam
        // `concat_dim` is the deprecated name of the axis; `axis` wins when both are set.
        self.init(axis: !c.hasAxis && c.hasConcatDim ? Int(c.concatDim) : Int(c.axis))
    }

    func write(to layer: inout Caffe_LayerParameter) {
        if axis != 1 { layer.concatParam.axis = Int32(axis) }
    }
}
