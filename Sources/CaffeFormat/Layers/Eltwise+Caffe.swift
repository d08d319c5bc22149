import TensorGraph

extension EltwiseAttributes: CaffeLayerCodec {
    init(caffe layer: CaffeLayer) throws {
        let e = layer.parameters.eltwiseParam
        let operation: EltwiseOperation = switch e.operation {
        case .prod: .product
        case .sum: .sum
        case .max: .max
        }
        self.init(operation: operation, coefficients: e.coeff)
    }

    func write(to layer: inout Caffe_LayerParameter) {
        var e = Caffe_EltwiseParameter()
        e.operation = switch operation {
        case .product: .prod
        case .sum: .sum
        case .max: .max
        }
        e.coeff = coefficients
        layer.eltwiseParam = e
    }
}
