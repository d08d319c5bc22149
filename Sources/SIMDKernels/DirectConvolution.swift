/// Convolution without an im2col matrix: 16 output positions at a time, their input patches are
/// gathered into a small panel ([K][16], in cache) and multiplied with tiles of up to six output
/// channels held in vector registers.
///
/// This module is compiled for AVX2 + FMA on x86-64 (see Package.swift); callers must check
/// `DirectConvolution.isSupported` first. Each output is `(sum over k of w * x) + bias`, the
/// sum fused-multiply-added in k order (channel, ky, kx) as one running value.
@available(macOS 26, *)
public struct DirectConvolution: Sendable {
    public let channels, height, width: Int
    public let outChannels, outHeight, outWidth: Int
    public let kernelHeight, kernelWidth: Int
    public let strideH, strideW, padH, padW, dilationH, dilationW: Int

    /// Inputs per output value (channel x kernel height x kernel width).
    public var kernelSize: Int { channels * kernelHeight * kernelWidth }
    var paddedHeight: Int { height + 2 * padH }
    var paddedWidth: Int { width + 2 * padW }
    var positions: Int { outHeight * outWidth }

    /// One group's geometry: `channels` and `outChannels` are the group's own counts.
    public init(channels: Int, height: Int, width: Int, outChannels: Int, outHeight: Int, outWidth: Int,
                kernel: (h: Int, w: Int), stride: (h: Int, w: Int), pad: (h: Int, w: Int), dilation: (h: Int, w: Int)) {
        self.channels = channels; self.height = height; self.width = width
        self.outChannels = outChannels; self.outHeight = outHeight; self.outWidth = outWidth
        (kernelHeight, kernelWidth) = kernel
        (strideH, strideW) = stride
        (padH, padW) = pad
        (dilationH, dilationW) = dilation
    }

    /// Floats of scratch memory one worker needs for `run`.
    public var scratchCount: Int { (padH > 0 || padW > 0 ? channels * paddedHeight * paddedWidth : 0) + kernelSize * lanes }

    /// Weights [outChannels][kernelSize] (row-major, as Caffe stores them) rearranged into the
    /// tiles the register kernel reads: for each tile of up to six channels, [k][channel].
    public func packWeights(_ weights: UnsafePointer<Float>) -> [Float] {
        let k = kernelSize
        var packed = [Float](repeating: 0, count: outChannels * k)
        var offset = 0
        for tile in channelTiles {
            for kk in 0..<k {
                for r in 0..<tile.count { packed[offset + kk * tile.count + r] = weights[(tile.lowerBound + r) * k + kk] }
            }
            offset += tile.count * k
        }
        return packed
    }

    /// Output channels in tiles of six (twelve accumulators), the remainder as one smaller tile.
    var channelTiles: [Range<Int>] {
        stride(from: 0, to: outChannels, by: maxTile).map { $0..<min($0 + maxTile, outChannels) }
    }

    /// Convolves one image's group: `input` [channels][height][width], `output` [outChannels][positions].
    /// - Parameters:
    ///   - packedWeights: from `packWeights`.
    ///   - scratch: at least `scratchCount` floats, owned by the calling worker.
    public func run(input: UnsafePointer<Float>, packedWeights: UnsafePointer<Float>, bias: UnsafePointer<Float>?,
                    output: UnsafeMutablePointer<Float>, scratch: UnsafeMutablePointer<Float>) {
        let padded = padH > 0 || padW > 0
        let source = padded ? UnsafePointer(scratch) : input
        let panel = padded ? scratch + channels * paddedHeight * paddedWidth : scratch
        if padded { copyPadded(input, into: scratch) }
        let offsets = patchOffsets
        let tiles = channelTiles
        let k = kernelSize
        var first = 0
        while first < positions {
            let count = min(lanes, positions - first)
            gatherPanel(source, offsets: offsets, firstPosition: first, count: count, into: panel)
            var weights = packedWeights
            for tile in tiles {
                let out = output + tile.lowerBound * positions + first
                let tileBias = bias.map { $0 + tile.lowerBound }
                switch tile.count {
                case 6: multiply(InlineArray<6, Vector>(repeating: .zero), k, weights, panel, tileBias, out, positions, count)
                case 5: multiply(InlineArray<5, Vector>(repeating: .zero), k, weights, panel, tileBias, out, positions, count)
                case 4: multiply(InlineArray<4, Vector>(repeating: .zero), k, weights, panel, tileBias, out, positions, count)
                case 3: multiply(InlineArray<3, Vector>(repeating: .zero), k, weights, panel, tileBias, out, positions, count)
                case 2: multiply(InlineArray<2, Vector>(repeating: .zero), k, weights, panel, tileBias, out, positions, count)
                default: multiply(InlineArray<1, Vector>(repeating: .zero), k, weights, panel, tileBias, out, positions, count)
                }
                weights += tile.count * k
            }
            first += count
        }
    }

    /// Offset of each patch element (channel, ky, kx) from a position's top-left input cell.
    var patchOffsets: [Int] {
        var offsets: [Int] = []
        offsets.reserveCapacity(kernelSize)
        for c in 0..<channels {
            for ky in 0..<kernelHeight {
                for kx in 0..<kernelWidth {
                    offsets.append((c * paddedHeight + ky * dilationH) * paddedWidth + kx * dilationW)
                }
            }
        }
        return offsets
    }

    /// The input with its zero border, so every patch element is a plain load.
    func copyPadded(_ input: UnsafePointer<Float>, into padded: UnsafeMutablePointer<Float>) {
        let ph = paddedHeight, pw = paddedWidth
        padded.initialize(repeating: 0, count: channels * ph * pw)
        for c in 0..<channels {
            for y in 0..<height {
                (padded + (c * ph + y + padH) * pw + padW).update(from: input + (c * height + y) * width, count: width)
            }
        }
    }

    /// panel[k][lane] = input cell of patch element k for output position first + lane; lanes past
    /// `count` are zero.
    func gatherPanel(_ source: UnsafePointer<Float>, offsets: [Int], firstPosition first: Int, count: Int,
                     into panel: UnsafeMutablePointer<Float>) {
        // The block's positions as runs along one output row: (first lane, length, input offset).
        var runs: [(lane: Int, length: Int, origin: Int)] = []
        var lane = 0
        while lane < count {
            let oy = (first + lane) / outWidth, ox = (first + lane) % outWidth
            let length = min(count - lane, outWidth - ox)
            runs.append((lane, length, oy * strideH * paddedWidth + ox * strideW))
            lane += length
        }
        if count < lanes { panel.initialize(repeating: 0, count: kernelSize * lanes) }
        offsets.withUnsafeBufferPointer { offsets in
            if runs.count == 1, runs[0].length == lanes, strideW == 1 {
                let origin = source + runs[0].origin
                for k in 0..<offsets.count {
                    UnsafeMutableRawPointer(panel + k * lanes)
                        .storeBytes(of: UnsafeRawPointer(origin + offsets[k]).loadUnaligned(as: Vector.self), as: Vector.self)
                }
                return
            }
            for k in 0..<offsets.count {
                let row = panel + k * lanes
                for run in runs {
                    let src = source + run.origin + offsets[k]
                    for i in 0..<run.length { row[run.lane + i] = src[i * strideW] }
                }
            }
        }
    }

    public static let lanes = 16
    var lanes: Int { Self.lanes }
    var maxTile: Int { 6 }
}

typealias Vector = SIMD16<Float>

/// One register tile: out[r][0..<count] = bias[r] + sum over k of weights[k][r] * panel[k][0..<16].
@available(macOS 26, *)
@inline(__always)
func multiply<let R: Int>(_ accumulators: InlineArray<R, Vector>, _ k: Int, _ weights: UnsafePointer<Float>,
                          _ panel: UnsafePointer<Float>, _ bias: UnsafePointer<Float>?,
                          _ out: UnsafeMutablePointer<Float>, _ rowStride: Int, _ count: Int) {
    var acc = accumulators
    var w = weights, b = panel
    for _ in 0..<k {
        let column = UnsafeRawPointer(b).loadUnaligned(as: Vector.self)
        for r in 0..<R { acc[r] = acc[r].addingProduct(Vector(repeating: w[r]), column) }
        w += R
        b += Vector.scalarCount
    }
    for r in 0..<R {
        let value = bias.map { acc[r] + Vector(repeating: $0[r]) } ?? acc[r]
        let row = out + r * rowStride
        if count == Vector.scalarCount {
            UnsafeMutableRawPointer(row).storeBytes(of: value, as: Vector.self)
        } else {
            for i in 0..<count { row[i] = value[i] }
        }
    }
}
