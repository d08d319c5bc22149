#if !AVX512_TWIN
import SIMDKernelsAVX512
#endif

import CVectorMath
import Foundation

/// Caffe's within-channel LRN of whole planes, eight columns per vector: each cell times
/// (1 + alpha · mean of the squares in its size x size window)^-beta.
///
/// Caffe builds it from square, AVE pooling with a zero border (divisor size² everywhere), power
/// and product. The window's squares are added in its row-major order from zero, as that pooling
/// does, over a zero border, which leaves every partial sum unchanged: the mean is Caffe's bit for
/// bit. For beta = 3/4 (every shared model) the power is 1 / (√s · √√s), within a unit or two in
/// the last place of `powf`; other betas call `powf`.
@available(macOS 26, *)
public struct WithinChannelLRN: Sendable {
    #if !AVX512_TWIN
    /// The same kernel built for AVX-512 (vectors of sixteen in one register), when asked for.
    let wide: SIMDKernelsAVX512.WithinChannelLRN?
    #endif

    public let height, width, size: Int
    public let alpha, beta: Float
    typealias Lane = SIMD8<Float>
    static let lanes = 8
    let pad, paddedHeight, paddedWidth: Int

    public init(height: Int, width: Int, size: Int, alpha: Float, beta: Float, wide: Bool = false) {
        self.height = height; self.width = width; self.size = size
        self.alpha = alpha; self.beta = beta
        pad = (size - 1) / 2
        paddedHeight = height + size - 1
        // Whole vectors along every row, however far the last one reaches.
        paddedWidth = (width + Self.lanes - 1) / Self.lanes * Self.lanes + size - 1
        #if !AVX512_TWIN
        self.wide = wide ? SIMDKernelsAVX512.WithinChannelLRN(height: height, width: width, size: size, alpha: alpha, beta: beta) : nil
        #endif
    }

    /// Floats of scratch memory one worker needs for `run`.
    public var scratchCount: Int { paddedHeight * paddedWidth }

    /// Normalises `count` planes of [height][width].
    public func run(planes input: UnsafePointer<Float>, count: Int, output: UnsafeMutablePointer<Float>,
                    scratch squares: UnsafeMutablePointer<Float>) {
        #if !AVX512_TWIN
        if let wide { return wide.run(planes: input, count: count, output: output, scratch: squares) }
        #endif
        squares.initialize(repeating: 0, count: scratchCount)
        let divisor = Lane(repeating: Float(size * size)), lanes = Self.lanes
        for plane in 0..<count {
            let src = input + plane * height * width, dst = output + plane * height * width
            // Only the interior changes from plane to plane; the border stays zero.
            for y in 0..<height {
                let row = squares + (y + pad) * paddedWidth + pad
                for x in 0..<width { row[x] = src[y * width + x] * src[y * width + x] }
            }
            for y in 0..<height {
                for x in stride(from: 0, to: width, by: lanes) {
                    var sum = Lane()
                    for dy in 0..<size {
                        let row = squares + (y + dy) * paddedWidth + x
                        for dx in 0..<size { sum += UnsafeRawPointer(row + dx).loadUnaligned(as: Lane.self) }
                    }
                    let factor = power(sum / divisor * Lane(repeating: alpha) + Lane(repeating: 1))
                    let cells = min(lanes, width - x), at = y * width + x
                    if cells == lanes {
                        let value = UnsafeRawPointer(src + at).loadUnaligned(as: Lane.self) * factor
                        UnsafeMutableRawPointer(dst + at).storeBytes(of: value, as: Lane.self)
                    } else {
                        for i in 0..<cells { dst[at + i] = src[at + i] * factor[i] }
                    }
                }
            }
        }
    }

    /// s^-beta.
    @inline(__always)
    func power(_ s: Lane) -> Lane {
        if beta == 0.75 {
            let root = bmq_square_root8(s)
            return Lane(repeating: 1) / (root * bmq_square_root8(root))
        }
        var result = Lane()
        for i in 0..<Self.lanes { result[i] = Foundation.pow(s[i], -beta) }
        return result
    }
}
