#if !AVX512_TWIN
import SIMDKernelsAVX512
#endif

/// Stride-1 convolution by Winograd's minimal filtering F(m x m, r x r) (Lavin and Gray, "Fast
/// Algorithms for Convolutional Neural Networks", 2016): each m x m tile of outputs is
/// Aᵀ [(G g Gᵀ) ⊙ (Bᵀ d B)] A for the tile's n x n inputs d (n = m + r - 1), so a tile costs n²
/// multiplications per channel pair instead of m² r² (F(4x4, 3x3): 36 instead of 144).
///
/// Tiles are processed sixteen at a time, one per vector lane, and may come from different images,
/// so small feature maps still fill the lanes. The element-wise products become n² small matrix
/// products (output channels x input channels by input channels x 16 tiles), done by the same
/// register kernel as the direct convolution.
///
/// Summation order: each output is a fixed linear combination (Aᵀ's row, then column) of n²
/// partial sums, each of which adds the input channels in order with fused multiply-adds; the
/// bias is added last. The transforms are exact in real arithmetic; in float32 the result differs
/// from the plain sum by a few units in the last place of the products' magnitude (the
/// interpolation points 0, ±1, ±2, ±1/2 keep the transform coefficients small).
@available(macOS 26, *)
public struct WinogradConvolution: Sendable {
    #if !AVX512_TWIN
    /// The same kernel built for AVX-512 (vectors of sixteen in one register), when asked for.
    let wide: SIMDKernelsAVX512.WinogradConvolution?
    #endif

    typealias Vector = SIMD16<Float>
    static let lanes = 16

    public let channels, height, width: Int
    public let outChannels, outHeight, outWidth: Int
    /// The square kernel's side (r).
    public let kernel: Int
    public let padH, padW: Int
    /// Outputs per tile side (m).
    public let tile = 4
    /// Inputs per tile side (n = m + r - 1).
    let span: Int
    let tilesY, tilesX: Int
    /// G (n x r), applied once to the weights.
    let filterTransform: [[Double]]
    let channelTiles: [Range<Int>]

    /// Whether the algorithm applies: a square 3x3 or 5x5 kernel, stride 1, no dilation.
    public static func applies(kernel: (h: Int, w: Int), stride: (h: Int, w: Int), dilation: (h: Int, w: Int)) -> Bool {
        kernel.h == kernel.w && (kernel.h == 3 || kernel.h == 5) && stride == (1, 1) && dilation == (1, 1)
    }

    /// One group's geometry (the caller checks `applies`).
    public init(channels: Int, height: Int, width: Int, outChannels: Int, outHeight: Int, outWidth: Int,
                kernel: Int, pad: (h: Int, w: Int), wide: Bool = false) {
        self.channels = channels; self.height = height; self.width = width
        self.outChannels = outChannels; self.outHeight = outHeight; self.outWidth = outWidth
        self.kernel = kernel
        (padH, padW) = pad
        span = tile + kernel - 1
        tilesY = (outHeight + tile - 1) / tile
        tilesX = (outWidth + tile - 1) / tile
        filterTransform = (kernel == 3 ? WinogradMatrices.f4x3 : WinogradMatrices.f4x5).filterTransform
        channelTiles = balancedTiles(outChannels, maxTile: sixteenLaneTileRows, evenCount: true)
        #if !AVX512_TWIN
        self.wide = wide ? SIMDKernelsAVX512.WinogradConvolution(
            channels: channels, height: height, width: width, outChannels: outChannels, outHeight: outHeight,
            outWidth: outWidth, kernel: kernel, pad: pad) : nil
        #endif
    }

    public var tilesPerImage: Int { tilesY * tilesX }

    /// Estimated time against the direct convolution's for `images` images at once, to decide
    /// which to use. Per sixteen tiles, vector multiply-adds: n² per channel pair here (plus the
    /// equivalent of ten input channels per product for its loop and stores, which dominate with
    /// few channels), 16 r² per channel pair there. The overhead, per input channel: 16 n² scalar
    /// moves into lanes (2 n² vector operations for whole tile rows, see `vectorRows`) and about
    /// 4 n² transform operations; per output channel: about 10 n transform operations and 256
    /// scalar moves out (32 vector operations). It weighs 2.5 times its count (fitted to
    /// ResNet-20's layers, where the ratio measured 1.3, 0.7 and 0.44 for 16, 32 and 64
    /// channels). Lanes left empty in the last block (few tiles: one small image) cost as much as
    /// full ones.
    public func costRatio(images: Int) -> Double {
        let n = Double(span), c = Double(channels), m = Double(outChannels)
        let moves = vectorRows ? (2 * n * n, 32.0) : (16 * n * n, 256.0)  // (per input channel, per output channel)
        let overhead = (moves.0 + 4 * n * n) * c + (10 * n + moves.1) * m
        let tiles = images * tilesPerImage, blocks = (tiles + Self.lanes - 1) / Self.lanes
        let fill = Double(tiles) / Double(blocks * Self.lanes)
        return (n * n * (c + 10) * m + 2.5 * overhead) / (16 * Double(kernel * kernel) * c * m) / fill
    }

    /// Rows of 2, 4 or 8 whole tiles (outputs 8, 16 or 32 wide, height a multiple of 4): every
    /// full block of sixteen is whole tile rows, gathered and scattered with vector loads, stores
    /// and shuffles instead of one value at a time.
    var vectorRows: Bool { [2, 4, 8].contains(tilesX) && outWidth == tile * tilesX && outHeight % tile == 0 }

    /// Images padded together, so that their tiles fill a few lane blocks.
    var chunkImages: Int { max(1, (4 * Self.lanes + tilesPerImage - 1) / tilesPerImage) }
    /// The padded plane: the image at (padH, padW), zeros around it and under the last tiles.
    var paddedHeight: Int { tilesY * tile + kernel - 1 }
    var paddedWidth: Int { tilesX * tile + kernel - 1 }

    /// Floats of scratch memory one worker needs for `run`.
    public var scratchCount: Int {
        let n2 = span * span
        // (The tile-row gather reads up to 8 floats past a padded plane's last row.)
        return chunkImages * channels * paddedHeight * paddedWidth + 8 + (2 * n2 + n2 * channels + n2 * outChannels + tile * tile) * Self.lanes
    }

    /// Weights [outChannels][channels][r][r] (Caffe's layout) transformed to G g Gᵀ, and for each
    /// of the n² points laid out as the register kernel's channel tiles ([channel][output channel]);
    /// the AVX-512 build's tiles are its own.
    public func transformWeights(_ weights: UnsafePointer<Float>) -> [Float] {
        #if !AVX512_TWIN
        if let wide { return wide.transformWeights(weights) }
        #endif
        let n = span, r = kernel, g = filterTransform
        let n2 = n * n, pairs = outChannels * channels
        var transformed = [Float](repeating: 0, count: n2 * pairs)  // [point][outChannel][channel]
        var half = [Double](repeating: 0, count: n * r)
        for pair in 0..<pairs {
            let w = weights + pair * r * r
            for i in 0..<n {
                for l in 0..<r {
                    var sum = 0.0
                    for k in 0..<r { sum += g[i][k] * Double(w[k * r + l]) }
                    half[i * r + l] = sum
                }
            }
            for i in 0..<n {
                for j in 0..<n {
                    var sum = 0.0
                    for l in 0..<r { sum += half[i * r + l] * g[j][l] }
                    transformed[(i * n + j) * pairs + pair] = Float(sum)
                }
            }
        }
        return transformed.withUnsafeBufferPointer { rows in
            (0..<n2).flatMap { packRows(rows.baseAddress! + $0 * pairs, count: outChannels, k: channels, tiles: channelTiles) }
        }
    }

    /// Convolves `images` consecutive images: `input` [images][channels][height][width],
    /// `output` [images][outChannels][outHeight][outWidth].
    /// - Parameters:
    ///   - packedWeights: from `transformWeights`.
    ///   - scratch: at least `scratchCount` floats, owned by the calling worker.
    ///   - epilogue: per-channel layers applied to each output after the bias.
    ///   - tiles: only the output channels of these register tiles (default all): one core's share
    ///     of the images (each share transforms the inputs itself).
    public func run(images: Int, input: UnsafePointer<Float>, packedWeights: UnsafePointer<Float>, bias: UnsafePointer<Float>?,
                    output: UnsafeMutablePointer<Float>, scratch: UnsafeMutablePointer<Float>, epilogue: ChannelEpilogue? = nil,
                    tiles: Range<Int>? = nil) {
        #if !AVX512_TWIN
        if let wide {
            return wide.run(images: images, input: input, packedWeights: packedWeights, bias: bias, output: output, scratch: scratch,
                            epilogue: epilogue.map(\.wideTwin), tiles: tiles)
        }
        #endif
        let tiles = Array(channelTiles[tiles ?? channelTiles.indices])
        if kernel == 3 {
            runBlocks(F4x3.self, images, input, packedWeights, bias, output, scratch, epilogue, tiles)
        } else {
            runBlocks(F4x5.self, images, input, packedWeights, bias, output, scratch, epilogue, tiles)
        }
    }

    /// Register tiles of output channels: the unit `run` can split the work by.
    public var channelTileCount: Int {
        #if !AVX512_TWIN
        if let wide { return wide.channelTileCount }
        #endif
        return channelTiles.count
    }

    @inline(__always)
    func runBlocks<T: TileTransform>(_: T.Type, _ images: Int, _ input: UnsafePointer<Float>, _ packedWeights: UnsafePointer<Float>,
                                     _ bias: UnsafePointer<Float>?, _ output: UnsafeMutablePointer<Float>,
                                     _ scratch: UnsafeMutablePointer<Float>, _ epilogue: ChannelEpilogue?, _ tiles: [Range<Int>]) {
        let lanes = Self.lanes, n = T.span, n2 = n * n
        let padded = scratch, paddedPlane = paddedHeight * paddedWidth
        let gathered = padded + chunkImages * channels * paddedPlane + 8, temporary = gathered + n2 * lanes
        let transformedInput = temporary + n2 * lanes
        let products = transformedInput + n2 * channels * lanes
        let tileOutput = products + n2 * outChannels * lanes
        let outPlane = outHeight * outWidth
        let firstChannel = tiles.first?.lowerBound ?? 0, channelRange = firstChannel..<(tiles.last?.upperBound ?? 0)
        let clipped = outHeight % tile != 0 || outWidth % tile != 0
        let vectorRows = self.vectorRows
        var laneInput = InlineArray<16, Int>(repeating: 0), laneOutput = InlineArray<16, Int>(repeating: 0)
        var laneTile = InlineArray<16, Int>(repeating: 0)
        padded.initialize(repeating: 0, count: min(chunkImages, images) * channels * paddedPlane)
        for chunkStart in stride(from: 0, to: images, by: chunkImages) {
            let chunk = min(chunkImages, images - chunkStart)
            pad(input + chunkStart * channels * height * width, images: chunk, into: padded)
            let total = chunk * tilesPerImage
            for first in stride(from: 0, to: total, by: lanes) {
                let count = min(lanes, total - first)
                for lane in 0..<count {
                    let image = (first + lane) / tilesPerImage, t = (first + lane) % tilesPerImage
                    let ty = t / tilesX, tx = t % tilesX
                    laneTile[lane] = t
                    laneInput[lane] = image * channels * paddedPlane + ty * tile * paddedWidth + tx * tile
                    laneOutput[lane] = (chunkStart + image) * outChannels * outPlane + ty * tile * outWidth + tx * tile
                }
                let wholeRows = vectorRows && count == lanes
                if !wholeRows, count < lanes { gathered.initialize(repeating: 0, count: n2 * lanes) }
                switch wholeRows ? tilesX : 0 {
                case 8: transformInputs(T.self, SIMD32<Float>.self, padded, laneInput, count, wholeRows: true, gathered, temporary, transformedInput)
                case 4: transformInputs(T.self, SIMD16<Float>.self, padded, laneInput, count, wholeRows: true, gathered, temporary, transformedInput)
                case 2: transformInputs(T.self, SIMD8<Float>.self, padded, laneInput, count, wholeRows: true, gathered, temporary, transformedInput)
                default: transformInputs(T.self, SIMD8<Float>.self, padded, laneInput, count, wholeRows: false, gathered, temporary, transformedInput)
                }
                for point in 0..<n2 {
                    multiplyChannelTiles(tiles, elements: channels, PanelColumns<Vector>(base: transformedInput + point * channels * lanes),
                                         packedWeights + (point * outChannels + firstChannel) * channels, nil,
                                         products + point * outChannels * lanes,
                                         rowStride: lanes, count: lanes)
                }
                let pointStride = outChannels * lanes
                for m in channelRange {
                    let b = Vector(repeating: bias?[m] ?? 0), source = products + m * lanes
                    // Aᵀ P A: columns first (row a of the result in rows[a]), then rows, in registers.
                    var rows = InlineArray<4, InlineArray<8, Vector>>(repeating: InlineArray(repeating: Vector()))
                    for j in 0..<n {
                        let column = T.output(InlineArray { i in i < n ? load(source + (i * n + j) * pointStride) : Vector() })
                        for a in 0..<4 { rows[a][j] = column[a] }
                    }
                    for a in 0..<4 {
                        let row = T.output(rows[a])
                        for k in 0..<4 { store(row[k] + b, tileOutput + (a * 4 + k) * lanes) }
                    }
                    epilogue?.apply(tileOutput, count: 16 * lanes, channel: m)
                    let plane = output + m * outPlane
                    if vectorRows, count == lanes {
                        switch tilesX {
                        case 8: scatterTileRows(SIMD32<Float>.self, tileOutput, plane, laneOutput)
                        case 4: scatterTileRows(SIMD16<Float>.self, tileOutput, plane, laneOutput)
                        default: scatterTileRows(SIMD8<Float>.self, tileOutput, plane, laneOutput)
                        }
                        continue
                    }
                    for lane in 0..<count {
                        let origin = plane + laneOutput[lane]
                        if clipped {
                            let t = laneTile[lane], rows = min(tile, outHeight - t / tilesX * tile), columns = min(tile, outWidth - t % tilesX * tile)
                            for a in 0..<rows {
                                for k in 0..<columns { origin[a * outWidth + k] = tileOutput[(a * 4 + k) * lanes + lane] }
                            }
                        } else {
                            for a in 0..<4 {
                                for k in 0..<4 { origin[a * outWidth + k] = tileOutput[(a * 4 + k) * lanes + lane] }
                            }
                        }
                    }
                }
            }
        }
    }

    /// Bᵀ d B for every channel of a block: transformedInput[point][channel][lane]. Each input row u
    /// of the lanes' tiles is transformed across its columns (into temporary[u][j]), then each column
    /// j down its rows.
    /// - Parameter wholeRows: the block is whole tile rows, each `Segment` wide, read straight from
    ///   the padded planes; otherwise each channel's tiles are first copied one value at a time into
    ///   `gathered` (lanes past `count` stay zero).
    @inline(__always)
    func transformInputs<T: TileTransform, Segment: TileRowSegment>(
        _: T.Type, _: Segment.Type, _ padded: UnsafePointer<Float>, _ laneInput: InlineArray<16, Int>, _ count: Int, wholeRows: Bool,
        _ gathered: UnsafeMutablePointer<Float>, _ temporary: UnsafeMutablePointer<Float>, _ transformedInput: UnsafeMutablePointer<Float>
    ) {
        let lanes = Self.lanes, n = T.span, paddedPlane = paddedHeight * paddedWidth
        for c in 0..<channels {
            let plane = padded + c * paddedPlane
            if !wholeRows {
                for lane in 0..<count {
                    let origin = plane + laneInput[lane]
                    for u in 0..<n {
                        for v in 0..<n { gathered[(u * n + v) * lanes + lane] = origin[u * paddedWidth + v] }
                    }
                }
            }
            for u in 0..<n {
                let row: InlineArray<8, Vector>
                if wholeRows {
                    // Columns 0-3 of each tile from the segments at the tiles' origins, 4-7 from those 4 further on.
                    let line = plane + u * paddedWidth
                    let near = (Segment.group(line, laneInput, firstLane: 0), Segment.group(line, laneInput, firstLane: 8))
                    let far = (Segment.group(line + 4, laneInput, firstLane: 0), Segment.group(line + 4, laneInput, firstLane: 8))
                    row = InlineArray { v in
                        v >= n ? Vector() : v < 4 ? Vector(lowHalf: tileColumn(near.0, v), highHalf: tileColumn(near.1, v))
                                                  : Vector(lowHalf: tileColumn(far.0, v - 4), highHalf: tileColumn(far.1, v - 4))
                    }
                } else {
                    row = InlineArray { v in v < n ? load(gathered + (u * n + v) * lanes) : Vector() }
                }
                let transformed = T.input(row)
                for j in 0..<n { store(transformed[j], temporary + (u * n + j) * lanes) }
            }
            for j in 0..<n {
                let column = T.input(InlineArray { u in u < n ? load(temporary + (u * n + j) * lanes) : Vector() })
                for i in 0..<n { store(column[i], transformedInput + ((i * n + j) * channels + c) * lanes) }
            }
        }
    }

    /// The inverse for the outputs: each output row of a tile row written as one vector.
    @inline(__always)
    func scatterTileRows<Segment: TileRowSegment>(_: Segment.Type, _ tileOutput: UnsafePointer<Float>, _ plane: UnsafeMutablePointer<Float>,
                                                  _ laneOutput: InlineArray<16, Int>) {
        for a in 0..<4 {
            for firstLane in [0, 8] {
                func column(_ k: Int) -> SIMD8<Float> {
                    UnsafeRawPointer(tileOutput + (a * 4 + k) * Self.lanes + firstLane).loadUnaligned(as: SIMD8<Float>.self)
                }
                Segment.store(interleaveTileColumns(column(0), column(1), column(2), column(3)), plane + a * outWidth, laneOutput,
                              firstLane: firstLane)
            }
        }
    }

    /// Copies `images` images into their padded planes, whose borders `run` has zeroed (the
    /// copies never write them, so each run zeroes them once for all its chunks).
    func pad(_ input: UnsafePointer<Float>, images: Int, into padded: UnsafeMutablePointer<Float>) {
        let plane = paddedHeight * paddedWidth
        for p in 0..<(images * channels) {
            for y in 0..<height {
                copyRow(input + (p * height + y) * width, to: padded + p * plane + (y + padH) * paddedWidth + padW, count: width)
            }
        }
    }
}

@inline(__always)
private func load(_ p: UnsafePointer<Float>) -> SIMD16<Float> { UnsafeRawPointer(p).loadUnaligned(as: SIMD16<Float>.self) }
@inline(__always)
private func load(_ p: UnsafeMutablePointer<Float>) -> SIMD16<Float> { UnsafeRawPointer(p).loadUnaligned(as: SIMD16<Float>.self) }
@inline(__always)
private func store(_ value: SIMD16<Float>, _ p: UnsafeMutablePointer<Float>) { UnsafeMutableRawPointer(p).storeBytes(of: value, as: SIMD16<Float>.self) }

/// A vector that splits into its even- and odd-indexed halves: the standard library's
/// `evenHalf` and `oddHalf`, which no standard protocol states.
protocol Deinterleaving: SIMD where Scalar == Float {
    associatedtype Half: SIMD where Half.Scalar == Float
    var evenHalf: Half { get }
    var oddHalf: Half { get }
}

extension SIMD32: Deinterleaving where Scalar == Float {}
extension SIMD16: Deinterleaving where Scalar == Float {}
extension SIMD8: Deinterleaving where Scalar == Float {}
extension SIMD4: Deinterleaving where Scalar == Float {}

/// A row segment of a tile row (2, 4 or 8 tiles of 4 columns: 8, 16 or 32 floats), split into
/// its columns v, v + 4, v + 8, ... (v < 4): one value per tile.
@inline(__always)
func tileColumn<Segment: Deinterleaving>(_ segment: Segment, _ v: Int) -> Segment.Half.Half where Segment.Half: Deinterleaving {
    switch v {
    case 0: segment.evenHalf.evenHalf
    case 1: segment.oddHalf.evenHalf
    case 2: segment.evenHalf.oddHalf
    default: segment.oddHalf.oddHalf
    }
}

/// The inverse of `tileColumn` for eight tiles: the 32 values whose cell 4 i + k is column k's
/// value i, by two rounds of zipping (of floats, then of float pairs).
@inline(__always)
func interleaveTileColumns(_ c0: SIMD8<Float>, _ c1: SIMD8<Float>, _ c2: SIMD8<Float>, _ c3: SIMD8<Float>) -> SIMD32<Float> {
    func pairs(_ v: SIMD16<Float>) -> SIMD8<Double> { unsafeBitCast(v, to: SIMD8<Double>.self) }
    return unsafeBitCast(zipped(pairs(zipped(c0, c1)), pairs(zipped(c2, c3))), to: SIMD32<Float>.self)
}

/// a[0], b[0], a[1], b[1], ...
@inline(__always)
func zipped<Scalar: SIMDScalar>(_ a: SIMD8<Scalar>, _ b: SIMD8<Scalar>) -> SIMD16<Scalar> {
    SIMD16(a[0], b[0], a[1], b[1], a[2], b[2], a[3], b[3], a[4], b[4], a[5], b[5], a[6], b[6], a[7], b[7])
}

/// A row segment of 8, 4 or 2 whole tiles (32, 16 or 8 floats) in a padded plane; a group of such
/// segments holds 32 floats: eight tiles, one half of a block's lanes.
protocol TileRowSegment: Deinterleaving {
    /// The segments of the tiles in lanes firstLane..<firstLane + 8, at `plane + origins[lane]`
    /// (the origin of a segment's first tile), side by side.
    static func group(_ plane: UnsafePointer<Float>, _ origins: InlineArray<16, Int>, firstLane: Int) -> SIMD32<Float>
    /// The inverse: stores the group's segments.
    static func store(_ group: SIMD32<Float>, _ plane: UnsafeMutablePointer<Float>, _ origins: InlineArray<16, Int>, firstLane: Int)
}

extension SIMD32: TileRowSegment where Scalar == Float {
    @inline(__always)
    static func group(_ plane: UnsafePointer<Float>, _ origins: InlineArray<16, Int>, firstLane: Int) -> SIMD32<Float> {
        segment(plane + origins[firstLane])
    }

    @inline(__always)
    static func store(_ group: SIMD32<Float>, _ plane: UnsafeMutablePointer<Float>, _ origins: InlineArray<16, Int>, firstLane: Int) {
        storeSegment(group, plane + origins[firstLane])
    }
}

extension SIMD16: TileRowSegment where Scalar == Float {
    @inline(__always)
    static func group(_ plane: UnsafePointer<Float>, _ origins: InlineArray<16, Int>, firstLane: Int) -> SIMD32<Float> {
        SIMD32(lowHalf: segment(plane + origins[firstLane]), highHalf: segment(plane + origins[firstLane + 4]))
    }

    @inline(__always)
    static func store(_ group: SIMD32<Float>, _ plane: UnsafeMutablePointer<Float>, _ origins: InlineArray<16, Int>, firstLane: Int) {
        storeSegment(group.lowHalf, plane + origins[firstLane])
        storeSegment(group.highHalf, plane + origins[firstLane + 4])
    }
}

extension SIMD8: TileRowSegment where Scalar == Float {
    @inline(__always)
    static func group(_ plane: UnsafePointer<Float>, _ origins: InlineArray<16, Int>, firstLane: Int) -> SIMD32<Float> {
        func pair(_ lane: Int) -> SIMD16<Float> {
            SIMD16(lowHalf: segment(plane + origins[lane]), highHalf: segment(plane + origins[lane + 2]))
        }
        return SIMD32(lowHalf: pair(firstLane), highHalf: pair(firstLane + 4))
    }

    @inline(__always)
    static func store(_ group: SIMD32<Float>, _ plane: UnsafeMutablePointer<Float>, _ origins: InlineArray<16, Int>, firstLane: Int) {
        storeSegment(group.lowHalf.lowHalf, plane + origins[firstLane])
        storeSegment(group.lowHalf.highHalf, plane + origins[firstLane + 2])
        storeSegment(group.highHalf.lowHalf, plane + origins[firstLane + 4])
        storeSegment(group.highHalf.highHalf, plane + origins[firstLane + 6])
    }
}

@inline(__always)
private func segment<Segment: SIMD>(_ p: UnsafePointer<Float>) -> Segment { UnsafeRawPointer(p).loadUnaligned(as: Segment.self) }
@inline(__always)
private func storeSegment<Segment: SIMD>(_ value: Segment, _ p: UnsafeMutablePointer<Float>) {
    UnsafeMutableRawPointer(p).storeBytes(of: value, as: Segment.self)
}

/// The one-dimensional transforms of one F(4, r), written out with their common subexpressions;
/// a test checks them against `WinogradMatrices`.
protocol TileTransform {
    /// n = 4 + r - 1 inputs per tile side (at most 8).
    static var span: Int { get }
    /// Bᵀ d for one line of n values (the first n of eight).
    static func input(_ d: InlineArray<8, SIMD16<Float>>) -> InlineArray<8, SIMD16<Float>>
    /// Aᵀ p for one line of n products: the four outputs.
    static func output(_ p: InlineArray<8, SIMD16<Float>>) -> InlineArray<4, SIMD16<Float>>
}

/// F(4, 3): points 0, ±1, ±2 and infinity.
enum F4x3: TileTransform {
    static var span: Int { 6 }

    @inline(__always)
    static func input(_ d: InlineArray<8, SIMD16<Float>>) -> InlineArray<8, SIMD16<Float>> {
        let a = d[4] - 4 * d[2], b = d[3] - 4 * d[1]  // rows 1, 2
        let c = d[4] - d[2], e = 2 * (d[3] - d[1])    // rows 3, 4
        var out = InlineArray<8, SIMD16<Float>>(repeating: SIMD16())
        out[0] = 4 * d[0] - 5 * d[2] + d[4]
        out[1] = a + b
        out[2] = a - b
        out[3] = c + e
        out[4] = c - e
        out[5] = 4 * d[1] - 5 * d[3] + d[5]
        return out
    }

    @inline(__always)
    static func output(_ p: InlineArray<8, SIMD16<Float>>) -> InlineArray<4, SIMD16<Float>> {
        let s1 = p[1] + p[2], d1 = p[1] - p[2], s2 = p[3] + p[4], d2 = p[3] - p[4]
        var out = InlineArray<4, SIMD16<Float>>(repeating: SIMD16())
        out[0] = p[0] + s1 + s2
        out[1] = d1 + 2 * d2
        out[2] = s1 + 4 * s2
        out[3] = d1 + 8 * d2 + p[5]
        return out
    }
}

/// F(4, 5): points 0, ±1, ±2, ±1/2 and infinity.
enum F4x5: TileTransform {
    static var span: Int { 8 }

    @inline(__always)
    static func input(_ d: InlineArray<8, SIMD16<Float>>) -> InlineArray<8, SIMD16<Float>> {
        let a1 = d[2] - 4.25 * d[4] + d[6], b1 = d[1] - 4.25 * d[3] + d[5]
        let a2 = 0.25 * d[2] - 1.25 * d[4] + d[6], b2 = 0.5 * d[1] - 2.5 * d[3] + 2 * d[5]
        let a3 = 4 * d[2] - 5 * d[4] + d[6], b3 = 2 * d[1] - 2.5 * d[3] + 0.5 * d[5]
        var out = InlineArray<8, SIMD16<Float>>(repeating: SIMD16())
        out[0] = 5.25 * (d[2] - d[4]) + d[6] - d[0]
        out[1] = a1 + b1
        out[2] = a1 - b1
        out[3] = a2 + b2
        out[4] = a2 - b2
        out[5] = a3 + b3
        out[6] = a3 - b3
        out[7] = 5.25 * (d[3] - d[5]) + d[7] - d[1]
        return out
    }

    @inline(__always)
    static func output(_ p: InlineArray<8, SIMD16<Float>>) -> InlineArray<4, SIMD16<Float>> {
        let s1 = p[1] + p[2], d1 = p[1] - p[2], s2 = p[3] + p[4], d2 = p[3] - p[4], s3 = p[5] + p[6], d3 = p[5] - p[6]
        var out = InlineArray<4, SIMD16<Float>>(repeating: SIMD16())
        out[0] = p[0] + s1 + s2 + s3
        out[1] = d1 + 2 * d2 + 0.5 * d3
        out[2] = s1 + 4 * s2 + 0.25 * s3
        out[3] = d1 + 8 * d2 + 0.125 * d3 + p[7]
        return out
    }
}

/// The transforms of F(m, r) by the Cook-Toom construction: Aᵀ and G evaluate polynomials at the
/// points 0, 1, -1, 2, -2, 1/2, -1/2 (as many as needed) and at infinity; Bᵀ is then the unique
/// matrix that makes Aᵀ[(G g) ⊙ (Bᵀ d)] the correlation of d with g, solved for in double precision.
struct WinogradMatrices {
    let outputTransform: [[Double]]  // Aᵀ, m x n
    let filterTransform: [[Double]]  // G, n x r
    let inputTransform: [[Double]]   // Bᵀ, n x n

    /// Made once: the geometry of every layer call uses them.
    static let f4x3 = WinogradMatrices(outputs: 4, kernel: 3)
    static let f4x5 = WinogradMatrices(outputs: 4, kernel: 5)

    init(outputs m: Int, kernel r: Int) {
        let n = m + r - 1
        let points = Array([0, 1, -1, 2, -2, 0.5, -0.5, 3, -3].prefix(n - 1))
        precondition(points.count == n - 1, "F(\(m), \(r)) needs more interpolation points")
        func power(_ x: Double, _ e: Int) -> Double { (0..<e).reduce(1) { value, _ in value * x } }
        var at = [[Double]](repeating: [Double](repeating: 0, count: n), count: m)
        var g = [[Double]](repeating: [Double](repeating: 0, count: r), count: n)
        for (j, p) in points.enumerated() {
            for i in 0..<m { at[i][j] = power(p, i) }
            let denominator = points.filter { $0 != p }.reduce(1) { $0 * (p - $1) }
            for k in 0..<r { g[j][k] = power(p, k) / denominator }
        }
        at[m - 1][n - 1] = 1
        g[n - 1][r - 1] = 1
        // Column j of Bᵀ solves sum over x of Aᵀ[i][x] G[x][k] Bᵀ[x][j] = (j == i + k) for every (i, k):
        // m r equations in n unknowns of full column rank, solved through the normal equations.
        let products = (0..<m).flatMap { i in (0..<r).map { k in (0..<n).map { at[i][$0] * g[$0][k] } } }
        var bt = [[Double]](repeating: [Double](repeating: 0, count: n), count: n)
        for j in 0..<n {
            let target = (0..<m).flatMap { i in (0..<r).map { k in j == i + k ? 1.0 : 0 } }
            var normal = (0..<n).map { a in (0..<n).map { b in zip(products, products).reduce(0) { $0 + $1.0[a] * $1.1[b] } } }
            var rhs = (0..<n).map { a in zip(products, target).reduce(0) { $0 + $1.0[a] * $1.1 } }
            let solution = Self.solve(&normal, &rhs)
            for x in 0..<n { bt[x][j] = abs(solution[x]) < 1e-9 ? 0 : (solution[x] * 1e6).rounded() / 1e6 }
        }
        outputTransform = at
        filterTransform = g
        inputTransform = bt
    }

    /// Gaussian elimination with partial pivoting (the system is small and well conditioned).
    static func solve(_ a: inout [[Double]], _ b: inout [Double]) -> [Double] {
        let n = b.count
        for column in 0..<n {
            let pivot = (column..<n).max { abs(a[$0][column]) < abs(a[$1][column]) }!
            a.swapAt(column, pivot)
            b.swapAt(column, pivot)
            for row in (column + 1)..<n {
                let factor = a[row][column] / a[column][column]
                for k in column..<n { a[row][k] -= factor * a[column][k] }
                b[row] -= factor * b[column]
            }
        }
        var x = [Double](repeating: 0, count: n)
        for row in (0..<n).reversed() {
            x[row] = (b[row] - ((row + 1)..<n).reduce(0) { $0 + a[row][$1] * x[$1] }) / a[row][row]
        }
        return x
    }
}
