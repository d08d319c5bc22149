import TensorGraph

extension PermuteAttributes: CaffeLayerCodec {
    init(caffe layer: CaffeLayer) throws { self.init(order: layer.parameters.permuteParam.order.map(Int.init)) }

    func write(to layer: inout Caffe_LayerParameter) {
        layer.permuteParam.order = order.map(UInt32.init)
    }
}
