import Foundation
import SIMDKernels
import TensorGraph

/// The engine's fast kernels. Each follows Caffe's CPU arithmetic (float32 intermediates,
/// Caffe's order wherever it is cheap to keep: pooling, LRN, bias after the sum) so results agree
/// with Caffe's; convolution and inner-product sums differ from Caffe's only in summation order.
enum Kernels {
    static func innerProduct(_ x: Tensor, _ a: InnerProductAttributes, weights: Tensor, bias: Tensor?, outputShape: Shape,
                             prepared: PreparedWeights.Slot? = nil, vectorUnit: Bool = VectorUnit.available) -> Tensor {
        if #available(macOS 26, *), vectorUnit, VectorUnit.available {
            return vectorInnerProduct(x, a, weights: weights, bias: bias, outputShape: outputShape, prepared: prepared)
        }
        return blasInnerProduct(x, a, weights: weights, bias: bias, outputShape: outputShape)
    }

    /// The inner product by the register kernel, blocks of rows on each core; a row's result is
    /// the same in any batch.
    @available(macOS 26, *)
    static func vectorInnerProduct(_ x: Tensor, _ a: InnerProductAttributes, weights: Tensor, bias: Tensor?, outputShape: Shape,
                                   prepared: PreparedWeights.Slot? = nil) -> Tensor {
        let rows = x.shape.count(upTo: a.axis), k = x.shape.count(from: a.axis), n = a.numOutput
        let kernel = InnerProductKernel(inputs: k, outputs: n, wide: VectorUnit.wideVectors)
        let pack = { weights.data.withUnsafeBufferPointer { kernel.packWeights($0.baseAddress!, transposed: a.transpose) } }
        let packed = prepared?.packed(.innerProduct, pack) ?? pack()
        var output = Tensor(uninitialized: outputShape)
        withKernelPointers(x, packed, bias, &output) { xp, wp, bp, yp in
            // Fewer rows than cores (latency): each core takes every row and a share of the
            // outputs, and with it a share of the weights, which then stay in its own cache;
            // otherwise a block of rows and every output.
            let byPanels = Parallel.splitsWithinItems(rows)
            Parallel.forEachWorker(byPanels ? kernel.panels : rows) { share in
                let block = byPanels ? 0..<rows : share
                guard !block.isEmpty else { return }
                kernel.run(rows: block.count, input: xp.base + block.lowerBound * k, packedWeights: wp.base, bias: bp?.base,
                           output: yp.base + block.lowerBound * n, panels: byPanels ? share : nil)
            }
        }
        return output
    }

    /// The inner product by OpenBLAS, for CPUs without the vector unit.
    static func blasInnerProduct(_ x: Tensor, _ a: InnerProductAttributes, weights: Tensor, bias: Tensor?, outputShape: Shape) -> Tensor {
        let rows = x.shape.count(upTo: a.axis)
        let k = x.shape.count(from: a.axis)
        let n = a.numOutput
        var output = Tensor(uninitialized: outputShape)
        x.data.withUnsafeBufferPointer { xb in
            weights.data.withUnsafeBufferPointer { wb in
                output.data.withUnsafeMutableBufferPointer { yb in
                    let xp = SharedConstPointer(xb.baseAddress!), wp = SharedConstPointer(wb.baseAddress!)
                    let yp = SharedPointer(yb.baseAddress!)
                    if rows == 1 {
                        // One image (latency): a matrix-vector product, on one core (splitting its
                        // outputs between two cores measured slower on LeNet's 500 x 800).
                        BLAS.gemv(transpose: a.transpose, m: n, k: k, a: wp.base, lda: a.transpose ? n : k, x: xp.base, y: yp.base)
                        if let bias { for j in 0..<n { yp.base[j] += bias.data[j] } }
                        return
                    }
                    // Rows (images) are independent: each core multiplies its own block of rows.
                    Parallel.forEachWorker(rows) { block in
                        guard !block.isEmpty else { return }
                        BLAS.gemm(transposeB: !a.transpose, m: block.count, n: n, k: k,
                                  a: xp.base + block.lowerBound * k, b: wp.base, c: yp.base + block.lowerBound * n)
                        if let bias {
                            for r in block {
                                for j in 0..<n { yp.base[r * n + j] += bias.data[j] }
                            }
                        }
                    }
                }
            }
        }
        return output
    }

    static func pooling(_ x: Tensor, _ a: PoolingAttributes, outputShape: Shape, vectorUnit: Bool = VectorUnit.available) -> Tensor {
        if #available(macOS 26, *), vectorUnit, VectorUnit.available {
            return vectorPooling(x, a, outputShape: outputShape)
        }
        return scalarPooling(x, a, outputShape: outputShape)
    }

    /// Pooling by the vector kernels, whole planes per core.
    @available(macOS 26, *)
    static func vectorPooling(_ x: Tensor, _ a: PoolingAttributes, outputShape: Shape) -> Tensor {
        let (n, c, h, w) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
        let (kernel, stride, pad) = a.window(height: h, width: w)
        let pooling = PlanePooling(height: h, width: w, outHeight: outputShape[2], outWidth: outputShape[3],
                                   kernel: (kernel.h, kernel.w), stride: (stride.h, stride.w), pad: (pad.h, pad.w),
                                   average: a.method != .max, wide: VectorUnit.wideVectors)
        var output = Tensor(uninitialized: outputShape)
        x.data.withUnsafeBufferPointer { xb in
            output.data.withUnsafeMutableBufferPointer { yb in
                let xp = SharedConstPointer(xb.baseAddress!), yp = SharedPointer(yb.baseAddress!)
                Parallel.forEachWorker(n * c, minimumPerChunk: Parallel.minimumChunk(itemSize: h * w)) { planes in
                    Parallel.withScratch(pooling.scratchCount) {
                        pooling.run(planes: xp.base + planes.lowerBound * h * w, count: planes.count,
                                    output: yp.base + planes.lowerBound * pooling.outHeight * pooling.outWidth, scratch: $0)
                    }
                }
            }
        }
        return output
    }

    static func scalarPooling(_ x: Tensor, _ a: PoolingAttributes, outputShape: Shape) -> Tensor {
        let (n, c, h, w) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
        let (oh, ow) = (outputShape[2], outputShape[3])
        let (kernel, stride, pad) = a.window(height: h, width: w)
        // Window bounds per output row and column, computed once: [start, end) clipped to the
        // image, and (for AVE) Caffe's divisor, which clips at the padded border instead.
        func windows(_ count: Int, _ k: Int, _ s: Int, _ p: Int, _ size: Int) -> [(lo: Int, hi: Int, padded: Int)] {
            (0..<count).map { o in
                let start = o * s - p
                let paddedEnd = min(start + k, size + p)
                return (max(start, 0), min(start + k, size), paddedEnd - start)
            }
        }
        let rows = windows(oh, kernel.h, stride.h, pad.h, h)
        let columns = windows(ow, kernel.w, stride.w, pad.w, w)
        var output = Tensor(uninitialized: outputShape)
        let isMax = a.method == .max
        x.data.withUnsafeBufferPointer { xb in
            output.data.withUnsafeMutableBufferPointer { yb in
                let xp = SharedConstPointer(xb.baseAddress!), yp = SharedPointer(yb.baseAddress!)
                Parallel.forEach(n * c, minimumPerChunk: Parallel.minimumChunk(itemSize: h * w)) { plane in
                    let src = xp.base + plane * h * w
                    var dst = yp.base + plane * oh * ow
                    if isMax {
                        // Max is exact in any order, so pool separably: the element-wise max of the
                        // window's rows (vectorizes), then a max over each column window of that row.
                        var rowMax = [Float](repeating: 0, count: w)
                        for row in rows {
                            rowMax.withUnsafeMutableBufferPointer { m in
                                m.update(repeating: -Float.greatestFiniteMagnitude)
                                var line = src + row.lo * w
                                for _ in row.lo..<row.hi {
                                    for xx in 0..<w { m[xx] = max(m[xx], line[xx]) }
                                    line += w
                                }
                                for column in columns {
                                    var best = -Float.greatestFiniteMagnitude
                                    for xx in column.lo..<column.hi { best = max(best, m[xx]) }
                                    dst.pointee = best
                                    dst += 1
                                }
                            }
                        }
                        return
                    }
                    // Average: summed in Caffe's row-major window order to keep its rounding.
                    for row in rows {
                        for column in columns {
                            var line = src + row.lo * w
                            var sum: Float = 0
                            for _ in row.lo..<row.hi {
                                for xx in column.lo..<column.hi { sum += line[xx] }
                                line += w
                            }
                            dst.pointee = sum / Float(row.padded * column.padded)
                            dst += 1
                        }
                    }
                }
            }
        }
        return output
    }

    static func relu(_ y: inout Tensor, negativeSlope: Float) {
        y.data.withUnsafeMutableBufferPointer { v in
            if negativeSlope == 0 {
                for i in v.indices { v[i] = max(v[i], 0) }
            } else {
                for i in v.indices { v[i] = max(v[i], 0) + negativeSlope * min(v[i], 0) }
            }
        }
    }

    static func sigmoid(_ y: inout Tensor) {
        y.data.withUnsafeMutableBufferPointer { v in
            for i in v.indices { v[i] = 0.5 * Foundation.tanh(0.5 * v[i]) + 0.5 }
        }
    }

    static func tanh(_ y: inout Tensor) {
        y.data.withUnsafeMutableBufferPointer { v in
            for i in v.indices { v[i] = Foundation.tanh(v[i]) }
        }
    }

    /// Caffe's PReLU: max(x, 0) + slope × min(x, 0), the slope per channel (axis 1) or shared.
    static func prelu(_ y: inout Tensor, slopes: Tensor) {
        let channels = y.shape.rank > 1 ? y.shape[1] : 1, plane = y.shape.rank > 2 ? y.shape.count(from: 2) : 1
        let slope = slopes.data
        y.data.withUnsafeMutableBufferPointer { values in
            for start in stride(from: 0, to: values.count, by: plane) {
                let a = slope[slope.count == 1 ? 0 : (start / plane) % channels]
                for i in start..<(start + plane) {
                    let v = values[i]
                    values[i] = Swift.max(v, 0) + a * Swift.min(v, 0)
                }
            }
        }
    }

    /// Axis permutation: walks the output in order, stepping through the input by its strides.
    static func permute(_ x: Tensor, order: [Int], outputShape: Shape) -> Tensor {
        let rank = order.count
        var inputStrides = [Int](repeating: 1, count: rank)
        for axis in stride(from: rank - 2, through: 0, by: -1) { inputStrides[axis] = inputStrides[axis + 1] * x.shape[axis + 1] }
        let steps = order.map { inputStrides[$0] }
        var y = Tensor(uninitialized: outputShape)
        var index = [Int](repeating: 0, count: rank)
        var source = 0
        for position in 0..<y.count {
            y.data[position] = x.data[source]
            // Advance the output index like an odometer, keeping the input offset in step.
            var axis = rank - 1
            while axis >= 0 {
                index[axis] += 1
                source += steps[axis]
                if index[axis] < outputShape[axis] { break }
                source -= steps[axis] * index[axis]
                index[axis] = 0
                axis -= 1
            }
        }
        return y
    }

    static func clip(_ y: inout Tensor, min: Float, max: Float) {
        y.data.withUnsafeMutableBufferPointer { values in
            for i in values.indices { values[i] = Swift.min(Swift.max(values[i], min), max) }
        }
    }

    static func absVal(_ y: inout Tensor) {
        y.data.withUnsafeMutableBufferPointer { v in
            for i in v.indices { v[i] = abs(v[i]) }
        }
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
    /// - Parameter vectorUnit: whether the within-channel form may use the vector kernel (tests
    ///   run both).
    static func lrn(_ x: Tensor, _ a: LRNAttributes, vectorUnit: Bool = VectorUnit.available) -> Tensor {
        let (n, c, h, w) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
        let plane = h * w
        var y = Tensor(uninitialized: x.shape)
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
                    if #available(macOS 26, *), vectorUnit, VectorUnit.available {
                        let kernel = WithinChannelLRN(height: h, width: w, size: a.localSize, alpha: a.alpha, beta: a.beta,
                                                      wide: VectorUnit.wideVectors)
                        Parallel.forEachWorker(n * c, minimumPerChunk: Parallel.minimumChunk(itemSize: plane)) { planes in
                            Parallel.withScratch(kernel.scratchCount) {
                                kernel.run(planes: xp.base + planes.lowerBound * plane, count: planes.count,
                                           output: yp.base + planes.lowerBound * plane, scratch: $0)
                            }
                        }
                        return
                    }
                    let size = a.localSize, pad = (size - 1) / 2
                    let divisor = Float(size * size)
                    Parallel.forEach(n * c, minimumPerChunk: Parallel.minimumChunk(itemSize: plane)) { index in
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
        var y = Tensor(uninitialized: outputShape)
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

    static func eltwise(_ inputs: [Tensor], _ a: EltwiseAttributes, epilogue: ChannelEpilogue? = nil) -> Tensor {
        var y = inputs[0]
        switch a.operation {
        case .sum:
            return weightedSum(inputs, coefficients: a.coefficients.isEmpty ? [Float](repeating: 1, count: inputs.count) : a.coefficients,
                               epilogue: epilogue)
        case .product:
            for input in inputs.dropFirst() {
                for i in y.data.indices { y.data[i] *= input.data[i] }
            }
        case .max:
            for input in inputs.dropFirst() {
                for i in y.data.indices where input.data[i] > y.data[i] { y.data[i] = input.data[i] }
            }
        }
        precondition(epilogue == nil, "only Eltwise SUM takes a fused epilogue")
        return y
    }

    /// Eltwise SUM in Caffe's order: zero, then add each coefficient times its input, written
    /// into a new tensor; with an epilogue, channel plane by channel plane so each plane's sum is
    /// still in cache when the epilogue's layers run on it.
    static func weightedSum(_ inputs: [Tensor], coefficients: [Float], epilogue: ChannelEpilogue? = nil) -> Tensor {
        var y = Tensor(uninitialized: inputs[0].shape)
        let shape = y.shape
        let channels = shape.rank > 1 ? shape[1] : 1, plane = shape.rank > 2 ? shape.count(from: 2) : 1
        let chunk = epilogue == nil ? max(1, y.count) : plane
        y.data.withUnsafeMutableBufferPointer { out in
            for start in stride(from: 0, to: out.count, by: chunk) {
                let range = start..<min(out.count, start + chunk)
                // (0 + c0 x0) + c1 x1 + ...: the first two inputs in one pass (a coefficient of 1
                // multiplies exactly, so it needs no case of its own), any others added after.
                let c0 = coefficients[0]
                inputs[0].data.withUnsafeBufferPointer { a in
                    if inputs.count > 1 {
                        let c1 = coefficients[1]
                        inputs[1].data.withUnsafeBufferPointer { b in
                            for i in range { out[i] = (0 + c0 * a[i]) + c1 * b[i] }
                        }
                    } else {
                        for i in range { out[i] = 0 + c0 * a[i] }
                    }
                }
                for (input, coefficient) in zip(inputs, coefficients).dropFirst(2) {
                    input.data.withUnsafeBufferPointer { x in
                        for i in range { out[i] += coefficient * x[i] }
                    }
                }
                epilogue?.apply(out.baseAddress! + start, count: range.count, channel: (start / plane) % channels)
            }
        }
        return y
    }

    /// Caffe's global-statistics batch norm: statistics scaled by 1/factor (a float reciprocal),
    /// then (x - mean) / sqrt(variance + eps).
    static func batchNorm(_ y: inout Tensor, _ a: BatchNormAttributes, mean: Tensor, variance: Tensor, factor: Tensor) {
        let channels = y.shape[1]
        let outer = y.shape[0], inner = y.shape.count(from: 2)
        let (means, deviations) = batchNormStatistics(a, mean: mean, variance: variance, factor: factor)
        y.data.withUnsafeMutableBufferPointer { v in
            for o in 0..<outer {
                for ch in 0..<channels {
                    let base = (o * channels + ch) * inner
                    let mu = means[ch], sigma = deviations[ch]
                    for i in base..<(base + inner) { v[i] = (v[i] - mu) / sigma }
                }
            }
        }
    }

    /// Batch norm's per-channel mean and deviation, sqrt(variance + eps), from its stored blobs.
    static func batchNormStatistics(_ a: BatchNormAttributes, mean: Tensor, variance: Tensor, factor: Tensor)
        -> (means: [Float], deviations: [Float]) {
        let stored = factor.data[0]
        let scaleFactor: Float = stored == 0 ? 0 : 1 / stored
        return (mean.data.map { scaleFactor * $0 }, variance.data.map { (scaleFactor * $0 + a.eps).squareRoot() })
    }

    static func scale(_ y: inout Tensor, _ a: ScaleAttributes, scale: Tensor, bias: Tensor?) {
        let outer = y.shape.count(upTo: a.axis)
        let dims = scale.count
        let inner = y.shape.count(from: a.axis + a.numAxes)
        y.data.withUnsafeMutableBufferPointer { v in
            for o in 0..<outer {
                for d in 0..<dims {
                    let base = (o * dims + d) * inner
                    let factor = scale.data[d]
                    for i in base..<(base + inner) { v[i] = factor * v[i] }
                    if let bias {
                        let b = bias.data[d]
                        for i in base..<(base + inner) { v[i] += b }
                    }
                }
            }
        }
    }
}
