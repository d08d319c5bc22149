import TensorGraph

extension ScaleAttributes: CaffeLayerCodec {
    init(caffe layer: CaffeLayer) throws {
        guard layer.bottoms.count == 1 else { throw CaffeAttributeError("Scale with the scale as a second bottom is not supported") }
        let s = layer.parameters.scaleParam
        guard s.numAxes >= 0 else { throw CaffeAttributeError("Scale num_axes -1 is not supported") }
        self.init(axis: Int(s.axis), numAxes: Int(s.numAxes), biasTerm: s.biasTerm)
    }

    func write(to layer: inout Caffe_LayerParameter) {
        var s = Caffe_ScaleParameter()
        if axis != 1 { s.axis = Int32(axis) }
        if numAxes != 1 { s.numAxes = Int32(numAxes) }
        if biasTerm { s.biasTerm = true }
        layer.scaleParam = s
    }
}
