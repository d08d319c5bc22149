#if !AVX512_TWIN
import SIMDKernelsAVX512
#endif

/// Per-channel element-wise layers (batch norm with global statistics, scale, bias, ReLU) applied
/// to a kernel's outputs while they are still in cache, instead of one pass over memory per layer.
///
/// Each step is the same float operation, in the same order, as the layer it replaces, so a fused
/// result is bit-identical to running the layers one after another.
public struct ChannelEpilogue: Sendable {
    #if !AVX512_TWIN
    /// The same epilogue built for AVX-512, when asked for: what the kernels' AVX-512 build runs.
    let wide: SIMDKernelsAVX512.ChannelEpilogue?

    /// `wide`, for a kernel running its AVX-512 build (which needs the epilogue built alike).
    var wideTwin: SIMDKernelsAVX512.ChannelEpilogue {
        guard let wide else { preconditionFailure("an AVX-512 kernel was given an epilogue built without `wide`") }
        return wide
    }
    #endif

    /// One layer's operation on a value `v` of channel `c`.
    public enum Step: Sendable, Equatable {
        /// `(v - mean[c]) / deviation[c]`.
        case normalize(mean: [Float], deviation: [Float])
        /// `factor[c] * v`.
        case scale([Float])
        /// `v + shift[c]`.
        case shift([Float])
        /// `max(v, 0)`, plus `negativeSlope * min(v, 0)` when the slope is not zero.
        case relu(negativeSlope: Float)
    }

    /// Each step's kind, and per channel each step's two operands (channel-major), so that one
    /// pass applies every step to a vector while it is in registers.
    private let kinds: [Kind]
    private let operands: [Float]

    private enum Kind { case normalize, scale, shift, relu, leakyRelu }

    /// An epilogue running `steps` in order on values of `channels` channels (each step's
    /// per-channel operands must have that many values).
    public init(steps: [Step], channels: Int, wide: Bool = false) {
        precondition(steps.allSatisfy { step in
            switch step {
            case let .normalize(mean, deviation): mean.count == channels && deviation.count == channels
            case let .scale(values), let .shift(values): values.count == channels
            case .relu: true
            }
        }, "an epilogue step's operands do not cover \(channels) channels")
        kinds = steps.map { step in
            switch step {
            case .normalize: .normalize
            case .scale: .scale
            case .shift: .shift
            case let .relu(slope): slope == 0 ? .relu : .leakyRelu
            }
        }
        operands = (0..<channels).flatMap { c in
            steps.flatMap { step -> [Float] in
                switch step {
                case let .normalize(mean, deviation): [mean[c], deviation[c]]
                case let .scale(factors): [factors[c], 0]
                case let .shift(shifts): [shifts[c], 0]
                case let .relu(slope): [slope, 0]
                }
            }
        }
        #if !AVX512_TWIN
        self.wide = wide ? SIMDKernelsAVX512.ChannelEpilogue(steps: steps.map(\.wideTwin), channels: channels) : nil
        #endif
    }

    /// Applies every step to `count` consecutive values of channel `channel`.
    public func apply(_ values: UnsafeMutablePointer<Float>, count: Int, channel: Int) {
        #if !AVX512_TWIN
        if let wide { return wide.apply(values, count: count, channel: channel) }
        #endif
        kinds.withUnsafeBufferPointer { kinds in
            operands.withUnsafeBufferPointer { operands in
                let channelOperands = operands.baseAddress! + channel * kinds.count * 2
                var i = 0
                while i + V.scalarCount <= count {
                    let raw = UnsafeMutableRawPointer(values + i)
                    raw.storeBytes(of: Self.run(kinds, channelOperands, raw.loadUnaligned(as: V.self)), as: V.self)
                    i += V.scalarCount
                }
                while i < count {
                    values[i] = Self.run(kinds, channelOperands, values[i])
                    i += 1
                }
            }
        }
    }

    private typealias V = SIMD16<Float>

    /// The steps on one vector, each the layer's own float operation: a vector step and its scalar
    /// twin (below) give the same bits.
    @inline(__always)
    private static func run(_ kinds: UnsafeBufferPointer<Kind>, _ operands: UnsafePointer<Float>, _ value: V) -> V {
        var v = value
        for (s, kind) in kinds.enumerated() {
            let a = V(repeating: operands[2 * s])
            switch kind {
            case .normalize: v = (v - a) / V(repeating: operands[2 * s + 1])
            case .scale: v = a * v
            case .shift: v = v + a
            // Swift's max(v, 0) is `0 >= v ? 0 : v` and min(v, 0) is `0 < v ? 0 : v`: the masks keep their answers for -0 and NaN.
            case .relu: v = v.replacing(with: 0, where: v .<= 0)
            case .leakyRelu: v = v.replacing(with: 0, where: v .<= 0) + a * v.replacing(with: 0, where: v .> 0)
            }
        }
        return v
    }

    @inline(__always)
    private static func run(_ kinds: UnsafeBufferPointer<Kind>, _ operands: UnsafePointer<Float>, _ value: Float) -> Float {
        var v = value
        for (s, kind) in kinds.enumerated() {
            let a = operands[2 * s]
            switch kind {
            case .normalize: v = (v - a) / operands[2 * s + 1]
            case .scale: v = a * v
            case .shift: v = v + a
            case .relu: v = max(v, 0)
            case .leakyRelu: v = max(v, 0) + a * min(v, 0)
            }
        }
        return v
    }
}

extension ChannelEpilogue {
    /// Applies the steps to one image's outputs, `channels` planes of `plane` values.
    public func apply(toImage values: UnsafeMutablePointer<Float>, channels: Int, plane: Int) {
        #if !AVX512_TWIN
        if let wide { return wide.apply(toImage: values, channels: channels, plane: plane) }
        #endif
        for channel in 0..<channels { apply(values + channel * plane, count: plane, channel: channel) }
    }
}

#if !AVX512_TWIN
extension ChannelEpilogue.Step {
    /// The same step for the AVX-512 build.
    var wideTwin: SIMDKernelsAVX512.ChannelEpilogue.Step {
        switch self {
        case let .normalize(mean, deviation): .normalize(mean: mean, deviation: deviation)
        case let .scale(factors): .scale(factors)
        case let .shift(shifts): .shift(shifts)
        case let .relu(slope): .relu(negativeSlope: slope)
        }
    }
}
#endif
