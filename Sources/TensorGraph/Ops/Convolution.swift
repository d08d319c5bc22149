/// A 2-D convolution over NCHW input (Caffe's `Convolution`): weights [M, C/group, KH, KW], optional bias [M].
public struct ConvolutionAttributes: OperatorAttributes {
    public static let typeName = "Convolution"
    public static let hasQuantizableWeights = true

    /// Output channels (M).
    public var numOutput: Int
    /// Kernel height and width.
    public var kernel: Size2
    /// Steps between output positions, in input cells.
    public var stride: Size2
    /// Zero cells added on each side of the input.
    public var pad: Size2
    /// Spacing of the kernel's taps (1: adjacent cells).
    public var dilation: Size2
    /// Channel groups: each output group sees only its input group (C and M are multiples of it).
    public var group: Int
    /// Whether a bias blob follows the weights.
    public var biasTerm: Bool

    /// A convolution with Caffe's defaults for what is not given.
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

    enum CodingKeys: String, CodingKey {
        case kernel, stride, pad, dilation, group
        case numOutput = "num_output", biasTerm = "bias_term"
    }

    public var op: Op { .convolution(self) }
    public var parameterNames: [String] { biasTerm ? ["weights", "bias"] : ["weights"] }

    public func outputShapes(_ inputs: [Shape], rule: ShapeRule) throws -> [Shape] {
        let x = inputs[0]
        try rule.requireRank(4, of: x)
        try rule.require(numOutput > 0 && kernel.h > 0 && kernel.w > 0 && stride.h > 0 && stride.w > 0
                             && dilation.h > 0 && dilation.w > 0 && pad.h >= 0 && pad.w >= 0,
                         "kernel, stride, dilation and num_output must be positive")
        let h = try Self.outputSize(x[2], kernel: kernel.h, stride: stride.h, pad: pad.h, dilation: dilation.h, layer: rule.layer)
        let w = try Self.outputSize(x[3], kernel: kernel.w, stride: stride.w, pad: pad.w, dilation: dilation.w, layer: rule.layer)
        return [[x[0], numOutput, h, w]]
    }

    public func parameterShapes(input: Shape, rule: ShapeRule) throws -> [Shape] {
        let channels = input[1]
        try rule.require(group > 0 && channels % group == 0 && numOutput % group == 0,
                         "group \(group) must divide the \(channels) input and \(numOutput) output channels")
        var shapes = [Shape([numOutput, channels / group, kernel.h, kernel.w])]
        if biasTerm { shapes.append([numOutput]) }
        return shapes
    }

    static func outputSize(_ size: Int, kernel: Int, stride: Int, pad: Int, dilation: Int, layer: String) throws -> Int {
        let extent = try ShapeMath.add(try ShapeMath.multiply(dilation, kernel - 1, layer: layer), 1, layer: layer)
        let padded = try ShapeMath.add(size, try ShapeMath.multiply(2, pad, layer: layer), layer: layer)
        guard padded >= extent else {
            throw GraphError.invalidShape(layer: layer, reason: "kernel extent \(extent) exceeds padded input \(padded)")
        }
        return (padded - extent) / stride + 1
    }
}
