import TensorGraph

extension SoftmaxAttributes: CaffeLayerCodec {
    init(caffe layer: CaffeLayer) throws { self.init(axis: Int(layer.parameters.softmaxParam.axis)) }

    func write(to layer: inout Caffe_LayerParameter) {
        if axis != 1 { layer.softmaxParam.axis = Int32(axis) }
    }
}
