import TensorGraph

extension ReLUAttributes: CaffeLayerCodec {
    init(caffe layer: CaffeLayer) throws { self.init(negativeSlope: layer.parameters.reluParam.negativeSlope) }

    func write(to layer: inout Caffe_LayerParameter) {
        if negativeSlope != 0 { layer.reluParam.negativeSlope = negativeSlope }
    }
}
