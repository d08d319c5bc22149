import Inference
@testable import SIMDKernels
import TensorGraph
import TestSupport
import Testing

/// The register kernels called directly, against sums written out element by element. Skipped
/// on CPUs without the vector unit they are built for (the engine falls back there).
@Suite(.enabled(if: VectorUnit.available, "this CPU lacks the vector unit SIMDKernels is built for"))
struct SIMDKernelsTests {
    struct ConvolutionShape: Sendable, CustomStringConvertible {
        var channels, height, width, outChannels, kernel, stride, pad: Int
        var description: String { "\(channels)x\(height)x\(width) -> \(outChannels) k\(kernel) s\(stride) p\(pad)" }
    }

    /// The kernels' builds this CPU runs: AVX2 (SIMDKernels), and AVX-512 (SIMDKernelsAVX512) where
    /// it has it. Each must give the other's bits.
    static let builds = [false] + (VectorUnit.wideVectors ? [true] : [])

    static let convolutions = [
        ConvolutionShape(channels: 3, height: 16, width: 16, outChannels: 13, kernel: 3, stride: 1, pad: 1),
        ConvolutionShape(channels: 2, height: 8, width: 8, outChannels: 5, kernel: 5, stride: 1, pad: 2),
        ConvolutionShape(channels: 4, height: 11, width: 9, outChannels: 7, kernel: 3, stride: 2, pad: 0),
        ConvolutionShape(channels: 1, height: 28, width: 28, outChannels: 20, kernel: 5, stride: 1, pad: 0),
    ]

    @available(macOS 26, *)
    @Test(arguments: convolutions)
    func directConvolutionMatchesTheSum(_ s: ConvolutionShape) {
        let oh = (s.height + 2 * s.pad - s.kernel) / s.stride + 1, ow = (s.width + 2 * s.pad - s.kernel) / s.stride + 1
        let input = randomTensor([s.channels, s.height, s.width], seed: 1).data
        let weights = randomTensor([s.outChannels, s.channels * s.kernel * s.kernel], seed: 2).data
        let bias = randomTensor([s.outChannels], seed: 3).data
        let outputs = Self.builds.map { wide in
            let kernel = DirectConvolution(channels: s.channels, height: s.height, width: s.width, outChannels: s.outChannels,
                                           outHeight: oh, outWidth: ow, kernel: (s.kernel, s.kernel), stride: (s.stride, s.stride),
                                           pad: (s.pad, s.pad), dilation: (1, 1), wide: wide)
            let packed = weights.withUnsafeBufferPointer { kernel.packWeights($0.baseAddress!) }
            func convolve(blocks: [Range<Int>?]) -> [Float] {
                var output = [Float](repeating: .nan, count: s.outChannels * oh * ow)
                for range in blocks {
                    var scratch = [Float](repeating: .nan, count: kernel.scratchCount)
                    kernel.run(input: input, packedWeights: packed, bias: bias, output: &output, scratch: &scratch, blocks: range)
                }
                return output
            }
            let output = convolve(blocks: [nil])
            #expect(convolve(blocks: Self.parts(of: kernel.blockCount)) == output, "\(s): the image in shares of its blocks")
            return output
        }
        let expected = Self.convolutionSums(s, images: 1, input: input, weights: weights, bias: bias)
        let worst = zip(outputs[0], expected).map { abs($0 - $1) }.max() ?? .nan
        #expect(worst < 1e-4, "\(s): largest difference \(worst)")
        for output in outputs.dropFirst() { #expect(output == outputs[0], "\(s): the AVX-512 build's bits") }
    }

    /// 0..<count as the uneven shares a core might take: the first unit alone, then two halves
    /// of the rest (fewer when count is small).
    static func parts(of count: Int) -> [Range<Int>] {
        [0..<min(1, count), min(1, count)..<(count + 1) / 2, (count + 1) / 2..<count].filter { !$0.isEmpty }
    }

    /// The convolution written out as sums in double precision: [images][outChannels][oh][ow].
    static func convolutionSums(_ s: ConvolutionShape, images: Int, input: [Float], weights: [Float], bias: [Float]) -> [Float] {
        let oh = (s.height + 2 * s.pad - s.kernel) / s.stride + 1, ow = (s.width + 2 * s.pad - s.kernel) / s.stride + 1
        let kernelSize = s.channels * s.kernel * s.kernel
        var result: [Float] = []
        for image in 0..<images {
            for m in 0..<s.outChannels {
                for oy in 0..<oh {
                    for ox in 0..<ow {
                        var sum = Double(bias[m])
                        for c in 0..<s.channels {
                            for ky in 0..<s.kernel {
                                for kx in 0..<s.kernel {
                                    let iy = oy * s.stride - s.pad + ky, ix = ox * s.stride - s.pad + kx
                                    guard iy >= 0, iy < s.height, ix >= 0, ix < s.width else { continue }
                                    sum += Double(input[((image * s.channels + c) * s.height + iy) * s.width + ix])
                                        * Double(weights[m * kernelSize + (c * s.kernel + ky) * s.kernel + kx])
                                }
                            }
                        }
                        result.append(Float(sum))
                    }
                }
            }
        }
        return result
    }

    /// Winograd tiles against the sums: several images per lane block, blocks that end short,
    /// tiles clipped at the right and bottom edges, padded and unpadded inputs, 3x3 and 5x5.
    @available(macOS 26, *)
    @Test(arguments: [(ConvolutionShape(channels: 3, height: 16, width: 16, outChannels: 13, kernel: 3, stride: 1, pad: 1), 2),
                      (ConvolutionShape(channels: 2, height: 8, width: 8, outChannels: 5, kernel: 5, stride: 1, pad: 2), 3),
                      (ConvolutionShape(channels: 4, height: 11, width: 9, outChannels: 7, kernel: 3, stride: 1, pad: 0), 1),
                      (ConvolutionShape(channels: 9, height: 12, width: 12, outChannels: 8, kernel: 5, stride: 1, pad: 0), 2),
                      (ConvolutionShape(channels: 16, height: 7, width: 10, outChannels: 3, kernel: 3, stride: 1, pad: 1), 5),
                      // Rows of eight tiles (two tile rows per block), and the same width with a clipped bottom.
                      (ConvolutionShape(channels: 5, height: 32, width: 32, outChannels: 7, kernel: 3, stride: 1, pad: 1), 2),
                      (ConvolutionShape(channels: 3, height: 32, width: 32, outChannels: 4, kernel: 5, stride: 1, pad: 2), 1),
                      (ConvolutionShape(channels: 2, height: 30, width: 32, outChannels: 3, kernel: 3, stride: 1, pad: 1), 2),
                      // Rows of two tiles: blocks of four images, then a short block.
                      (ConvolutionShape(channels: 4, height: 8, width: 8, outChannels: 6, kernel: 3, stride: 1, pad: 1), 5)])
    func winogradConvolutionMatchesTheSum(_ s: ConvolutionShape, images: Int) {
        let oh = s.height + 2 * s.pad - s.kernel + 1, ow = s.width + 2 * s.pad - s.kernel + 1
        let input = randomTensor([images, s.channels, s.height, s.width], seed: 1).data
        let weights = randomTensor([s.outChannels, s.channels * s.kernel * s.kernel], seed: 2).data
        let bias = randomTensor([s.outChannels], seed: 3).data
        let outputs = Self.builds.map { wide in
            let kernel = WinogradConvolution(channels: s.channels, height: s.height, width: s.width, outChannels: s.outChannels,
                                             outHeight: oh, outWidth: ow, kernel: s.kernel, pad: (s.pad, s.pad), wide: wide)
            #expect(kernel.vectorRows == ([8, 16, 32].contains(ow) && oh % 4 == 0),
                    "the vector gather serves whole rows of 2, 4 or 8 tiles")
            let packed = weights.withUnsafeBufferPointer { kernel.transformWeights($0.baseAddress!) }
            func convolve(tiles: [Range<Int>?]) -> [Float] {
                var output = [Float](repeating: .nan, count: images * s.outChannels * oh * ow)
                for range in tiles {
                    var scratch = [Float](repeating: .nan, count: kernel.scratchCount)
                    kernel.run(images: images, input: input, packedWeights: packed, bias: bias, output: &output, scratch: &scratch,
                               tiles: range)
                }
                return output
            }
            let output = convolve(tiles: [nil])
            #expect(convolve(tiles: Self.parts(of: kernel.channelTileCount)) == output, "\(s) x\(images): in shares of the channel tiles")
            return output
        }
        let expected = Self.convolutionSums(s, images: images, input: input, weights: weights, bias: bias)
        let worst = zip(outputs[0], expected).map { abs($0 - $1) }.max() ?? .nan
        #expect(worst < 1e-4, "\(s) x\(images): largest difference \(worst)")
        for output in outputs.dropFirst() { #expect(output == outputs[0], "\(s) x\(images): the AVX-512 build's bits") }
    }

    /// The written-out one-dimensional transforms are the Cook-Toom construction's Bᵀ and Aᵀ,
    /// applied to each unit vector.
    @Test func winogradTransformsAreTheCookToomMatrices() {
        func check<T: TileTransform>(_: T.Type, kernel: Int) {
            let matrices = WinogradMatrices(outputs: 4, kernel: kernel), n = T.span
            #expect(n == 4 + kernel - 1)
            for unit in 0..<n {
                var line = InlineArray<8, SIMD16<Float>>(repeating: SIMD16())
                line[unit] = SIMD16(repeating: 1)
                let input = T.input(line), output = T.output(line)
                for i in 0..<n { #expect(input[i][0] == Float(matrices.inputTransform[i][unit]), "F(4,\(kernel)) Bᵀ[\(i)][\(unit)]") }
                for i in 0..<4 { #expect(output[i][0] == Float(matrices.outputTransform[i][unit]), "F(4,\(kernel)) Aᵀ[\(i)][\(unit)]") }
            }
        }
        check(F4x3.self, kernel: 3)
        check(F4x5.self, kernel: 5)
    }

    @available(macOS 26, *)
    @Test(arguments: [(false, 2, 2, 0), (true, 3, 2, 1), (false, 3, 1, 1), (true, 2, 2, 0)])
    func planePoolingMatchesTheWindows(average: Bool, kernel: Int, stride: Int, pad: Int) {
        let (h, w, planes) = (9, 13, 3)
        // Caffe's output size: rounded up, the last window starting inside the image or left padding.
        func outSize(_ size: Int) -> Int {
            var out = (size + 2 * pad - kernel + stride - 1) / stride + 1
            if pad > 0, (out - 1) * stride >= size + pad { out -= 1 }
            return out
        }
        let (oh, ow) = (outSize(h), outSize(w))
        let input = randomTensor([planes, h, w], seed: 4).data
        for wide in Self.builds {
            let pooling = PlanePooling(height: h, width: w, outHeight: oh, outWidth: ow, kernel: (kernel, kernel),
                                       stride: (stride, stride), pad: (pad, pad), average: average, wide: wide)
            var output = [Float](repeating: .nan, count: planes * oh * ow)
            var scratch = [Float](repeating: 0, count: pooling.scratchCount)
            input.withUnsafeBufferPointer { pooling.run(planes: $0.baseAddress!, count: planes, output: &output, scratch: &scratch) }
            for p in 0..<planes {
                for oy in 0..<oh {
                    for ox in 0..<ow {
                        let y0 = oy * stride - pad, x0 = ox * stride - pad
                        var best = -Float.infinity, sum: Float = 0
                        for iy in max(y0, 0)..<min(y0 + kernel, h) {
                            for ix in max(x0, 0)..<min(x0 + kernel, w) {
                                best = max(best, input[(p * h + iy) * w + ix])
                                sum += input[(p * h + iy) * w + ix]
                            }
                        }
                        let divisor = Float((min(y0 + kernel, h + pad) - y0) * (min(x0 + kernel, w + pad) - x0))
                        let expected = average ? sum / divisor : best
                        #expect(output[(p * oh + oy) * ow + ox] == expected, "plane \(p) at \(oy),\(ox), wide \(wide)")
                    }
                }
            }
        }
    }

    /// The inner product at 1-3 rows (one row at a time) and 4 or more (row tiles), with a bias and
    /// outputs past a whole panel, against double-precision sums; both builds give the same bits.
    @available(macOS 26, *)
    @Test(arguments: [1, 3, 7])
    func innerProductMatchesTheSum(rows: Int) {
        let (inputs, outputs) = (37, 21)
        let x = randomTensor([rows, inputs], seed: 5).data, weights = randomTensor([outputs, inputs], seed: 6).data
        let bias = randomTensor([outputs], seed: 7).data
        let results = Self.builds.map { wide in
            let kernel = InnerProductKernel(inputs: inputs, outputs: outputs, wide: wide)
            let packed = weights.withUnsafeBufferPointer { kernel.packWeights($0.baseAddress!, transposed: false) }
            var y = [Float](repeating: .nan, count: rows * outputs)
            kernel.run(rows: rows, input: x, packedWeights: packed, bias: bias, output: &y)
            var shares = [Float](repeating: .nan, count: rows * outputs)
            for panels in Self.parts(of: kernel.panels) {
                kernel.run(rows: rows, input: x, packedWeights: packed, bias: bias, output: &shares, panels: panels)
            }
            #expect(shares == y, "\(rows) rows: in shares of the output panels")
            return y
        }
        for r in 0..<rows {
            for j in 0..<outputs {
                let sum = (0..<inputs).reduce(Double(bias[j])) { $0 + Double(x[r * inputs + $1]) * Double(weights[j * inputs + $1]) }
                #expect(abs(Double(results[0][r * outputs + j]) - sum) < 1e-4, "row \(r) output \(j)")
            }
        }
        for y in results.dropFirst() { #expect(y == results[0], "the AVX-512 build's bits") }
    }

    /// Within-channel LRN: both builds give the same bits, and a plane of zeros stays zero.
    @available(macOS 26, *)
    @Test func withinChannelLRNBuildsAgree() {
        let (h, w, planes) = (9, 21, 3)
        let input = randomTensor([planes, h, w], seed: 8).data + [Float](repeating: 0, count: h * w)
        let results = Self.builds.map { wide in
            let kernel = WithinChannelLRN(height: h, width: w, size: 3, alpha: 5e-5, beta: 0.75, wide: wide)
            var output = [Float](repeating: .nan, count: input.count)
            var scratch = [Float](repeating: .nan, count: kernel.scratchCount)
            kernel.run(planes: input, count: planes + 1, output: &output, scratch: &scratch)
            return output
        }
        #expect(results[0].suffix(h * w).allSatisfy { $0 == 0 } && !results[0].contains { $0.isNaN })
        for output in results.dropFirst() { #expect(output == results[0], "the AVX-512 build's bits") }
    }
}
