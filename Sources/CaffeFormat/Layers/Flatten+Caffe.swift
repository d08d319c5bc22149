import TensorGraph

extension FlattenAttributes: CaffeLayerCodec {
    init(caffe layer: CaffeLayer) throws {
        let f = layer.parameters.flattenParam
        self.init(axis: Int(f.axis), endAxis: Int(f.endAxis))
    }

    func write(to layer: inout Caffe_LayerParameter) {
        if axis != 1 { layer.flattenParam.axis = Int32(axis) }
        if endAxis != -1 { layer.flattenParam.endAxis = Int32(endAxis) }
    }
}
