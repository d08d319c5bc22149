/// One layer of a Caffe net, from either the current `layer` or the legacy V1 `layers` form.
///
/// Both forms share the per-type parameter messages; only the type (a string versus an
/// enum) and the field numbers of the envelope differ, so everything downstream reads this.
struct CaffeLayer {
    var name: String
    var type: String
    var bottoms: [String]
    var tops: [String]
    var include: [Caffe_NetStateRule]
    var exclude: [Caffe_NetStateRule]
    var blobs: [Caffe_BlobProto]
    var parameters: Caffe_LayerParameter

    init(_ layer: Caffe_LayerParameter) {
        name = layer.name
        type = layer.type
        bottoms = layer.bottom
        tops = layer.top
        include = layer.include
        exclude = layer.exclude
        blobs = layer.blobs
        parameters = layer
    }

    init(_ layer: Caffe_V1LayerParameter) {
        name = layer.name
        type = Self.typeName(layer.type)
        bottoms = layer.bottom
        tops = layer.top
        include = layer.include
        exclude = layer.exclude
        blobs = layer.blobs
        var p = Caffe_LayerParameter()
        if layer.hasAccuracyParam { p.accuracyParam = layer.accuracyParam }
        if layer.hasArgmaxParam { p.argmaxParam = layer.argmaxParam }
        if layer.hasConcatParam { p.concatParam = layer.concatParam }
        if layer.hasConvolutionParam { p.convolutionParam = layer.convolutionParam }
        if layer.hasDataParam { p.dataParam = layer.dataParam }
        if layer.hasDropoutParam { p.dropoutParam = layer.dropoutParam }
        if layer.hasEltwiseParam { p.eltwiseParam = layer.eltwiseParam }
        if layer.hasImageDataParam { p.imageDataParam = layer.imageDataParam }
        if layer.hasInnerProductParam { p.innerProductParam = layer.innerProductParam }
        if layer.hasLrnParam { p.lrnParam = layer.lrnParam }
        if layer.hasPoolingParam { p.poolingParam = layer.poolingParam }
        if layer.hasReluParam { p.reluParam = layer.reluParam }
        if layer.hasSigmoidParam { p.sigmoidParam = layer.sigmoidParam }
        if layer.hasSoftmaxParam { p.softmaxParam = layer.softmaxParam }
        if layer.hasTanhParam { p.tanhParam = layer.tanhParam }
        if layer.hasTransformParam { p.transformParam = layer.transformParam }
        if layer.hasLossParam { p.lossParam = layer.lossParam }
        parameters = p
    }

    /// The current-format type name of a V1 layer type (what Caffe's upgrader produces).
    static func typeName(_ type: Caffe_V1LayerParameter.LayerType) -> String {
        switch type {
        case .none: return ""
        case .absval: return "AbsVal"
        case .accuracy: return "Accuracy"
        case .argmax: return "ArgMax"
        case .bnll: return "BNLL"
        case .concat: return "Concat"
        case .contrastiveLoss: return "ContrastiveLoss"
        case .convolution: return "Convolution"
        case .data: return "Data"
        case .deconvolution: return "Deconvolution"
        case .dropout: return "Dropout"
        case .dummyData: return "DummyData"
        case .euclideanLoss: return "EuclideanLoss"
        case .eltwise: return "Eltwise"
        case .exp: return "Exp"
        case .flatten: return "Flatten"
        case .hdf5Data: return "HDF5Data"
        case .hdf5Output: return "HDF5Output"
        case .hingeLoss: return "HingeLoss"
        case .im2Col: return "Im2col"
        case .imageData: return "ImageData"
        case .infogainLoss: return "InfogainLoss"
        case .innerProduct: return "InnerProduct"
        case .lrn: return "LRN"
        case .memoryData: return "MemoryData"
        case .multinomialLogisticLoss: return "MultinomialLogisticLoss"
        case .mvn: return "MVN"
        case .pooling: return "Pooling"
        case .power: return "Power"
        case .relu: return "ReLU"
        case .sigmoid: return "Sigmoid"
        case .sigmoidCrossEntropyLoss: return "SigmoidCrossEntropyLoss"
        case .silence: return "Silence"
        case .softmax: return "Softmax"
        case .softmaxLoss: return "SoftmaxWithLoss"
        case .split: return "Split"
        case .slice: return "Slice"
        case .tanh: return "TanH"
        case .windowData: return "WindowData"
        case .threshold: return "Threshold"
        }
    }

    /// Layers that feed data or compute training losses and metrics: understood, and dropped for inference.
    static let dataTypes: Set<String> = ["Data", "ImageData", "HDF5Data", "MemoryData", "DummyData", "WindowData", "Python"]
    static let metricTypes: Set<String> = [
        "Accuracy", "SoftmaxWithLoss", "EuclideanLoss", "HingeLoss", "InfogainLoss", "MultinomialLogisticLoss",
        "SigmoidCrossEntropyLoss", "ContrastiveLoss", "Silence", "HDF5Output",
    ]
}

extension Caffe_NetParameter {
    /// Every layer, whichever of the two forms the file uses.
    var unifiedLayers: [CaffeLayer] {
        layer.map(CaffeLayer.init) + layers.map(CaffeLayer.init)
    }
}
