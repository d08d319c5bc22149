import TensorGraph

extension LRNAttributes: CaffeLayerCodec {
    init(caffe layer: CaffeLayer) throws {
        let l = layer.parameters.lrnParam
        self.init(localSize: Int(l.localSize), alpha: l.alpha, beta: l.beta, k: l.k,
                  region: l.normRegion == .withinChannel ? .withinChannel : .acrossChannels)
    }

    func write(to layer: inout Caffe_LayerParameter) {
        var l = Caffe_LRNParameter()
        l.localSize = UInt32(localSize)
        l.alpha = alpha
        l.beta = beta
        l.k = k
        l.normRegion = region == .withinChannel ? .withinChannel : .acrossChannels
        layer.lrnParam = l
    }
}
