#if !AVX512_TWIN
import SIMDKernelsAVX512
#endif

/// MAX and AVE pooling of whole planes, eight output columns per vector.
///
/// Each plane is first copied into a border of -inf (MAX) or zeros (AVE) wide enough for every
/// window and every vector load, so the inner loops need no clipping. AVE still adds the window's
/// cells in Caffe's row-major order starting from zero: the border's zeros leave each partial sum
/// unchanged, so the result is Caffe's bit for bit. Its divisor is Caffe's: the window clipped at
/// the padded border, not at the image.
@available(macOS 26, *)
public struct PlanePooling: Sendable {
    #if !AVX512_TWIN
    /// The same kernel built for AVX-512 (vectors of sixteen in one register), when asked for.
    let wide: SIMDKernelsAVX512.PlanePooling?
    #endif

    public let height, width, outHeight, outWidth: Int
    public let kernelHeight, kernelWidth, strideH, strideW, padH, padW: Int
    public let average: Bool
    /// Caffe's AVE divisor for each output cell, [outHeight][rowLength] (padded with ones).
    let divisors: [Float]
    /// Output columns per row rounded up to whole vectors.
    let rowLength: Int
    let paddedHeight, paddedWidth: Int
    /// Output columns per vector.
    static let lanes = 8
    typealias Lane = SIMD8<Float>

    public init(height: Int, width: Int, outHeight: Int, outWidth: Int, kernel: (h: Int, w: Int),
                stride: (h: Int, w: Int), pad: (h: Int, w: Int), average: Bool, wide: Bool = false) {
        self.height = height; self.width = width; self.outHeight = outHeight; self.outWidth = outWidth
        (kernelHeight, kernelWidth) = kernel
        (strideH, strideW) = stride
        (padH, padW) = pad
        self.average = average
        func paddedExtent(_ o: Int, _ k: Int, _ s: Int, _ p: Int, _ size: Int) -> Int {
            let start = o * s - p
            return min(start + k, size + p) - start
        }
        #if AVX512_TWIN
        let ownTables = true
        #else
        self.wide = wide ? SIMDKernelsAVX512.PlanePooling(
            height: height, width: width, outHeight: outHeight, outWidth: outWidth, kernel: kernel, stride: stride,
            pad: pad, average: average) : nil
        // The AVX-512 build runs everything then: its divisors are the ones used.
        let ownTables = !wide
        #endif
        rowLength = (outWidth + Self.lanes - 1) / Self.lanes * Self.lanes
        var divisors = [Float](repeating: 1, count: ownTables && average ? outHeight * rowLength : 0)
        for oy in 0..<(ownTables && average ? outHeight : 0) {
            for ox in 0..<outWidth {
                divisors[oy * rowLength + ox] = Float(paddedExtent(oy, kernel.h, stride.h, pad.h, height)
                                                      * paddedExtent(ox, kernel.w, stride.w, pad.w, width))
            }
        }
        self.divisors = divisors
        // Rows and columns any window or vector lane can touch, counted from -pad.
        paddedHeight = max(height + padH, (outHeight - 1) * stride.h + kernel.h)
        paddedWidth = max(width + padW, (rowLength - 1) * stride.w + kernel.w)
    }

    /// Floats of scratch memory one worker needs for `run` (a stride-2 load reads one vector past
    /// the last lane it keeps).
    public var scratchCount: Int { paddedHeight * paddedWidth + 2 * Self.lanes }

    /// Pools `count` planes of [height][width] into planes of [outHeight][outWidth].
    public func run(planes input: UnsafePointer<Float>, count: Int, output: UnsafeMutablePointer<Float>,
                    scratch: UnsafeMutablePointer<Float>) {
        #if !AVX512_TWIN
        if let wide { return wide.run(planes: input, count: count, output: output, scratch: scratch) }
        #endif
        scratch.initialize(repeating: average ? 0 : -.infinity, count: scratchCount)
        // The common windows with their sizes as constants, so the window loops unroll (their
        // counters, not the loads and maxima, took most of the time).
        switch (kernelHeight, kernelWidth, strideW) {
        case (2, 2, 2): poolPlanes(Window<Two, Two, Two>.self, input, count, output, scratch)
        case (3, 3, 2): poolPlanes(Window<Three, Three, Two>.self, input, count, output, scratch)
        case (3, 3, 1): poolPlanes(Window<Three, Three, One>.self, input, count, output, scratch)
        default: poolPlanes(AnyWindow.self, input, count, output, scratch)
        }
    }

    /// `run`'s planes, specialised for window `W` (its sizes are constants, or this geometry's).
    func poolPlanes<W: WindowSize>(_: W.Type, _ input: UnsafePointer<Float>, _ count: Int, _ output: UnsafeMutablePointer<Float>,
                                   _ scratch: UnsafeMutablePointer<Float>) {
        let kernelHeight = W.kernelHeight ?? self.kernelHeight, kernelWidth = W.kernelWidth ?? self.kernelWidth
        let strideW = W.strideW ?? self.strideW
        let lanes = Self.lanes
        divisors.withUnsafeBufferPointer { divisors in
            for plane in 0..<count {
                // Only the interior changes from plane to plane; the border stays as initialised.
                let src = input + plane * height * width
                for y in 0..<height {
                    copyRow(src + y * width, to: scratch + (y + padH) * paddedWidth + padW, count: width)
                }
                let dst = output + plane * outHeight * outWidth
                for oy in 0..<outHeight {
                    for ox in stride(from: 0, to: outWidth, by: lanes) {
                        let corner = scratch + oy * strideH * paddedWidth + ox * strideW
                        var result: Lane
                        if average {
                            result = Lane()
                            for dy in 0..<kernelHeight {
                                for dx in 0..<kernelWidth { result += load(corner + dy * paddedWidth + dx, strideW: strideW) }
                            }
                            result /= UnsafeRawPointer(divisors.baseAddress! + oy * rowLength + ox).loadUnaligned(as: Lane.self)
                        } else {
                            result = Lane(repeating: -.infinity)
                            for dy in 0..<kernelHeight {
                                for dx in 0..<kernelWidth {
                                    // Not pointwiseMax: the standard library does not inline it.
                                    let cells = load(corner + dy * paddedWidth + dx, strideW: strideW)
                                    result.replace(with: cells, where: cells .> result)
                                }
                            }
                        }
                        let out = dst + oy * outWidth + ox
                        if ox + lanes <= outWidth {
                            UnsafeMutableRawPointer(out).storeBytes(of: result, as: Lane.self)
                        } else {
                            for i in 0..<(outWidth - ox) { out[i] = result[i] }
                        }
                    }
                }
            }
        }
    }

    /// Eight cells `strideW` apart from `cell`.
    @inline(__always)
    func load(_ cell: UnsafePointer<Float>, strideW: Int) -> Lane {
        switch strideW {
        case 1: return UnsafeRawPointer(cell).loadUnaligned(as: Lane.self)
        case 2: return UnsafeRawPointer(cell).loadUnaligned(as: SIMD16<Float>.self).evenHalf
        default:
            var v = Lane()
            for i in 0..<Self.lanes { v[i] = cell[i * strideW] }
            return v
        }
    }
}

/// A pooling window's sizes known when compiling (nil: read from the geometry at run time).
protocol WindowSize {
    static var kernelHeight: Int? { get }
    static var kernelWidth: Int? { get }
    static var strideW: Int? { get }
}

protocol Constant { static var value: Int { get } }
enum One: Constant { static var value: Int { 1 } }
enum Two: Constant { static var value: Int { 2 } }
enum Three: Constant { static var value: Int { 3 } }

enum Window<KernelHeight: Constant, KernelWidth: Constant, StrideW: Constant>: WindowSize {
    static var kernelHeight: Int? { KernelHeight.value }
    static var kernelWidth: Int? { KernelWidth.value }
    static var strideW: Int? { StrideW.value }
}

enum AnyWindow: WindowSize {
    static var kernelHeight: Int? { nil }
    static var kernelWidth: Int? { nil }
    static var strideW: Int? { nil }
}
