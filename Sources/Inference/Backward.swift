import Foundation
import TensorGraph

/// What a forward pass kept for the backward pass: every node's inputs (as they were before
/// an in-place layer changed them), outputs and parameters.
public struct ForwardTape: Sendable {
    /// Nodes run, in order.
    public let nodes: Range<Int>
    var inputs: [[Tensor]]
    var outputs: [[Tensor]]
    var parameters: [[Tensor]]
    /// The values after the last node, by name.
    public let values: [String: Tensor]
}

/// A layer the backward pass has no gradient for.
public struct GradientError: Error, CustomStringConvertible {
    /// The layer's name.
    public var layer: String
    /// Why.
    public var reason: String
    public var description: String { "layer '\(layer)': \(reason)" }
}

/// Gradients through the engine's layers, for tuning on calibration data (learned rounding and
/// biases). Each layer's backward is the exact derivative of its reference definition
/// (`ReferenceKernels`); convolutions and inner products use OpenBLAS products, the rest plain
/// loops. Float32 throughout.
extension Network {
    /// Runs `nodes` on a batch and keeps what `backward` needs.
    /// - Parameter parameters: replacement parameters by node index, as in `resume`.
    public func recordingForward(_ input: Tensor, nodes: Range<Int>, parameters: [Int: [Tensor]] = [:]) throws -> ForwardTape {
        let batch = input.shape[0]
        let shapes = try ShapeInference.infer(graph.withBatch(batch), checkParameters: false)
        var values = [graph.inputs[0].name: input]
        var inputs: [[Tensor]] = [], outputs: [[Tensor]] = [], kept: [[Tensor]] = []
        for index in nodes {
            var node = graph.nodes[index]
            if let replacement = parameters[index] { node.parameters = replacement }
            var nodeInputs = try Self.inputs(of: node, in: values)
            inputs.append(nodeInputs)
            kept.append(node.parameters)
            let nodeOutputs = Self.run(node, inputs: &nodeInputs, outputShapes: shapes.nodeOutputShapes[index], options: options)
            for (name, tensor) in zip(node.outputs, nodeOutputs) { values[name] = tensor }
            outputs.append(nodeOutputs)
        }
        return ForwardTape(nodes: nodes, inputs: inputs, outputs: outputs, parameters: kept, values: values)
    }

    /// Back-propagates `gradient` (d loss / d the value `output`) through the tape's nodes.
    /// - Parameter wanted: nodes whose parameter gradients are returned.
    /// - Returns: d loss / d each parameter of the wanted nodes, by node index.
    /// - Throws: `GradientError` for a layer on the way that has no backward here.
    public func backward(_ tape: ForwardTape, gradient: Tensor, of output: String, wanted: Set<Int>) throws -> [Int: [Tensor]] {
        var gradients = [output: gradient]
        var result: [Int: [Tensor]] = [:]
        for (offset, index) in tape.nodes.enumerated().reversed() {
            let node = graph.nodes[index]
            // Take the outputs' gradients (an in-place layer's input shares the name: it gets its own below).
            let outputGradients = node.outputs.enumerated().map { position, name -> Tensor? in
                defer { gradients[name] = nil }
                return gradients[name]
            }
            guard outputGradients.contains(where: { $0 != nil }) else { continue }
            let outputs = tape.outputs[offset]
            let dY = zip(outputGradients, outputs).map { $0 ?? Tensor(zeros: $1.shape) }
            let (inputGradients, parameterGradients) = try Gradients.node(node, inputs: tape.inputs[offset], outputs: outputs,
                                                                           parameters: tape.parameters[offset], dY: dY,
                                                                           wantParameters: wanted.contains(index))
            if wanted.contains(index) { result[index] = parameterGradients }
            for (name, dX) in zip(node.inputs, inputGradients) {
                guard let dX else { continue }
                if let existing = gradients[name] {
                    var sum = existing
                    for i in sum.data.indices { sum.data[i] += dX.data[i] }
                    gradients[name] = sum
                } else {
                    gradients[name] = dX
                }
            }
        }
        return result
    }
}

/// The backward of each layer type.
enum Gradients {
    /// d loss / d inputs (nil for an input that gets none) and d loss / d parameters (empty unless wanted).
    static func node(_ node: Node, inputs: [Tensor], outputs: [Tensor], parameters p: [Tensor], dY: [Tensor], wantParameters: Bool) throws
        -> ([Tensor?], [Tensor]) {
        let x = inputs.first ?? Tensor(zeros: [0])
        let dy = dY[0]
        switch node.op {
        case let .convolution(a):
            guard a.group == 1 else { throw GradientError(layer: node.name, reason: "grouped convolutions have no backward here") }
            let (dX, dW, dB) = convolution(x, a, weights: p[0], dY: dy, wantParameters: wantParameters)
            return ([dX], wantParameters ? [dW] + (a.biasTerm ? [dB] : []) : [])
        case let .innerProduct(a):
            guard a.axis == 1, !a.transpose else { throw GradientError(layer: node.name, reason: "only axis 1, untransposed inner products have a backward here") }
            let (dX, dW, dB) = innerProduct(x, weights: p[0], dY: dy, wantParameters: wantParameters)
            return ([dX], wantParameters ? [dW] + (a.biasTerm ? [dB] : []) : [])
        case let .pooling(a):
            return ([pooling(x, a, dY: dy)], [])
        case let .relu(a):
            var dX = dy
            for i in dX.data.indices where !(x.data[i] > 0) { dX.data[i] *= a.negativeSlope }
            return ([dX], [])
        case let .lrn(a):
            return ([lrn(x, a, dY: dy)], [])
        case .dropout, .flatten:
            return ([dy.reshaped(x.shape)], [])
        case .split:
            var sum = dY[0]
            for other in dY.dropFirst() { for i in sum.data.indices { sum.data[i] += other.data[i] } }
            return ([sum], [])
        case let .eltwise(a):
            return (eltwise(inputs, a, output: outputs[0], dY: dy), [])
        case let .batchNorm(a):
            let stored = p[2].data[0]
            let factor: Float = stored == 0 ? 0 : 1 / stored
            let inverse = p[1].data.map { 1 / (factor * $0 + a.eps).squareRoot() }
            return ([perChannel(dy, channelAxis: 1, factors: inverse)], [])
        case let .scale(a):
            guard a.numAxes == 1 else { throw GradientError(layer: node.name, reason: "a scale over several axes has no backward here") }
            var dX = perChannel(dy, channelAxis: a.axis, factors: p[0].data)
            dX = dX.reshaped(x.shape)
            var grads: [Tensor] = []
            if wantParameters {
                grads.append(channelSums(dy, channelAxis: a.axis, weighting: x))
                if a.biasTerm { grads.append(channelSums(dy, channelAxis: a.axis, weighting: nil)) }
            }
            return ([dX], grads)
        case let .softmax(a):
            return ([softmax(outputs[0], axis: a.axis, dY: dy)], [])
        default:
            break
        }
        throw GradientError(layer: node.name, reason: "\(node.op.typeName) layers have no backward here")
    }

    static func convolution(_ x: Tensor, _ a: ConvolutionAttributes, weights: Tensor, dY: Tensor, wantParameters: Bool) -> (Tensor, Tensor, Tensor) {
        let (n, c, h, w) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
        let (m, oh, ow) = (dY.shape[1], dY.shape[2], dY.shape[3])
        let k = c * a.kernel.h * a.kernel.w, positions = oh * ow
        let geometry = Im2colGeometry(channels: c, height: h, width: w, kernel: a.kernel, stride: a.stride,
                                      pad: a.pad, dilation: a.dilation, outHeight: oh, outWidth: ow)
        var dX = Tensor(zeros: x.shape)
        let workers = min(Parallel.workers, n)
        let parts = dX.data.withUnsafeMutableBufferPointer { dxb -> [[Float]] in
            let target = SharedPointer(dxb.baseAddress!)
            // Each worker owns whole images of dX and sums its own share of dW.
            return (try? Parallel.map(workers) { worker -> [Float] in
                var dW = [Float](repeating: 0, count: wantParameters ? m * k : 0)
                var columns = [Float](repeating: 0, count: k * positions)
                x.data.withUnsafeBufferPointer { xb in
                    dY.data.withUnsafeBufferPointer { dyb in
                        weights.data.withUnsafeBufferPointer { wb in
                            columns.withUnsafeMutableBufferPointer { col in
                                for image in (worker * n / workers)..<((worker + 1) * n / workers) {
                                    let dyImage = dyb.baseAddress! + image * m * positions
                                    if wantParameters {
                                        geometry.im2col(xb.baseAddress! + image * c * h * w, into: col.baseAddress!, rowStride: positions)
                                        dW.withUnsafeMutableBufferPointer {
                                            BLAS.gemm(transposeB: true, m: m, n: k, k: positions, a: dyImage, b: col.baseAddress!, c: $0.baseAddress!,
                                                      accumulate: true)
                                        }
                                    }
                                    // The input gradient's columns, W^T dY, added back onto the image.
                                    BLAS.gemm(transposeA: true, m: k, n: positions, k: m, a: wb.baseAddress!, b: dyImage, c: col.baseAddress!)
                                    geometry.col2im(col.baseAddress!, rowStride: positions, adding: target.base + image * c * h * w)
                                }
                            }
                        }
                    }
                }
                return dW
            }) ?? []
        }
        var dW = Tensor(zeros: weights.shape)
        if wantParameters { for part in parts { for i in dW.data.indices { dW.data[i] += part[i] } } }
        var dB = Tensor(zeros: [m])
        if wantParameters {
            for image in 0..<n {
                for channel in 0..<m {
                    let base = (image * m + channel) * positions
                    var sum: Float = 0
                    for i in base..<(base + positions) { sum += dY.data[i] }
                    dB.data[channel] += sum
                }
            }
        }
        return (dX, dW, dB)
    }

    /// Y = X W^T + b on rows of X.
    static func innerProduct(_ x: Tensor, weights: Tensor, dY: Tensor, wantParameters: Bool) -> (Tensor, Tensor, Tensor) {
        let n = x.shape[0], k = x.count / max(1, n), m = weights.shape[0]
        var dX = Tensor(zeros: x.shape), dW = Tensor(zeros: weights.shape), dB = Tensor(zeros: [m])
        dY.data.withUnsafeBufferPointer { dyb in
            weights.data.withUnsafeBufferPointer { wb in
                dX.data.withUnsafeMutableBufferPointer { BLAS.gemm(m: n, n: k, k: m, a: dyb.baseAddress!, b: wb.baseAddress!, c: $0.baseAddress!) }
            }
            if wantParameters {
                x.data.withUnsafeBufferPointer { xb in
                    dW.data.withUnsafeMutableBufferPointer {
                        BLAS.gemm(transposeA: true, m: m, n: k, k: n, a: dyb.baseAddress!, b: xb.baseAddress!, c: $0.baseAddress!)
                    }
                }
                for row in 0..<n { for j in 0..<m { dB.data[j] += dyb[row * m + j] } }
            }
        }
        return (dX, dW, dB)
    }

    /// MAX sends each output's gradient to the first largest input of its window (the one the
    /// reference keeps: later equal values do not replace it); AVE spreads it over the window by
    /// Caffe's divisor.
    static func pooling(_ x: Tensor, _ a: PoolingAttributes, dY: Tensor) -> Tensor {
        let (n, c, h, w) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
        let (oh, ow) = (dY.shape[2], dY.shape[3])
        let (kernel, stride, pad) = a.window(height: h, width: w)
        var dX = Tensor(zeros: x.shape)
        for plane in 0..<(n * c) {
            for oy in 0..<oh {
                for ox in 0..<ow {
                    let y0 = oy * stride.h - pad.h, x0 = ox * stride.w - pad.w
                    let g = dY.data[(plane * oh + oy) * ow + ox]
                    let rows = max(y0, 0)..<min(y0 + kernel.h, h), columns = max(x0, 0)..<min(x0 + kernel.w, w)
                    if a.method == .max {
                        var best = -Float.infinity, at = -1
                        for iy in rows {
                            for ix in columns where x.data[(plane * h + iy) * w + ix] > best || at < 0 {
                                best = x.data[(plane * h + iy) * w + ix]
                                at = (plane * h + iy) * w + ix
                            }
                        }
                        if at >= 0 { dX.data[at] += g }
                    } else {
                        let divisor = Float((min(y0 + kernel.h, h + pad.h) - y0) * (min(x0 + kernel.w, w + pad.w) - x0))
                        for iy in rows { for ix in columns { dX.data[(plane * h + iy) * w + ix] += g / divisor } }
                    }
                }
            }
        }
        return dX
    }

    /// y_i = x_i s_i^-beta with s_i = k + alpha/n * (sum of x^2 over i's window): dx_j = dy_j s_j^-beta
    /// - 2 alpha beta / n * x_j * sum over the windows i containing j of dy_i x_i s_i^(-beta-1).
    /// WITHIN_CHANNEL uses 1 for k and n = size^2 (the padded window), as the forward does.
    static func lrn(_ x: Tensor, _ a: LRNAttributes, dY: Tensor) -> Tensor {
        let across = a.region == .acrossChannels
        let count = Float(across ? a.localSize : a.localSize * a.localSize)
        let offset: Float = across ? a.k : 1
        let half = (a.localSize - 1) / 2
        let squares = x.data.map { $0 * $0 }
        let s = windowSums(squares, shape: x.shape, across: across, half: half).map { offset + a.alpha / count * $0 }
        // The windows are symmetric: i's window contains j exactly when j's contains i.
        let t = x.data.indices.map { i in dY.data[i] * x.data[i] * Foundation.pow(s[i], -a.beta - 1) }
        let sums = windowSums(t, shape: x.shape, across: across, half: half)
        var dX = Tensor(zeros: x.shape)
        for j in dX.data.indices {
            dX.data[j] = dY.data[j] * Foundation.pow(s[j], -a.beta) - 2 * a.alpha * a.beta / count * x.data[j] * sums[j]
        }
        return dX
    }

    /// Sums of `values` ([N, C, H, W]) over each position's LRN window: `half` channels either
    /// side, or the (2 half + 1)^2 square around it within its channel, clipped at the edges.
    static func windowSums(_ values: [Float], shape: Shape, across: Bool, half: Int) -> [Float] {
        let (n, c, h, w) = (shape[0], shape[1], shape[2], shape[3])
        let plane = h * w
        var result = [Float](repeating: 0, count: values.count)
        for image in 0..<n {
            for channel in 0..<c {
                let base = (image * c + channel) * plane
                if across {
                    for other in max(0, channel - half)...min(c - 1, channel + half) {
                        let source = (image * c + other) * plane
                        for i in 0..<plane { result[base + i] += values[source + i] }
                    }
                    continue
                }
                for y in 0..<h {
                    for xx in 0..<w {
                        var sum: Float = 0
                        for yy in max(0, y - half)...min(h - 1, y + half) {
                            for xw in max(0, xx - half)...min(w - 1, xx + half) { sum += values[base + yy * w + xw] }
                        }
                        result[base + y * w + xx] = sum
                    }
                }
            }
        }
        return result
    }

    static func eltwise(_ inputs: [Tensor], _ a: EltwiseAttributes, output: Tensor, dY: Tensor) -> [Tensor?] {
        switch a.operation {
        case .sum:
            let coefficients = a.coefficients.isEmpty ? [Float](repeating: 1, count: inputs.count) : a.coefficients
            return coefficients.map { coefficient in
                var dX = dY
                if coefficient != 1 { for i in dX.data.indices { dX.data[i] *= coefficient } }
                return dX
            }
        case .product:
            return inputs.indices.map { position in
                var dX = dY
                for (other, input) in inputs.enumerated() where other != position {
                    for i in dX.data.indices { dX.data[i] *= input.data[i] }
                }
                return dX
            }
        case .max:
            // To the first input holding the maximum, as the forward keeps the first of equals.
            var owner = [Int](repeating: 0, count: dY.count)
            var best = inputs[0].data
            for (position, input) in inputs.enumerated().dropFirst() {
                for i in best.indices where input.data[i] > best[i] { best[i] = input.data[i]; owner[i] = position }
            }
            return inputs.indices.map { position in
                var dX = Tensor(zeros: dY.shape)
                for i in dX.data.indices where owner[i] == position { dX.data[i] = dY.data[i] }
                return dX
            }
        }
    }

    /// dY times a factor per index of `channelAxis`.
    static func perChannel(_ dY: Tensor, channelAxis: Int, factors: [Float]) -> Tensor {
        let inner = dY.shape.count(from: channelAxis + 1), channels = factors.count
        var dX = dY
        for i in dX.data.indices { dX.data[i] *= factors[(i / inner) % channels] }
        return dX
    }

    /// Per index of `channelAxis`, the sum of dY (times `weighting` when given).
    static func channelSums(_ dY: Tensor, channelAxis: Int, weighting: Tensor?) -> Tensor {
        let channels = dY.shape[channelAxis], inner = dY.shape.count(from: channelAxis + 1)
        var sums = Tensor(zeros: [channels])
        for i in dY.data.indices { sums.data[(i / inner) % channels] += dY.data[i] * (weighting?.data[i] ?? 1) }
        return sums
    }

    /// dx = y (dy - sum(dy y)) along the axis.
    static func softmax(_ y: Tensor, axis: Int, dY: Tensor) -> Tensor {
        let outer = y.shape.count(upTo: axis), length = y.shape[axis], inner = y.shape.count(from: axis + 1)
        var dX = Tensor(zeros: y.shape)
        for o in 0..<outer {
            for i in 0..<inner {
                var dot: Float = 0
                for l in 0..<length { let at = (o * length + l) * inner + i; dot += dY.data[at] * y.data[at] }
                for l in 0..<length { let at = (o * length + l) * inner + i; dX.data[at] = y.data[at] * (dY.data[at] - dot) }
            }
        }
        return dX
    }
}

extension Im2colGeometry {
    /// The reverse of `im2col`: adds each column entry back onto the image cell it was copied
    /// from (padding cells are dropped).
    func col2im(_ columns: UnsafePointer<Float>, rowStride: Int, adding image: UnsafeMutablePointer<Float>) {
        var row = 0
        for channel in 0..<channels {
            let plane = image + channel * height * width
            for ky in 0..<kernel.h {
                for kx in 0..<kernel.w {
                    let source = columns + row * rowStride
                    for oy in 0..<outHeight {
                        let iy = oy * stride.h - pad.h + ky * dilation.h
                        guard iy >= 0 && iy < height else { continue }
                        for ox in 0..<outWidth {
                            let ix = ox * stride.w - pad.w + kx * dilation.w
                            if ix >= 0 && ix < width { plane[iy * width + ix] += source[oy * outWidth + ox] }
                        }
                    }
                    row += 1
                }
            }
        }
    }
}
