import TensorGraph

extension Kernels {
    /// Convolution as batched im2col + one GEMM per group over every image of the batch at once.
    ///
    /// The column matrix holds all images side by side ([K, images x P]), so OpenBLAS sees one
    /// large multiplication instead of Caffe's one small GEMM per image. Each output element is
    /// still a dot product over the same K values in the same order, which keeps results equal
    /// to Caffe's. Large batches are processed in slices to bound the column buffer.
    static func convolution(_ x: Tensor, _ a: ConvolutionAttributes, weights: Tensor, bias: Tensor?, outputShape: Shape) -> Tensor {
        let (n, c, h, w) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
        let (m, oh, ow) = (outputShape[1], outputShape[2], outputShape[3])
        let groups = a.group
        let cg = c / groups, mg = m / groups
        let kernelSize = cg * a.kernel.h * a.kernel.w
        let p = oh * ow
        let imagesPerSlice = max(1, min(n, columnBudget / max(1, kernelSize * p)))
        var output = Tensor(zeros: outputShape)
        var columns = [Float](repeating: 0, count: kernelSize * p * imagesPerSlice)
        var product = [Float](repeating: 0, count: mg * p * imagesPerSlice)
        let geometry = Im2colGeometry(channels: cg, height: h, width: w, kernel: a.kernel, stride: a.stride,
                                      pad: a.pad, dilation: a.dilation, outHeight: oh, outWidth: ow)

        x.data.withUnsafeBufferPointer { xBuffer in
            weights.data.withUnsafeBufferPointer { wBuffer in
                output.data.withUnsafeMutableBufferPointer { yBuffer in
                    columns.withUnsafeMutableBufferPointer { colBuffer in
                        product.withUnsafeMutableBufferPointer { productBuffer in
                            let xp = SharedConstPointer(xBuffer.baseAddress!)
                            let colp = SharedPointer(colBuffer.baseAddress!)
                            let yp = SharedPointer(yBuffer.baseAddress!)
                            let prodp = SharedPointer(productBuffer.baseAddress!)
                            var first = 0
                            while first < n {
                                let count = min(imagesPerSlice, n - first)
                                let columnsWide = count * p
                                for g in 0..<groups {
                                    let sliceStart = first
                                    Parallel.forEach(count) { i in
                                        let image = xp.base + ((sliceStart + i) * c + g * cg) * h * w
                                        geometry.im2col(image, into: colp.base + i * p, rowStride: columnsWide)
                                    }
                                    BLAS.gemm(m: mg, n: columnsWide, k: kernelSize,
                                              a: wBuffer.baseAddress! + g * mg * kernelSize,
                                              b: colp.base, c: prodp.base)
                                    // Scatter [mg, images x P] back to NCHW, adding the bias as Caffe does (after the GEMM).
                                    Parallel.forEach(count) { i in
                                        for oc in 0..<mg {
                                            let channel = g * mg + oc
                                            let src = prodp.base + oc * columnsWide + i * p
                                            let dst = yp.base + ((sliceStart + i) * m + channel) * p
                                            if let bias {
                                                let b = bias.data[channel]
                                                for j in 0..<p { dst[j] = src[j] + b }
                                            } else {
                                                dst.update(from: src, count: p)
                                            }
                                        }
                                    }
                                }
                                first += count
                            }
                        }
                    }
                }
            }
        }
        return output
    }

    /// Column-buffer size limit in floats (64 MiB) for one batched convolution slice.
    static let columnBudget = 16 << 20
}

/// Index arithmetic of im2col for one image and one group of channels.
struct Im2colGeometry: Sendable {
    let channels, height, width: Int
    let kernel, stride, pad, dilation: Size2
    let outHeight, outWidth: Int

    /// Writes the image's patches as rows (channel, ky, kx) and columns (oy, ox) of a matrix
    /// whose rows are `rowStride` floats apart.
    func im2col(_ image: UnsafePointer<Float>, into columns: UnsafeMutablePointer<Float>, rowStride: Int) {
        var row = 0
        for channel in 0..<channels {
            let plane = image + channel * height * width
            for ky in 0..<kernel.h {
                for kx in 0..<kernel.w {
                    let dst = columns + row * rowStride
                    let xOffset = kx * dilation.w - pad.w
                    for oy in 0..<outHeight {
                        let iy = oy * stride.h - pad.h + ky * dilation.h
                        let out = dst + oy * outWidth
                        if iy < 0 || iy >= height {
                            out.update(repeating: 0, count: outWidth)
                            continue
                        }
                        let src = plane + iy * width
                        if stride.w == 1 {
                            // Contiguous run: zero the padded ends, copy the middle.
                            let lo = max(0, -xOffset)
                            let hi = min(outWidth, width - xOffset)
                            if lo > 0 { out.update(repeating: 0, count: min(lo, outWidth)) }
                            if hi > lo { (out + lo).update(from: src + lo + xOffset, count: hi - lo) }
                            if hi < outWidth { (out + max(hi, 0)).update(repeating: 0, count: outWidth - max(hi, 0)) }
                        } else {
                            for ox in 0..<outWidth {
                                let ix = ox * stride.w + xOffset
                                out[ox] = ix >= 0 && ix < width ? src[ix] : 0
                            }
                        }
                    }
                    row += 1
                }
            }
        }
    }
}
