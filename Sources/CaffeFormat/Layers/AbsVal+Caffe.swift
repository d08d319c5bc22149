import TensorGraph

// AbsVal has no parameter message: the layer type says everything.
extension AbsValAttributes: CaffeLayerCodec {
    init(caffe layer: CaffeLayer) throws { self.init() }
    func write(to layer: inout Caffe_LayerParameter) {}
}
