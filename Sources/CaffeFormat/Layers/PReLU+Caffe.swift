import TensorGraph

extension PReLUAttributes: CaffeLayerCodec {
    init(caffe layer: CaffeLayer) throws { self.init(channelShared: layer.parameters.preluParam.channelShared) }

    func write(to layer: inout Caffe_LayerParameter) {
        if channelShared { layer.preluParam.channelShared = true }
    }
}
