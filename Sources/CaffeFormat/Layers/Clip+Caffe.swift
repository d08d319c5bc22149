import TensorGraph

extension ClipAttributes: CaffeLayerCodec {
    init(caffe layer: CaffeLayer) throws {
        let p = layer.parameters.clipParam
        guard p.hasMin, p.hasMax else { throw CaffeAttributeError("Clip needs clip_param min and max") }
        self.init(min: p.min, max: p.max)
    }

    func write(to layer: inout Caffe_LayerParameter) {
        layer.clipParam.min = min
        layer.clipParam.max = max
    }
}
