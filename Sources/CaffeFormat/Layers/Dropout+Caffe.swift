import TensorGraph

extension DropoutAttributes: CaffeLayerCodec {
    init(caffe layer: CaffeLayer) throws { self.init(ratio: layer.parameters.dropoutParam.dropoutRatio) }

    func write(to layer: inout Caffe_LayerParameter) { layer.dropoutParam.dropoutRatio = ratio }
}
