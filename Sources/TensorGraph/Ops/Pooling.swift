/// Pooling method: maximum or average over each window.
public enum PoolingMethod: String, Sendable, Equatable, Codable {
    case max = "MAX"
    case average = "AVE"
}

/// MAX or AVE pooling over NCHW input with Caffe's output size (rounded up by default) and
/// Caffe's AVE divisor (the window clipped to the padded image).
public struct PoolingAttributes: OperatorAttributes {
    public static let typeName = "Pooling"

    /// Maximum or average.
    public var method: PoolingMethod
    /// Window height and width.
    public var kernel: Size2
    /// Steps between windows, in input cells.
    public var stride: Size2
    /// Cells added on each side (ignored by MAX, counted in AVE's divisor as Caffe does).
    public var pad: Size2
    /// Pool over the whole spatial extent (kernel, stride and pad are then ignored).
    public var global: Bool
    /// Caffe rounds the output size up by default; `false` rounds down.
    public var ceilMode: Bool

    /// Pooling with Caffe's defaults for what is not given.
    public init(method: PoolingMethod, kernel: Size2, stride: Size2 = Size2(square: 1), pad: Size2 = Size2(square: 0),
                global: Bool = false, ceilMode: Bool = true) {
        self.method = method
        self.kernel = kernel
        self.stride = stride
        self.pad = pad
        self.global = global
        self.ceilMode = ceilMode
    }

    enum CodingKeys: String, CodingKey {
        case method, kernel, stride, pad, global
        case ceilMode = "ceil_mode"
    }

    public var op: Op { .pooling(self) }

    /// Kernel, stride and pad as applied to an `height` x `width` input: global pooling covers
    /// the whole input with stride 1 and no padding.
    public func window(height: Int, width: Int) -> (kernel: Size2, stride: Size2, pad: Size2) {
        global ? (Size2(height, width), Size2(square: 1), Size2(square: 0)) : (kernel, stride, pad)
    }

    public func outputShapes(_ inputs: [Shape], rule: ShapeRule) throws -> [Shape] {
        let x = inputs[0]
        try rule.requireRank(4, of: x)
        if global { return [[x[0], x[1], 1, 1]] }
        try rule.require(kernel.h > 0 && kernel.w > 0 && stride.h > 0 && stride.w > 0 && pad.h >= 0 && pad.w >= 0,
                         "kernel and stride must be positive")
        try rule.require(pad.h < kernel.h && pad.w < kernel.w, "pad must be smaller than the kernel")
        let h = try Self.outputSize(x[2], kernel: kernel.h, stride: stride.h, pad: pad.h, ceil: ceilMode, layer: rule.layer)
        let w = try Self.outputSize(x[3], kernel: kernel.w, stride: stride.w, pad: pad.w, ceil: ceilMode, layer: rule.layer)
        return [[x[0], x[1], h, w]]
    }

    /// Caffe's pooling size: rounded up by default, and the last window must start inside the image or left padding.
    static func outputSize(_ size: Int, kernel: Int, stride: Int, pad: Int, ceil: Bool, layer: String) throws -> Int {
        let padded = try ShapeMath.add(size, try ShapeMath.multiply(2, pad, layer: layer), layer: layer)
        guard padded >= kernel else {
            throw GraphError.invalidShape(layer: layer, reason: "kernel \(kernel) exceeds padded input \(padded)")
        }
        let span = padded - kernel
        var out = (ceil ? (span + stride - 1) / stride : span / stride) + 1
        if pad > 0, (out - 1) * stride >= size + pad { out -= 1 }
        return out
    }
}
