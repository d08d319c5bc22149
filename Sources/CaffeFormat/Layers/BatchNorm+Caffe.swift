import TensorGraph

extension BatchNormAttributes: CaffeLayerCodec {
    init(caffe layer: CaffeLayer) throws {
        let b = layer.parameters.batchNormParam
        if b.hasUseGlobalStats, !b.useGlobalStats {
            throw CaffeAttributeError("use_global_stats: false computes batch statistics, which inference does not")
        }
        self.init(eps: b.eps)
    }

    func write(to layer: inout Caffe_LayerParameter) {
        layer.batchNormParam.useGlobalStats = true
        if eps != 1e-5 { layer.batchNormParam.eps = eps }
    }
}
