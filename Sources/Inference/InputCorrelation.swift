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

    /// The moments layer reconstruction needs on one batch, each input vector extended by a
    /// constant 1: `gram = sum x~ x~^T` over the quantized network's inputs to `node` and
    /// `cross = sum x~ x^T` against the float network's, both [K + 1, K + 1] row-major; nil for
    /// layers `gram(of:input:)` does not cover. Runs on the calling thread.
    public static func reconstructionMoments(of node: Node, quantized: Tensor, float: Tensor) -> (gram: [Float], cross: [Float])? {
        guard quantized.shape == float.shape, quantized.shape.rank >= 1 else { return nil }
        let k: Int
        switch node.op {
        case let .convolution(a):
            guard a.group == 1, float.shape.rank == 4 else { return nil }
            let (c, h, w) = (float.shape[1], float.shape[2], float.shape[3])
            let oh = (h + 2 * a.pad.h - (a.dilation.h * (a.kernel.h - 1) + 1)) / a.stride.h + 1
            let ow = (w + 2 * a.pad.w - (a.dilation.w * (a.kernel.w - 1) + 1)) / a.stride.w + 1
            guard oh > 0, ow > 0 else { return nil }
            k = c * a.kernel.h * a.kernel.w
            let geometry = Im2colGeometry(channels: c, height: h, width: w, kernel: a.kernel, stride: a.stride,
                                          pad: a.pad, dilation: a.dilation, outHeight: oh, outWidth: ow)
            let positions = oh * ow
            // Enough images side by side that each product is a wide one.
            let perChunk = max(1, 4096 / positions)
            return momentsOfColumns(quantized, float, k: k, count: quantized.shape[0], perChunk: perChunk, columnsPerItem: positions) { x, item, destination, rowStride in
                x.data.withUnsafeBufferPointer { geometry.im2col($0.baseAddress! + item * c * h * w, into: destination, rowStride: rowStride) }
            }
        case let .innerProduct(a):
            guard a.axis == 1, !a.transpose else { return nil }
            k = float.count / float.shape[0]
            return momentsOfColumns(quantized, float, k: k, count: float.shape[0], perChunk: 256, columnsPerItem: 1) { x, item, destination, rowStride in
                x.data.withUnsafeBufferPointer { source in
                    for i in 0..<k { destination[i * rowStride] = source[item * k + i] }
                }
            }
        default:
            return nil
        }
    }

    /// Sums `gram` and `cross` over chunks of items, each item giving `columnsPerItem` input
    /// vectors that `write(tensor, item, destination, rowStride)` lays out as columns.
    static func momentsOfColumns(_ quantized: Tensor, _ float: Tensor, k: Int, count: Int, perChunk: Int, columnsPerItem: Int,
                                 write: (Tensor, Int, UnsafeMutablePointer<Float>, Int) -> Void) -> (gram: [Float], cross: [Float]) {
        let size = k + 1
        var gram = [Float](repeating: 0, count: size * size)
        var cross = gram
        var quantizedColumns = [Float](repeating: 0, count: size * perChunk * columnsPerItem)
        var floatColumns = quantizedColumns
        for first in stride(from: 0, to: count, by: perChunk) {
            let items = min(perChunk, count - first)
            let width = items * columnsPerItem
            for (tensor, buffer) in [(quantized, 0), (float, 1)] {
                func fill(_ columns: UnsafeMutablePointer<Float>) {
                    for item in 0..<items { write(tensor, first + item, columns + item * columnsPerItem, width) }
                    for j in 0..<width { columns[k * width + j] = 1 }
                }
                if buffer == 0 { quantizedColumns.withUnsafeMutableBufferPointer { fill($0.baseAddress!) } }
                else { floatColumns.withUnsafeMutableBufferPointer { fill($0.baseAddress!) } }
            }
            quantizedColumns.withUnsafeBufferPointer { q in
                floatColumns.withUnsafeBufferPointer { f in
                    gram.withUnsafeMutableBufferPointer { BLAS.syrkAccumulate(transpose: false, n: size, k: width, a: q.baseAddress!, c: $0.baseAddress!) }
                    cross.withUnsafeMutableBufferPointer {
                        BLAS.gemm(transposeB: true, m: size, n: size, k: width, a: q.baseAddress!, b: f.baseAddress!, c: $0.baseAddress!, accumulate: true)
                    }
                }
            }
        }
        return (symmetrized(gram, size: size), cross)
    }

    /// Copies the upper triangle that syrk wrote onto the lower one.
    static func symmetrized(_ upper: [Float], size n: Int) -> [Float] {
        var full = upper
        for i in 0..<n { for j in 0..<i { full[i * n + j] = upper[j * n + i] } }
        return full
    }
}
