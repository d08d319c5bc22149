import Foundation
import TensorGraph

/// Straightforward kernels written from the layer definitions, one output element at a time.
/// They are the oracle the fast kernels are tested against; the engine never runs them.
enum ReferenceKernels {
    static func convolution(_ x: Tensor, _ a: ConvolutionAttributes, weights: Tensor, bias: Tensor?, outputShape: Shape) -> Tensor {
        let (n, c, h, w) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
        let (m, oh, ow) = (outputShape[1], outputShape[2], outputShape[3])
        let cg = c / a.group, mg = m / a.group
        var y = Tensor(zeros: outputShape)
        for image in 0..<n {
            for oc in 0..<m {
                let g = oc / mg
                for oy in 0..<oh {
                    for ox in 0..<ow {
                        var sum: Float = 0
                        for ic in 0..<cg {
                            for ky in 0..<a.kernel.h {
                                for kx in 0..<a.kernel.w {
                                    let iy = oy * a.stride.h - a.pad.h + ky * a.dilation.h
                                    let ix = ox * a.stride.w - a.pad.w + kx * a.dilation.w
                                    guard iy >= 0, iy < h, ix >= 0, ix < w else { continue }
                                    let input = x.data[((image * c + g * cg + ic) * h + iy) * w + ix]
                                    let weight = weights.data[((oc * cg + ic) * a.kernel.h + ky) * a.kernel.w + kx]
                                    sum += input * weight
                                }
                            }
                        }
                        y.data[((image * m + oc) * oh + oy) * ow + ox] = sum + (bias?.data[oc] ?? 0)
                    }
                }
            }
        }
        return y
    }

    static func innerProduct(_ x: Tensor, _ a: InnerProductAttributes, weights: Tensor, bias: Tensor?, outputShape: Shape) -> Tensor {
        let rows = x.shape.count(upTo: a.axis), k = x.shape.count(from: a.axis), n = a.numOutput
        var y = Tensor(zeros: outputShape)
        for r in 0..<rows {
            for j in 0..<n {
                var sum: Float = 0
                for i in 0..<k {
                    let weight = a.transpose ? weights.data[i * n + j] : weights.data[j * k + i]
                    sum += x.data[r * k + i] * weight
                }
                y.data[r * n + j] = sum + (bias?.data[j] ?? 0)
            }
        }
        return y
    }

    static func pooling(_ x: Tensor, _ a: PoolingAttributes, outputShape: Shape) -> Tensor {
        let (n, c, h, w) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
        let (oh, ow) = (outputShape[2], outputShape[3])
        let (kernel, stride, pad) = a.window(height: h, width: w)
        var y = Tensor(zeros: outputShape)
        for plane in 0..<(n * c) {
            for oy in 0..<oh {
                for ox in 0..<ow {
                    let y0 = oy * stride.h - pad.h, x0 = ox * stride.w - pad.w
                    var best = -Float.infinity, sum: Float = 0
                    for iy in max(y0, 0)..<min(y0 + kernel.h, h) {
                        for ix in max(x0, 0)..<min(x0 + kernel.w, w) {
                            let value = x.data[(plane * h + iy) * w + ix]
                            best = max(best, value)
                            sum += value
                        }
                    }
                    // Caffe's AVE divisor: the window clipped to the padded image.
                    let divisor = Float((min(y0 + kernel.h, h + pad.h) - y0) * (min(x0 + kernel.w, w + pad.w) - x0))
                    y.data[(plane * oh + oy) * ow + ox] = a.method == .max ? best : sum / divisor
                }
            }
        }
        return y
    }

    /// LRN by its definition: x / (k + alpha/n * sum of squares over the window)^beta, with
    /// n = local_size across channels, and n = local_size² (padding included) within a channel.
    static func lrn(_ x: Tensor, _ a: LRNAttributes) -> Tensor {
        let (n, c, h, w) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
        let half = (a.localSize - 1) / 2
        var y = Tensor(zeros: x.shape)
        func at(_ image: Int, _ ch: Int, _ iy: Int, _ ix: Int) -> Float { x.data[((image * c + ch) * h + iy) * w + ix] }
        for image in 0..<n {
            for ch in 0..<c {
                for iy in 0..<h {
                    for ix in 0..<w {
                        var sum: Float = 0
                        let denominator: Float
                        switch a.region {
                        case .acrossChannels:
                            for other in max(0, ch - half)...min(c - 1, ch + half) { sum += at(image, other, iy, ix) * at(image, other, iy, ix) }
                            denominator = Foundation.pow(a.k + a.alpha / Float(a.localSize) * sum, a.beta)
                        case .withinChannel:
                            for yy in max(0, iy - half)...min(h - 1, iy + half) {
                                for xx in max(0, ix - half)...min(w - 1, ix + half) { sum += at(image, ch, yy, xx) * at(image, ch, yy, xx) }
                            }
                            denominator = Foundation.pow(1 + a.alpha * sum / Float(a.localSize * a.localSize), a.beta)
                        }
                        y.data[((image * c + ch) * h + iy) * w + ix] = at(image, ch, iy, ix) / denominator
                    }
                }
            }
        }
        return y
    }
}
