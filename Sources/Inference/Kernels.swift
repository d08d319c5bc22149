import Foundation
import TensorGraph

/// The engine's fast kernels. Each follows Caffe's CPU arithmetic step by step
/// (operation order, float32 intermediates) so results agree with Caffe's.
enum Kernels {
    static func innerProduct(_ x: Tensor, _ a: InnerProductAttributes, weights: Tensor, bias: Tensor?, outputShape: Shape) -> Tensor {
        let rows = x.shape.count(upTo: a.axis)
        let k = x.shape.count(from: a.axis)
        let n = a.numOutput
        var output = Tensor(zeros: outputShape)
        x.data.withUnsafeBufferPointer { xb in
            weights.data.withUnsafeBufferPointer { wb in
                output.data.withUnsafeMutableBufferPointer { yb in
                    BLAS.gemm(transposeB: !a.transpose, m: rows, n: n, k: k,
                              a: xb.baseAddress!, b: wb.baseAddress!, c: yb.baseAddress!)
                    if let bias {
                        for r in 0..<rows {
                            for j in 0..<n { yb[r * n + j] += bias.data[j] }
                        }
                    }
                }
            }
        }
        return output
    }

    static func pooling(_ x: Tensor, _ a: PoolingAttributes, outputShape: Shape) -> Tensor {
        let (n, c, h, w) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
        let (oh, ow) = (outputShape[2], outputShape[3])
        let kernel = a.global ? Size2(h, w) : a.kernel
        let stride = a.global ? Size2(square: 1) : a.stride
        let pad = a.global ? Size2(square: 0) : a.pad
        var output = Tensor(zeros: outputShape)
        let isMax = a.method == .max
        x.data.withUnsafeBufferPointer { xb in
            output.data.withUnsafeMutableBufferPointer { yb in
                let xp = SharedConstPointer(xb.baseAddress!), yp = SharedPointer(yb.baseAddress!)
                Parallel.forEach(n * c, minimumPerChunk: 8) { plane in
                    let src = xp.base + plane * h * w
                    let dst = yp.base + plane * oh * ow
                    for py in 0..<oh {
                        for px in 0..<ow {
                            var y0 = py * stride.h - pad.h, x0 = px * stride.w - pad.w
                            if isMax {
                                let y1 = min(y0 + kernel.h, h), x1 = min(x0 + kernel.w, w)
                                y0 = max(y0, 0); x0 = max(x0, 0)
                                var best = -Float.greatestFiniteMagnitude
                                for yy in y0..<y1 {
                                    for xx in x0..<x1 where src[yy * w + xx] > best { best = src[yy * w + xx] }
                                }
                                dst[py * ow + px] = best
                            } else {
                                // Caffe divides by the window clipped at the padded border, then sums the cells inside.
                                var y1 = min(y0 + kernel.h, h + pad.h), x1 = min(x0 + kernel.w, w + pad.w)
                                let poolSize = Float((y1 - y0) * (x1 - x0))
                                y0 = max(y0, 0); x0 = max(x0, 0)
                                y1 = min(y1, h); x1 = min(x1, w)
                                var sum: Float = 0
                                for yy in y0..<y1 {
                                    for xx in x0..<x1 { sum += src[yy * w + xx] }
                                }
                                dst[py * ow + px] = sum / poolSize
                            }
                        }
                    }
                }
            }
        }
        return output
    }

    static func relu(_ x: Tensor, negativeSlope: Float) -> Tensor {
        var y = x
        if negativeSlope == 0 {
            for i in y.data.indices { y.data[i] = max(y.data[i], 0) }
        } else {
            for i in y.data.indices { y.data[i] = max(y.data[i], 0) + negativeSlope * min(y.data[i], 0) }
        }
        return y
    }

    static func sigmoid(_ x: Tensor) -> Tensor {
        var y = x
        for i in y.data.indices { y.data[i] = 0.5 * Foundation.tanh(0.5 * y.data[i]) + 0.5 }
        return y
    }

    static func tanh(_ x: Tensor) -> Tensor {
        var y = x
        for i in y.data.indices { y.data[i] = Foundation.tanh(y.data[i]) }
        return y
    }

    static func softmax(_ x: Tensor, axis: Int) -> Tensor {
        let resolved = axis < 0 ? axis + x.shape.rank : axis
        let outer = x.shape.count(upTo: resolved)
        let channels = x.shape[resolved]
        let inner = x.shape.count(from: resolved + 1)
        var y = x
        y.data.withUnsafeMutableBufferPointer { yb in
            for o in 0..<outer {
                for i in 0..<inner {
                    let base = o * channels * inner + i
                    var top = yb[base]
                    for c in 1..<max(channels, 1) { top = max(top, yb[base + c * inner]) }
                    var sum: Float = 0
                    for c in 0..<channels {
                        let e = Foundation.exp(yb[base + c * inner] - top)
                        yb[base + c * inner] = e
                        sum += e
                    }
                    for c in 0..<channels { yb[base + c * inner] /= sum }
                }
            }
        }
        return y
    }

    /// Caffe's cross-channel LRN with its running window sum, or the within-channel form
    /// that Caffe builds from square, 3x3 AVE pooling (divisor always size²), power and product.
    static func lrn(_ x: Tensor, _ a: LRNAttributes) -> Tensor {
        let (n, c, h, w) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
        let plane = h * w
        var y = Tensor(zeros: x.shape)
        x.data.withUnsafeBufferPointer { xb in
            y.data.withUnsafeMutableBufferPointer { yb in
                let xp = SharedConstPointer(xb.baseAddress!), yp = SharedPointer(yb.baseAddress!)
                switch a.region {
                case .acrossChannels:
                    let size = a.localSize, prePad = (size - 1) / 2
                    let alphaOverSize = a.alpha / Float(size)
                    Parallel.forEach(n) { image in
                        let src = xp.base + image * c * plane, dst = yp.base + image * c * plane
                        var padded = [Float](repeating: 0, count: (c + size - 1) * plane)
                        for i in 0..<(c * plane) { padded[prePad * plane + i] = src[i] * src[i] }
                        var scale = [Float](repeating: a.k, count: c * plane)
                        for ch in 0..<size {
                            for j in 0..<plane { scale[j] += alphaOverSize * padded[ch * plane + j] }
                        }
                        if c > 1 {
                            for ch in 1..<c {
                                for j in 0..<plane {
                                    var s = scale[(ch - 1) * plane + j]
                                    s += alphaOverSize * padded[(ch + size - 1) * plane + j]
                                    s -= alphaOverSize * padded[(ch - 1) * plane + j]
                                    scale[ch * plane + j] = s
                                }
                            }
                        }
                        for i in 0..<(c * plane) { dst[i] = Foundation.pow(scale[i], -a.beta) * src[i] }
                    }
                case .withinChannel:
                    let size = a.localSize, pad = (size - 1) / 2
                    let divisor = Float(size * size)
                    Parallel.forEach(n * c, minimumPerChunk: 8) { index in
                        let src = xp.base + index * plane, dst = yp.base + index * plane
                        for py in 0..<h {
                            for px in 0..<w {
                                let y0 = max(py - pad, 0), y1 = min(py - pad + size, h)
                                let x0 = max(px - pad, 0), x1 = min(px - pad + size, w)
                                var sum: Float = 0
                                for yy in y0..<y1 {
                                    for xx in x0..<x1 { sum += src[yy * w + xx] * src[yy * w + xx] }
                                }
                                let average = sum / divisor
                                dst[py * w + px] = src[py * w + px] * Foundation.pow(average * a.alpha + 1, -a.beta)
                            }
                        }
                    }
                }
            }
        }
        return y
    }

    static func concat(_ inputs: [Tensor], axis: Int, outputShape: Shape) -> Tensor {
        let resolved = axis < 0 ? axis + outputShape.rank : axis
        let outer = outputShape.count(upTo: resolved)
        let inner = outputShape.count(from: resolved + 1)
        let total = outputShape[resolved]
        var y = Tensor(zeros: outputShape)
        var offset = 0
        for input in inputs {
            let along = input.shape[resolved]
            for o in 0..<outer {
                let src = o * along * inner
                let dst = (o * total + offset) * inner
                y.data.replaceSubrange(dst..<(dst + along * inner), with: input.data[src..<(src + along * inner)])
            }
            offset += along
        }
        return y
    }

    static func eltwise(_ inputs: [Tensor], _ a: EltwiseAttributes) -> Tensor {
        var y = inputs[0]
        switch a.operation {
        case .sum:
            let coefficients = a.coefficients.isEmpty ? [Float](repeating: 1, count: inputs.count) : a.coefficients
            for i in y.data.indices { y.data[i] = 0 }
            for (input, coefficient) in zip(inputs, coefficients) {
                if coefficient == 1 {
                    for i in y.data.indices { y.data[i] += input.data[i] }
                } else {
                    for i in y.data.indices { y.data[i] += coefficient * input.data[i] }
                }
            }
        case .product:
            for input in inputs.dropFirst() {
                for i in y.data.indices { y.data[i] *= input.data[i] }
            }
        case .max:
            for input in inputs.dropFirst() {
                for i in y.data.indices where input.data[i] > y.data[i] { y.data[i] = input.data[i] }
            }
        }
        return y
    }

    /// Caffe's global-statistics batch norm: statistics scaled by 1/factor (a float reciprocal),
    /// then (x - mean) / sqrt(variance + eps).
    static func batchNorm(_ x: Tensor, _ a: BatchNormAttributes, mean: Tensor, variance: Tensor, factor: Tensor) -> Tensor {
        let stored = factor.data[0]
        let scaleFactor: Float = stored == 0 ? 0 : 1 / stored
        let channels = x.shape[1]
        let outer = x.shape[0], inner = x.shape.count(from: 2)
        let means = mean.data.map { scaleFactor * $0 }
        let deviations = variance.data.map { (scaleFactor * $0 + a.eps).squareRoot() }
        var y = x
        for o in 0..<outer {
            for ch in 0..<channels {
                let base = (o * channels + ch) * inner
                let mu = means[ch], sigma = deviations[ch]
                for i in base..<(base + inner) { y.data[i] = (y.data[i] - mu) / sigma }
            }
        }
        return y
    }

    static func scale(_ x: Tensor, _ a: ScaleAttributes, scale: Tensor, bias: Tensor?) -> Tensor {
        let outer = x.shape.count(upTo: a.axis)
        let dims = scale.count
        let inner = x.shape.count(from: a.axis + a.numAxes)
        var y = x
        for o in 0..<outer {
            for d in 0..<dims {
                let base = (o * dims + d) * inner
                let factor = scale.data[d]
                for i in base..<(base + inner) { y.data[i] = factor * y.data[i] }
                if let bias {
                    let b = bias.data[d]
                    for i in base..<(base + inner) { y.data[i] += b }
                }
            }
        }
        return y
    }
}
