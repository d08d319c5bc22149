import Foundation
import TensorGraph

/// Straightforward kernels written from the layer definitions, one output element at a time.
/// They are the oracle the fast kernels are tested against; the engine never runs them.
enum ReferenceKernels {
    /// Runs one node by the definitions below: every operation has a reference here, so tests can
    /// check the engine's kernel for each operation the graph can hold.
    static func run(_ node: Node, inputs: [Tensor], outputShapes: [Shape]) -> [Tensor] {
        let p = node.parameters
        func map(_ transform: (Float) -> Float) -> [Tensor] { [Tensor(shape: inputs[0].shape, data: inputs[0].data.map(transform))] }
        switch node.op {
        case let .convolution(a):
            return [convolution(inputs[0], a, weights: p[0], bias: a.biasTerm ? p[1] : nil, outputShape: outputShapes[0])]
        case let .innerProduct(a):
            return [innerProduct(inputs[0], a, weights: p[0], bias: a.biasTerm ? p[1] : nil, outputShape: outputShapes[0])]
        case let .pooling(a):
            return [pooling(inputs[0], a, outputShape: outputShapes[0])]
        case let .relu(a):
            return map { $0 > 0 ? $0 : a.negativeSlope * $0 }
        case .sigmoid:
            return map { 1 / (1 + Foundation.exp(-$0)) }
        case .tanh:
            return map { Foundation.tanh($0) }
        case .absVal:
            return map { $0 < 0 ? -$0 : $0 }
        case .prelu:
            let x = inputs[0]
            let channels = x.shape.rank > 1 ? x.shape[1] : 1, plane = x.shape.rank > 2 ? x.shape.count(from: 2) : 1
            var y = x
            for i in y.data.indices where y.data[i] < 0 {
                y.data[i] *= p[0].data[p[0].count == 1 ? 0 : (i / plane) % channels]
            }
            return [y]
        case let .clip(a):
            return map { Swift.min(Swift.max($0, a.min), a.max) }
        case let .permute(a):
            // Each output element from its coordinates, mapped back through the order.
            let x = inputs[0], out = outputShapes[0], order = a.fullOrder(rank: x.shape.rank)
            var y = Tensor(zeros: out)
            for position in 0..<y.count {
                var rest = position
                var coordinates = [Int](repeating: 0, count: out.rank)
                for axis in stride(from: out.rank - 1, through: 0, by: -1) {
                    coordinates[axis] = rest % out[axis]
                    rest /= out[axis]
                }
                var source = [Int](repeating: 0, count: out.rank)
                for (axis, from) in order.enumerated() { source[from] = coordinates[axis] }
                y.data[position] = x.data[source.enumerated().reduce(0) { $0 * x.shape[$1.offset] + $1.element }]
            }
            return [y]
        case let .softmax(a):
            return [softmax(inputs[0], axis: a.axis)]
        case let .lrn(a):
            return [lrn(inputs[0], a)]
        case .dropout:
            return [inputs[0]]
        case .flatten:
            return [inputs[0].reshaped(outputShapes[0])]
        case let .concat(a):
            return [concat(inputs, axis: a.axis, outputShape: outputShapes[0])]
        case let .eltwise(a):
            return [eltwise(inputs, a)]
        case let .batchNorm(a):
            return [batchNorm(inputs[0], a, mean: p[0], variance: p[1], factor: p[2])]
        case let .scale(a):
            return [scale(inputs[0], a, scale: p[0], bias: a.biasTerm ? p[1] : nil)]
        case .split:
            return Array(repeating: inputs[0], count: outputShapes.count)
        }
    }

    /// exp(x_c) / sum over c' of exp(x_c') along `axis`, in double precision.
    static func softmax(_ x: Tensor, axis: Int) -> Tensor {
        let resolved = axis < 0 ? axis + x.shape.rank : axis
        let outer = x.shape.count(upTo: resolved), channels = x.shape[resolved], inner = x.shape.count(from: resolved + 1)
        var y = x
        for o in 0..<outer {
            for i in 0..<inner {
                let indices = (0..<channels).map { (o * channels + $0) * inner + i }
                let exps = indices.map { Foundation.exp(Double(x.data[$0])) }
                let sum = exps.reduce(0, +)
                for (index, e) in zip(indices, exps) { y.data[index] = Float(e / sum) }
            }
        }
        return y
    }

    /// Output element by element: which input holds it and where.
    static func concat(_ inputs: [Tensor], axis: Int, outputShape: Shape) -> Tensor {
        let resolved = axis < 0 ? axis + outputShape.rank : axis
        let inner = outputShape.count(from: resolved + 1), total = outputShape[resolved]
        var y = Tensor(zeros: outputShape)
        for index in 0..<outputShape.count {
            var along = (index / inner) % total
            let outer = index / (inner * total), within = index % inner
            for input in inputs {
                let size = input.shape[resolved]
                if along < size {
                    y.data[index] = input.data[(outer * size + along) * inner + within]
                    break
                }
                along -= size
            }
        }
        return y
    }

    static func eltwise(_ inputs: [Tensor], _ a: EltwiseAttributes) -> Tensor {
        var y = Tensor(zeros: inputs[0].shape)
        for index in y.data.indices {
            let values = inputs.map { $0.data[index] }
            switch a.operation {
            case .sum:
                let coefficients = a.coefficients.isEmpty ? Array(repeating: 1, count: values.count) : a.coefficients
                y.data[index] = zip(values, coefficients).reduce(0) { $0 + $1.0 * $1.1 }
            case .product: y.data[index] = values.reduce(1, *)
            case .max: y.data[index] = values.max() ?? 0
            }
        }
        return y
    }

    /// (x - mean / factor) / sqrt(variance / factor + eps), per channel (axis 1).
    static func batchNorm(_ x: Tensor, _ a: BatchNormAttributes, mean: Tensor, variance: Tensor, factor: Tensor) -> Tensor {
        let f = factor.data[0] == 0 ? 0 : 1 / factor.data[0]
        let channels = x.shape[1], inner = x.shape.count(from: 2)
        var y = x
        for index in y.data.indices {
            let c = (index / inner) % channels
            y.data[index] = (x.data[index] - mean.data[c] * f) / (variance.data[c] * f + a.eps).squareRoot()
        }
        return y
    }

    /// x times the scale (plus the bias) of the element's position over axes [axis, axis + numAxes).
    static func scale(_ x: Tensor, _ a: ScaleAttributes, scale: Tensor, bias: Tensor?) -> Tensor {
        let inner = x.shape.count(from: a.axis + a.numAxes), size = scale.count
        var y = x
        for index in y.data.indices {
            let d = (index / inner) % size
            y.data[index] = x.data[index] * scale.data[d] + (bias?.data[d] ?? 0)
        }
        return y
    }

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
