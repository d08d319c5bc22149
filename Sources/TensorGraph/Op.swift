/// The closed set of operations the graph can hold, each with its typed attributes.
///
/// Every format reader maps its layers onto these cases, and the inference engine
/// handles each of them in an exhaustive `switch`.
public enum Op: Sendable, Equatable {
    case convolution(ConvolutionAttributes)
    case pooling(PoolingAttributes)
    case innerProduct(InnerProductAttributes)
    case relu(negativeSlope: Float)
    case sigmoid
    case tanh
    case softmax(axis: Int)
    case lrn(LRNAttributes)
    /// Identity at inference time; the ratio is kept so writers can round-trip it.
    case dropout(ratio: Float)
    case flatten(axis: Int, endAxis: Int)
    case concat(axis: Int)
    case eltwise(EltwiseAttributes)
    case batchNorm(BatchNormAttributes)
    case scale(ScaleAttributes)
    /// Copies its one input to every output.
    case split

    /// The operation's name as Caffe spells the layer type.
    public var typeName: String {
        switch self {
        case .convolution: return "Convolution"
        case .pooling: return "Pooling"
        case .innerProduct: return "InnerProduct"
        case .relu: return "ReLU"
        case .sigmoid: return "Sigmoid"
        case .tanh: return "TanH"
        case .softmax: return "Softmax"
        case .lrn: return "LRN"
        case .dropout: return "Dropout"
        case .flatten: return "Flatten"
        case .concat: return "Concat"
        case .eltwise: return "Eltwise"
        case .batchNorm: return "BatchNorm"
        case .scale: return "Scale"
        case .split: return "Split"
        }
    }

    /// Names of the parameter blobs this operation takes, in storage order.
    public var parameterNames: [String] {
        switch self {
        case let .convolution(a): return a.biasTerm ? ["weights", "bias"] : ["weights"]
        case let .innerProduct(a): return a.biasTerm ? ["weights", "bias"] : ["weights"]
        case .batchNorm: return ["mean", "variance", "moving-average factor"]
        case let .scale(a): return a.biasTerm ? ["scale", "bias"] : ["scale"]
        default: return []
        }
    }

    /// True for the layers whose weights the quantizer works on.
    public var hasWeights: Bool {
        switch self {
        case .convolution, .innerProduct: return true
        default: return false
        }
    }
}

/// A pair of values for the vertical and horizontal direction.
public struct Size2: Sendable, Equatable, Codable, CustomStringConvertible {
    public var h: Int
    public var w: Int
    public init(_ h: Int, _ w: Int) { self.h = h; self.w = w }
    public init(square: Int) { self.init(square, square) }
    public var description: String { h == w ? "\(h)" : "\(h)x\(w)" }
}

public struct ConvolutionAttributes: Sendable, Equatable {
    public var numOutput: Int
    public var kernel: Size2
    public var stride: Size2
    public var pad: Size2
    public var dilation: Size2
    public var group: Int
    public var biasTerm: Bool

    public init(numOutput: Int, kernel: Size2, stride: Size2 = Size2(square: 1), pad: Size2 = Size2(square: 0),
                dilation: Size2 = Size2(square: 1), group: Int = 1, biasTerm: Bool = true) {
        self.numOutput = numOutput
        self.kernel = kernel
        self.stride = stride
        self.pad = pad
        self.dilation = dilation
        self.group = group
        self.biasTerm = biasTerm
    }
}

public enum PoolingMethod: String, Sendable, Equatable, Codable {
    case max = "MAX"
    case average = "AVE"
}

public struct PoolingAttributes: Sendable, Equatable {
    public var method: PoolingMethod
    public var kernel: Size2
    public var stride: Size2
    public var pad: Size2
    /// Pool over the whole spatial extent (kernel, stride and pad are then ignored).
    public var global: Bool
    /// Caffe rounds the output size up by default; `false` rounds down.
    public var ceilMode: Bool

    public init(method: PoolingMethod, kernel: Size2, stride: Size2 = Size2(square: 1), pad: Size2 = Size2(square: 0),
                global: Bool = false, ceilMode: Bool = true) {
        self.method = method
        self.kernel = kernel
        self.stride = stride
        self.pad = pad
        self.global = global
        self.ceilMode = ceilMode
    }

    /// Kernel, stride and pad as applied to an `height` x `width` input: global pooling covers
    /// the whole input with stride 1 and no padding.
    public func window(height: Int, width: Int) -> (kernel: Size2, stride: Size2, pad: Size2) {
        global ? (Size2(height, width), Size2(square: 1), Size2(square: 0)) : (kernel, stride, pad)
    }
}

public struct InnerProductAttributes: Sendable, Equatable {
    public var numOutput: Int
    public var biasTerm: Bool
    /// First axis that is flattened into the input vector.
    public var axis: Int
    /// Weights stored as (input, output) instead of (output, input).
    public var transpose: Bool

    public init(numOutput: Int, biasTerm: Bool = true, axis: Int = 1, transpose: Bool = false) {
        self.numOutput = numOutput
        self.biasTerm = biasTerm
        self.axis = axis
        self.transpose = transpose
    }
}

public enum LRNRegion: String, Sendable, Equatable, Codable {
    case acrossChannels = "ACROSS_CHANNELS"
    case withinChannel = "WITHIN_CHANNEL"
}

public struct LRNAttributes: Sendable, Equatable {
    public var localSize: Int
    public var alpha: Float
    public var beta: Float
    public var k: Float
    public var region: LRNRegion

    public init(localSize: Int = 5, alpha: Float = 1, beta: Float = 0.75, k: Float = 1, region: LRNRegion = .acrossChannels) {
        self.localSize = localSize
        self.alpha = alpha
        self.beta = beta
        self.k = k
        self.region = region
    }
}

public enum EltwiseOperation: String, Sendable, Equatable, Codable {
    case product = "PROD"
    case sum = "SUM"
    case max = "MAX"
}

public struct EltwiseAttributes: Sendable, Equatable {
    public var operation: EltwiseOperation
    /// Per-input coefficients for SUM; empty means all 1.
    public var coefficients: [Float]

    public init(operation: EltwiseOperation = .sum, coefficients: [Float] = []) {
        self.operation = operation
        self.coefficients = coefficients
    }
}

public struct BatchNormAttributes: Sendable, Equatable {
    public var eps: Float
    public init(eps: Float = 1e-5) { self.eps = eps }
}

public struct ScaleAttributes: Sendable, Equatable {
    public var axis: Int
    public var numAxes: Int
    public var biasTerm: Bool

    public init(axis: Int = 1, numAxes: Int = 1, biasTerm: Bool = false) {
        self.axis = axis
        self.numAxes = numAxes
        self.biasTerm = biasTerm
    }
}
