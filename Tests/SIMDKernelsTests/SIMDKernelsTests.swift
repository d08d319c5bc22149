import Inference
import SIMDKernels
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
        let kernel = DirectConvolution(channels: s.channels, height: s.height, width: s.width, outChannels: s.outChannels,
                                       outHeight: oh, outWidth: ow, kernel: (s.kernel, s.kernel), stride: (s.stride, s.stride),
                                       pad: (s.pad, s.pad), dilation: (1, 1))
        let input = randomTensor([s.channels, s.height, s.width], seed: 1).data
        let weights = randomTensor([s.outChannels, kernel.kernelSize], seed: 2).data
        let bias = randomTensor([s.outChannels], seed: 3).data
        let packed = weights.withUnsafeBufferPointer { kernel.packWeights($0.baseAddress!) }
        var output = [Float](repeating: .nan, count: s.outChannels * oh * ow)
        var scratch = [Float](repeating: 0, count: kernel.scratchCount)
        input.withUnsafeBufferPointer { x in
            packed.withUnsafeBufferPointer { w in
                bias.withUnsafeBufferPointer { b in
                    kernel.run(input: x.baseAddress!, packedWeights: w.baseAddress!, bias: b.baseAddress!,
                               output: &output, scratch: &scratch)
                }
            }
        }
        var worst: Float = 0
        for m in 0..<s.outChannels {
            for oy in 0..<oh {
                for ox in 0..<ow {
                    var sum: Double = 0
                    for c in 0..<s.channels {
                        for ky in 0..<s.kernel {
                            for kx in 0..<s.kernel {
                                let iy = oy * s.stride - s.pad + ky, ix = ox * s.stride - s.pad + kx
                                guard iy >= 0, iy < s.height, ix >= 0, ix < s.width else { continue }
                                sum += Double(input[(c * s.height + iy) * s.width + ix])
                                    * Double(weights[m * kernel.kernelSize + (c * s.kernel + ky) * s.kernel + kx])
                            }
                        }
                    }
                    worst = max(worst, abs(output[(m * oh + oy) * ow + ox] - Float(sum + Double(bias[m]))))
                }
            }
        }
        #expect(worst < 1e-4, "\(s): largest difference \(worst)")
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
        let pooling = PlanePooling(height: h, width: w, outHeight: oh, outWidth: ow, kernel: (kernel, kernel),
                                   stride: (stride, stride), pad: (pad, pad), average: average)
        let input = randomTensor([planes, h, w], seed: 4).data
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
                    #expect(output[(p * oh + oy) * ow + ox] == expected, "plane \(p) at \(oy),\(ox)")
                }
            }
        }
    }
}
