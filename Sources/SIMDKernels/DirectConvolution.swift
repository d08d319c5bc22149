#if !AVX512_TWIN
import SIMDKernelsAVX512
#endif

/// Convolution without an im2col matrix: output positions in blocks of 16 (or 8, for rows of a
/// multiple of 8), whose input cells are read straight from the input when they are contiguous
/// or else gathered into a small panel ([K][lanes], in cache), multiplied with tiles of output
/// channels held in vector registers (up to `sixteenLaneTileRows` accumulators).
///
/// This module is compiled for AVX2 + FMA on x86-64, and again for AVX-512 as SIMDKernelsAVX512
/// (see Package.swift; each kernel hands its work to that build when made with `wide`); callers
/// must check the CPU first. Each output is `(sum over k of w * x) + bias`, the sum fused-multiply-added in k
/// order (channel, ky, kx) as one running value.
@available(macOS 26, *)
public struct DirectConvolution: Sendable {
    #if !AVX512_TWIN
    /// The same kernel built for AVX-512 (vectors of sixteen in one register), when asked for.
    let wide: SIMDKernelsAVX512.DirectConvolution?
    #endif

    public let channels, height, width: Int
    public let outChannels, outHeight, outWidth: Int
    public let kernelHeight, kernelWidth: Int
    public let strideH, strideW, padH, padW, dilationH, dilationW: Int

    /// Inputs per output value (channel x kernel height x kernel width).
    public var kernelSize: Int { channels * kernelHeight * kernelWidth }
    var paddedHeight: Int { height + 2 * padH }
    var paddedWidth: Int { width + 2 * padW }
    var positions: Int { outHeight * outWidth }

    /// Output positions per block: 16, or 8 when output rows are a multiple of 8 but not of 16,
    /// so that no block wraps a row.
    let lanes: Int
    /// Offset of each patch element (channel, ky, kx) from a position's top-left input cell.
    let patchOffsets: [Int]
    /// Each block as runs along one output row: (first lane, length, input offset).
    let blocks: [[Run]]
    /// Output channels in register tiles, sizes balanced: at most `sixteenLaneTileRows` accumulator
    /// vectors of 16 lanes, or 12 of 8.
    let channelTiles: [Range<Int>]

    struct Run: Sendable {
        let lane, length, origin: Int
    }

    /// One group's geometry: `channels` and `outChannels` are the group's own counts.
    public init(channels: Int, height: Int, width: Int, outChannels: Int, outHeight: Int, outWidth: Int,
                kernel: (h: Int, w: Int), stride: (h: Int, w: Int), pad: (h: Int, w: Int), dilation: (h: Int, w: Int), wide: Bool = false) {
        self.channels = channels; self.height = height; self.width = width
        self.outChannels = outChannels; self.outHeight = outHeight; self.outWidth = outWidth
        (kernelHeight, kernelWidth) = kernel
        (strideH, strideW) = stride
        (padH, padW) = pad
        (dilationH, dilationW) = dilation
        let paddedHeight = height + 2 * pad.h, paddedWidth = width + 2 * pad.w
        #if AVX512_TWIN
        let ownTables = true
        #else
        self.wide = wide ? SIMDKernelsAVX512.DirectConvolution(
            channels: channels, height: height, width: width, outChannels: outChannels, outHeight: outHeight, outWidth: outWidth,
            kernel: kernel, stride: stride, pad: pad, dilation: dilation) : nil
        // The AVX-512 build runs everything then: its tables are the ones used.
        let ownTables = !wide
        #endif
        var offsets: [Int] = []
        for c in 0..<(ownTables ? channels : 0) {
            for ky in 0..<kernel.h {
                for kx in 0..<kernel.w { offsets.append((c * paddedHeight + ky * dilation.h) * paddedWidth + kx * dilation.w) }
            }
        }
        patchOffsets = offsets
        #if AVX512_TWIN
        // Sixteen lanes are one register here: gathering a panel for blocks that wrap a row costs
        // less than running half-width vectors.
        let lanes = 16
        #else
        let lanes = outWidth % 16 != 0 && outWidth % 8 == 0 ? 8 : 16
        #endif
        self.lanes = lanes
        let positions = outHeight * outWidth
        blocks = Swift.stride(from: 0, to: ownTables ? positions : 0, by: lanes).map { first in
            var runs: [Run] = []
            var lane = 0
            let count = min(lanes, positions - first)
            while lane < count {
                let oy = (first + lane) / outWidth, ox = (first + lane) % outWidth
                let length = min(count - lane, outWidth - ox)
                runs.append(Run(lane: lane, length: length, origin: oy * stride.h * paddedWidth + ox * stride.w))
                lane += length
            }
            return runs
        }
        channelTiles = balancedTiles(outChannels, maxTile: lanes == 16 ? sixteenLaneTileRows : 12)
    }

    /// Floats of scratch memory one worker needs for `run`.
    public var scratchCount: Int {
        #if !AVX512_TWIN
        if let wide { return wide.scratchCount }
        #endif
        return (padH > 0 || padW > 0 ? channels * paddedHeight * paddedWidth : 0) + kernelSize * lanes
    }

    /// Weights [outChannels][kernelSize] (row-major, as Caffe stores them) rearranged into the
    /// tiles the register kernel reads: for each tile of channels, [k][channel]. (The AVX-512
    /// build's tiles and scratch follow its own block width.)
    public func packWeights(_ weights: UnsafePointer<Float>) -> [Float] {
        #if !AVX512_TWIN
        if let wide { return wide.packWeights(weights) }
        #endif
        return packRows(weights, count: outChannels, k: kernelSize, tiles: channelTiles)
    }

    /// Blocks of output positions: the unit `run` can split an image by.
    public var blockCount: Int {
        #if !AVX512_TWIN
        if let wide { return wide.blockCount }
        #endif
        return blocks.count
    }

    /// The output positions (offsets into each output channel's plane) of `blocks`.
    public func positions(ofBlocks range: Range<Int>) -> Range<Int> {
        #if !AVX512_TWIN
        if let wide { return wide.positions(ofBlocks: range) }
        #endif
        return min(positions, range.lowerBound * lanes)..<min(positions, range.upperBound * lanes)
    }

    /// Convolves one image's group: `input` [channels][height][width], `output` [outChannels][positions].
    /// - Parameters:
    ///   - packedWeights: from `packWeights`.
    ///   - scratch: at least `scratchCount` floats, owned by the calling worker.
    ///   - blocks: only these blocks of positions (default all): one core's share of an image.
    public func run(input: UnsafePointer<Float>, packedWeights: UnsafePointer<Float>, bias: UnsafePointer<Float>?,
                    output: UnsafeMutablePointer<Float>, scratch: UnsafeMutablePointer<Float>, blocks: Range<Int>? = nil) {
        #if !AVX512_TWIN
        if let wide {
            return wide.run(input: input, packedWeights: packedWeights, bias: bias, output: output, scratch: scratch, blocks: blocks)
        }
        #endif
        let blocks = blocks ?? 0..<self.blocks.count
        let padded = padH > 0 || padW > 0
        let source = padded ? UnsafePointer(scratch) : input
        let panel = padded ? scratch + channels * paddedHeight * paddedWidth : scratch
        if padded { copyPadded(input, into: scratch) }
        if lanes == 16 {
            runBlocks(SIMD16<Float>.self, blocks, source, panel, packedWeights, bias, output)
        } else {
            runBlocks(SIMD8<Float>.self, blocks, source, panel, packedWeights, bias, output)
        }
    }

    @inline(__always)
    func runBlocks<V: SIMD>(_: V.Type, _ range: Range<Int>, _ source: UnsafePointer<Float>, _ panel: UnsafeMutablePointer<Float>,
                            _ packedWeights: UnsafePointer<Float>, _ bias: UnsafePointer<Float>?,
                            _ output: UnsafeMutablePointer<Float>) where V.Scalar == Float {
        // The source is the padded copy or the unpadded input: channels x paddedHeight x paddedWidth either way.
        let sourceEnd = source + channels * paddedHeight * paddedWidth
        patchOffsets.withUnsafeBufferPointer { offsets in
            for block in range {
                let runs = blocks[block]
                let first = block * lanes
                let count = min(lanes, positions - first)
                if runs.count == 1, runs[0].length == lanes, strideW == 1 {
                    // Neighbours on one output row: each element's cells are already contiguous.
                    multiplyTiles(InputColumns<V>(origin: source + runs[0].origin, offsets: offsets.baseAddress!),
                                  packedWeights, bias, output + first, count)
                } else {
                    gatherPanel(source, runs: runs, count: count, into: panel, sourceEnd: sourceEnd)
                    multiplyTiles(PanelColumns<V>(base: panel), packedWeights, bias, output + first, count)
                }
            }
        }
    }

    /// Every channel tile for one block of `count` positions starting at `output`.
    @inline(__always)
    func multiplyTiles<C: Columns>(_ columns: C, _ packedWeights: UnsafePointer<Float>, _ bias: UnsafePointer<Float>?,
                                   _ output: UnsafeMutablePointer<Float>, _ count: Int) {
        multiplyChannelTiles(channelTiles, elements: kernelSize, columns, packedWeights, bias, output, rowStride: positions, count: count)
    }

    /// The input with its zero border, so every patch element is a plain load.
    func copyPadded(_ input: UnsafePointer<Float>, into padded: UnsafeMutablePointer<Float>) {
        let ph = paddedHeight, pw = paddedWidth
        padded.initialize(repeating: 0, count: channels * ph * pw)
        for c in 0..<channels {
            for y in 0..<height {
                copyRow(input + (c * height + y) * width, to: padded + (c * ph + y + padH) * pw + padW, count: width)
            }
        }
    }

    /// panel[k][lane] = input cell of patch element k for the block's position `lane`; lanes past
    /// `count` are zero.
    /// - Parameter sourceEnd: the end of `source`'s floats: a vector read stays below it.
    func gatherPanel(_ source: UnsafePointer<Float>, runs: [Run], count: Int, into panel: UnsafeMutablePointer<Float>,
                     sourceEnd: UnsafePointer<Float>) {
        if count < lanes { panel.initialize(repeating: 0, count: kernelSize * lanes) }
        patchOffsets.withUnsafeBufferPointer { offsets in
            for k in 0..<offsets.count {
                let row = panel + k * lanes
                for run in runs {
                    let src = source + run.origin + offsets[k]
                    let dst = row + run.lane
                    if strideW == 1 {
                        copyRow(src, to: dst, count: run.length)
                    } else if strideW == 2, run.length == 16, src + 32 <= sourceEnd {
                        storeEvenCells(SIMD32<Float>.self, src, dst)
                    } else if strideW == 2, run.length == 8, src + 16 <= sourceEnd {
                        storeEvenCells(SIMD16<Float>.self, src, dst)
                    } else {
                        for i in 0..<run.length { dst[i] = src[i * strideW] }
                    }
                }
            }
        }
    }

    /// Stride 2: every other cell of a row, read as one vector twice as long and split.
    @inline(__always)
    func storeEvenCells<Row: Deinterleaving>(_: Row.Type, _ src: UnsafePointer<Float>, _ dst: UnsafeMutablePointer<Float>) {
        UnsafeMutableRawPointer(dst).storeBytes(of: UnsafeRawPointer(src).loadUnaligned(as: Row.self).evenHalf, as: Row.Half.self)
    }

}

/// out[channel][0..<count] (rows `rowStride` apart) = bias[channel] + the sum over elements e of
/// weights[e][channel] * columns[e], for every channel tile; `packedWeights` holds the tiles one
/// after another, each [element][channel] (see `packWeights`).
@available(macOS 26, *)
@inline(__always)
func multiplyChannelTiles<C: Columns>(_ channelTiles: [Range<Int>], elements k: Int, _ columns: C, _ packedWeights: UnsafePointer<Float>,
                                      _ bias: UnsafePointer<Float>?, _ output: UnsafeMutablePointer<Float>, rowStride: Int, count: Int) {
    var weights = packedWeights
    for tile in channelTiles {
        let out = output + tile.lowerBound * rowStride
        let tileBias = bias.map { $0 + tile.lowerBound }
        switch tile.count {
        case 16: accumulate(InlineArray<16, C.Vector>.self, k, weights, columns, tileBias, out, rowStride, count)
        case 15: accumulate(InlineArray<15, C.Vector>.self, k, weights, columns, tileBias, out, rowStride, count)
        case 14: accumulate(InlineArray<14, C.Vector>.self, k, weights, columns, tileBias, out, rowStride, count)
        case 13: accumulate(InlineArray<13, C.Vector>.self, k, weights, columns, tileBias, out, rowStride, count)
        case 12: accumulate(InlineArray<12, C.Vector>.self, k, weights, columns, tileBias, out, rowStride, count)
        case 11: accumulate(InlineArray<11, C.Vector>.self, k, weights, columns, tileBias, out, rowStride, count)
        case 10: accumulate(InlineArray<10, C.Vector>.self, k, weights, columns, tileBias, out, rowStride, count)
        case 9: accumulate(InlineArray<9, C.Vector>.self, k, weights, columns, tileBias, out, rowStride, count)
        case 8: accumulate(InlineArray<8, C.Vector>.self, k, weights, columns, tileBias, out, rowStride, count)
        case 7: accumulate(InlineArray<7, C.Vector>.self, k, weights, columns, tileBias, out, rowStride, count)
        case 6: accumulate(InlineArray<6, C.Vector>.self, k, weights, columns, tileBias, out, rowStride, count)
        case 5: accumulate(InlineArray<5, C.Vector>.self, k, weights, columns, tileBias, out, rowStride, count)
        case 4: accumulate(InlineArray<4, C.Vector>.self, k, weights, columns, tileBias, out, rowStride, count)
        case 3: accumulate(InlineArray<3, C.Vector>.self, k, weights, columns, tileBias, out, rowStride, count)
        case 2: accumulate(InlineArray<2, C.Vector>.self, k, weights, columns, tileBias, out, rowStride, count)
        default: accumulate(InlineArray<1, C.Vector>.self, k, weights, columns, tileBias, out, rowStride, count)
        }
        weights += tile.count * k
    }
}

/// Rows of sixteen-float accumulators the register loop keeps: each is two of AVX2's sixteen
/// registers (six rows leave room for the column and the broadcast), one of AVX-512's thirty-two
/// (sixteen rows: more multiply-adds per column loaded, and one call per point for 16 channels,
/// where twelve took two; measured 5% faster on cifar10_quick and cifar10_full on one core).
#if AVX512_TWIN
let sixteenLaneTileRows = 16
#else
let sixteenLaneTileRows = 6
#endif

/// Output channels in register tiles of at most `maxTile`, sizes balanced; with `evenCount`, an
/// even number of tiles where there are several, so two cores can take equal shares.
func balancedTiles(_ count: Int, maxTile: Int, evenCount: Bool = false) -> [Range<Int>] {
    var tileCount = (count + maxTile - 1) / maxTile
    if evenCount, tileCount > 1, tileCount % 2 == 1 { tileCount += 1 }
    return (0..<tileCount).map { ($0 * count / tileCount)..<(($0 + 1) * count / tileCount) }
}

/// Rows [count][k] (row-major) rearranged into channel tiles, each [k][tile.count].
func packRows(_ rows: UnsafePointer<Float>, count: Int, k: Int, tiles: [Range<Int>]) -> [Float] {
    var packed = [Float](repeating: 0, count: count * k)
    var offset = 0
    for tile in tiles {
        for kk in 0..<k {
            for r in 0..<tile.count { packed[offset + kk * tile.count + r] = rows[(tile.lowerBound + r) * k + kk] }
        }
        offset += tile.count * k
    }
    return packed
}

/// One register tile: out[r][0..<count] = the sum over elements e of weights[e][r] * columns[e]
/// (from zero, in order), plus bias[r]. Out of line, so the accumulators live only in registers:
/// inlined into its callers, whose indexing kept them in memory, they were stored on every
/// iteration. (Returned by value instead, the sums, twelve vectors of sixteen, came back through a
/// memmove call.)
@available(macOS 26, *)
@inline(never)
func accumulate<let R: Int, C: Columns>(_: InlineArray<R, C.Vector>.Type, _ elements: Int, _ weights: UnsafePointer<Float>,
                                         _ columns: C, _ bias: UnsafePointer<Float>?,
                                         _ out: UnsafeMutablePointer<Float>, _ rowStride: Int, _ count: Int) {
    // Not `InlineArray(repeating:)`: for sixteen rows that became an out-of-line call on every
    // tile (10% of ResNet-20's time on one core); the closure form is inlined.
    var acc = InlineArray<R, C.Vector> { _ in C.Vector() }
    var w = weights
    for e in 0..<elements {
        let column = columns[e]
        for r in 0..<R { acc[r] = acc[r].addingProduct(C.Vector(repeating: w[r]), column) }
        w += R
    }
    for r in 0..<R {
        var value = acc[r]
        if let bias { value += C.Vector(repeating: bias[r]) }
        let row = out + r * rowStride
        if count == C.Vector.scalarCount {
            UnsafeMutableRawPointer(row).storeBytes(of: value, as: C.Vector.self)
        } else {
            for i in 0..<count { row[i] = value[i] }
        }
    }
}

/// Where the register loop finds patch element e's input cells, one per lane.
protocol Columns {
    associatedtype Vector: SIMD where Vector.Scalar == Float
    subscript(_ element: Int) -> Vector { get }
}

/// A gathered panel, [element][lanes].
struct PanelColumns<Vector: SIMD>: Columns where Vector.Scalar == Float {
    let base: UnsafePointer<Float>
    @inline(__always)
    subscript(_ element: Int) -> Vector { UnsafeRawPointer(base + element * Vector.scalarCount).loadUnaligned(as: Vector.self) }
}

/// The input itself, when every element's cells for the block are contiguous.
struct InputColumns<Vector: SIMD>: Columns where Vector.Scalar == Float {
    let origin: UnsafePointer<Float>
    let offsets: UnsafePointer<Int>
    @inline(__always)
    subscript(_ element: Int) -> Vector { UnsafeRawPointer(origin + offsets[element]).loadUnaligned(as: Vector.self) }
}

/// Copies `count` floats with vector moves: the rows copied here are short (8 to 32 floats),
/// where a memmove call costs more than the copy.
@inline(__always)
func copyRow(_ source: UnsafePointer<Float>, to destination: UnsafeMutablePointer<Float>, count: Int) {
    var i = 0
    while i + 8 <= count {
        UnsafeMutableRawPointer(destination + i).storeBytes(
            of: UnsafeRawPointer(source + i).loadUnaligned(as: SIMD8<Float>.self), as: SIMD8<Float>.self)
        i += 8
    }
    while i < count { destination[i] = source[i]; i += 1 }
}
