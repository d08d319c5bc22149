import TensorGraph

// Operations without parameters of their own: the layer type says everything.

extension SigmoidAttributes: CaffeLayerCodec {
    init(caffe layer: CaffeLayer) throws { self.init() }
    func write(to layer: inout Caffe_LayerParameter) {}
}

extension TanHAttributes: CaffeLayerCodec {
    init(caffe layer: CaffeLayer) throws { self.init() }
    func write(to layer: inout Caffe_LayerParameter) {}
}

extension SplitAttributes: CaffeLayerCodec {
    init(caffe layer: CaffeLayer) throws { self.init() }
    func write(to layer: inout Caffe_LayerParameter) {}
}
