import TensorGraph

/// The correlation `H = sum x x^T` of the input vectors a weight layer multiplies its weights
/// with: im2col columns for a convolution, input rows for an inner product. Error-compensated
/// rounding weighs weight errors by it.
public enum InputCorrelation {
    /// `H` as [K, K] row-major (K = inputs per output value), or nil for layers it does not cover
    /// (grouped convolutions, transposed or non-axis-1 inner products).
    public static func gram(of node: Node, input: Tensor) -> [Float]? {
        switch node.op {
        case let .convolution(a):
            guard a.group == 1, input.shape.rank == 4 else { return nil }
            return convolutionGram(input, a)
        case let .innerProduct(a):
            guard a.axis == 1, !a.transpose, input.shape.rank >= 1 else { return nil }
            let rows = input.shape[0], k = input.count / max(1, input.shape[0])
            var h = [Float](repeating: 0, count: k * k)
            input.data.withUnsafeBufferPointer { x in
                h.withUnsafeMutableBufferPointer { BLAS.syrkAccumulate(transpose: true, n: k, k: rows, a: x.baseAddress!, c: $0.baseAddress!) }
            }
            return symmetrized(h, size: k)
        default:
            return nil
        }
    }

    static func convolutionGram(_ x: Tensor, _ a: ConvolutionAttributes) -> [Float]? {
        let (n, c, h, w) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
        let oh = (h + 2 * a.pad.h - (a.dilation.h * (a.kernel.h - 1) + 1)) / a.stride.h + 1
        let ow = (w + 2 * a.pad.w - (a.dilation.w * (a.kernel.w - 1) + 1)) / a.stride.w + 1
        guard oh > 0, ow > 0 else { return nil }
        let k = c * a.kernel.h * a.kernel.w, p = oh * ow
        let geometry = Im2colGeometry(channels: c, height: h, width: w, kernel: a.kernel, stride: a.stride,
                                      pad: a.pad, dilation: a.dilation, outHeight: oh, outWidth: ow)
        // One partial H per worker over its share of the images, summed at the end.
        let parts = try? Parallel.map(min(Parallel.workers, n)) { worker -> [Float] in
            var partial = [Float](repeating: 0, count: k * k)
            var columns = [Float](repeating: 0, count: k * p)
            x.data.withUnsafeBufferPointer { xBuffer in
                columns.withUnsafeMutableBufferPointer { col in
                    partial.withUnsafeMutableBufferPointer { hBuffer in
                        let workers = min(Parallel.workers, n)
                        for image in (worker * n / workers)..<((worker + 1) * n / workers) {
                            geometry.im2col(xBuffer.baseAddress! + image * c * h * w, into: col.baseAddress!, rowStride: p)
                            BLAS.syrkAccumulate(transpose: false, n: k, k: p, a: col.baseAddress!, c: hBuffer.baseAddress!)
                        }
                    }
                }
            }
            return partial
        }
        guard let parts, var total = parts.first else { return nil }
        for part in parts.dropFirst() { for i in total.indices { total[i] += part[i] } }
        return symmetrized(total, size: k)
    }

    /// Copies the upper triangle that syrk wrote onto the lower one.
    static func symmetrized(_ upper: [Float], size n: Int) -> [Float] {
        var full = upper
        for i in 0..<n { for j in 0..<i { full[i * n + j] = upper[j * n + i] } }
        return full
    }
}
