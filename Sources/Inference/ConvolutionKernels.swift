import Foundation
import SIMDKernels
import TensorGraph

extension Kernels {
    /// - Parameter epilogue: per-channel layers applied to the outputs after the bias (only where
    ///   the vector unit exists: the epilogue's code needs it).
    static func convolution(_ x: Tensor, _ a: ConvolutionAttributes, weights: Tensor, bias: Tensor?, outputShape: Shape,
                            method: ConvolutionMethod, prepared: PreparedWeights.Slot? = nil, epilogue: ChannelEpilogue? = nil) -> Tensor {
        if #available(macOS 26, *), method != .gemm, VectorUnit.available {
            if method == .winograd, let winograd = winogradGeometry(x.shape, a, outputShape: outputShape, prepared: prepared) {
                return winogradConvolution(x, winograd, weights: weights, bias: bias, outputShape: outputShape, prepared: prepared,
                                           epilogue: epilogue)
            }
            return directConvolution(x, a, weights: weights, bias: bias, outputShape: outputShape, prepared: prepared, epilogue: epilogue)
        }
        precondition(epilogue == nil || VectorUnit.available, "a fused epilogue needs the vector unit")
        return gemmConvolution(x, a, weights: weights, bias: bias, outputShape: outputShape, epilogue: epilogue)
    }

    /// The Winograd geometry for a convolution it applies to and where it is estimated to take at
    /// most 0.9 of the direct convolution's time (few channels make its transforms cost more than
    /// they save).
    @available(macOS 26, *)
    static func winogradGeometry(_ inputShape: Shape, _ a: ConvolutionAttributes, outputShape: Shape,
                                 prepared: PreparedWeights.Slot? = nil) -> WinogradConvolution? {
        guard a.group == 1, WinogradConvolution.applies(kernel: (a.kernel.h, a.kernel.w), stride: (a.stride.h, a.stride.w),
                                                        dilation: (a.dilation.h, a.dilation.w)) else { return nil }
        let plan = {
            WinogradConvolution(channels: inputShape[1], height: inputShape[2], width: inputShape[3],
                                outChannels: outputShape[1], outHeight: outputShape[2], outWidth: outputShape[3],
                                kernel: a.kernel.h, pad: (a.pad.h, a.pad.w), wide: VectorUnit.wideVectors)
        }
        let geometry = prepared?.geometry(.winograd, plan) ?? plan()
        return geometry.costRatio(images: inputShape[0]) <= 0.9 ? geometry : nil
    }

    /// Convolution by Winograd's algorithm, a contiguous range of images on each core.
    @available(macOS 26, *)
    static func winogradConvolution(_ x: Tensor, _ geometry: WinogradConvolution, weights: Tensor, bias: Tensor?, outputShape: Shape,
                                    prepared: PreparedWeights.Slot? = nil, epilogue: ChannelEpilogue? = nil) -> Tensor {
        let n = x.shape[0], imageSize = x.shape.count(from: 1), outputSize = outputShape.count(from: 1)
        let transform = { weights.data.withUnsafeBufferPointer { geometry.transformWeights($0.baseAddress!) } }
        let packed = prepared?.packed(.winograd, transform) ?? transform()
        var output = Tensor(uninitialized: outputShape)
        withKernelPointers(x, packed, bias, &output) { xp, wp, bp, yp in
            // Fewer images than cores (latency): each core takes every image and a share of the
            // output channels; otherwise a share of the images and every channel.
            let byChannels = Parallel.splitsWithinItems(n)
            Parallel.forEachWorker(byChannels ? geometry.channelTileCount : n) { share in
                let images = byChannels ? 0..<n : share
                guard !images.isEmpty else { return }
                Parallel.withScratch(geometry.scratchCount) { scratch in
                    geometry.run(images: images.count, input: xp.base + images.lowerBound * imageSize, packedWeights: wp.base,
                                 bias: bp?.base, output: yp.base + images.lowerBound * outputSize, scratch: scratch,
                                 epilogue: epilogue, tiles: byChannels ? share : nil)
                }
            }
        }
        return output
    }

    /// Convolution by the register kernels, image by image on each core, no column matrix.
    @available(macOS 26, *)
    static func directConvolution(_ x: Tensor, _ a: ConvolutionAttributes, weights: Tensor, bias: Tensor?, outputShape: Shape,
                                  prepared: PreparedWeights.Slot? = nil, epilogue: ChannelEpilogue? = nil) -> Tensor {
        let (n, c, h, w) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
        let (m, oh, ow) = (outputShape[1], outputShape[2], outputShape[3])
        let groups = a.group
        let cg = c / groups, mg = m / groups
        let plan = {
            DirectConvolution(channels: cg, height: h, width: w, outChannels: mg, outHeight: oh, outWidth: ow,
                              kernel: (a.kernel.h, a.kernel.w), stride: (a.stride.h, a.stride.w), pad: (a.pad.h, a.pad.w),
                              dilation: (a.dilation.h, a.dilation.w), wide: VectorUnit.wideVectors)
        }
        let geometry = prepared?.geometry(.direct, plan) ?? plan()
        let k = geometry.kernelSize, p = oh * ow
        // Every group's tiles, one after another: group g's start at g * mg * k.
        let pack = { weights.data.withUnsafeBufferPointer { wb in (0..<groups).flatMap { geometry.packWeights(wb.baseAddress! + $0 * mg * k) } } }
        let packed = prepared?.packed(.direct, pack) ?? pack()
        var output = Tensor(uninitialized: outputShape)
        withKernelPointers(x, packed, bias, &output) { xp, wp, bp, yp in
            /// One image's groups, on all its blocks of positions or only on `blocks`, then the
            /// epilogue on what was written (the outputs are still in cache).
            @Sendable func convolve(_ image: Int, blocks: Range<Int>?, scratch: UnsafeMutablePointer<Float>) {
                for g in 0..<groups {
                    geometry.run(input: xp.base + (image * c + g * cg) * h * w, packedWeights: wp.base + g * mg * k,
                                 bias: bp.map { $0.base + g * mg }, output: yp.base + (image * m + g * mg) * p,
                                 scratch: scratch, blocks: blocks)
                }
                guard let epilogue else { return }
                guard let blocks else { return epilogue.apply(toImage: yp.base + image * m * p, channels: m, plane: p) }
                let positions = geometry.positions(ofBlocks: blocks)
                for channel in 0..<m {
                    epilogue.apply(yp.base + (image * m + channel) * p + positions.lowerBound, count: positions.count, channel: channel)
                }
            }
            if Parallel.splitsWithinItems(n) {
                // Fewer images than cores (latency): each core takes a share of each image's
                // output positions.
                for image in 0..<n {
                    Parallel.forEachWorker(geometry.blockCount) { blocks in
                        Parallel.withScratch(geometry.scratchCount) { convolve(image, blocks: blocks, scratch: $0) }
                    }
                }
                return
            }
            Parallel.forEachWorker(n) { images in
                Parallel.withScratch(geometry.scratchCount) { scratch in
                    for image in images { convolve(image, blocks: nil, scratch: scratch) }
                }
            }
        }
        return output
    }

    /// Runs `body` with pointers to the input, the packed weights, the bias (if any) and the output,
    /// ready to hand to worker threads.
    static func withKernelPointers(_ x: Tensor, _ packed: [Float], _ bias: Tensor?, _ output: inout Tensor,
                                   _ body: (SharedConstPointer<Float>, SharedConstPointer<Float>, SharedConstPointer<Float>?, SharedPointer<Float>) -> Void) {
        x.data.withUnsafeBufferPointer { xBuffer in
            packed.withUnsafeBufferPointer { packedBuffer in
                (bias?.data ?? []).withUnsafeBufferPointer { biasBuffer in
                    output.data.withUnsafeMutableBufferPointer { yBuffer in
                        body(SharedConstPointer(xBuffer.baseAddress!), SharedConstPointer(packedBuffer.baseAddress!),
                             bias == nil ? nil : SharedConstPointer(biasBuffer.baseAddress!), SharedPointer(yBuffer.baseAddress!))
                    }
                }
            }
        }
    }

    /// Convolution as im2col + GEMM over slices of several images at once.
    ///
    /// A slice's column matrix holds its images side by side ([K, images x P]), so OpenBLAS sees
    /// one wide multiplication instead of Caffe's one small GEMM per image, and the slices run on
    /// all cores at once with single-threaded BLAS (small slices stay in cache). Each output is
    /// Caffe's dot product over the same K values, though not always bit for bit: OpenBLAS's
    /// kernels split a sum differently depending on where its element falls in their tiles.
    static func gemmConvolution(_ x: Tensor, _ a: ConvolutionAttributes, weights: Tensor, bias: Tensor?, outputShape: Shape,
                                epilogue: ChannelEpilogue? = nil) -> Tensor {
        let (n, c, h, w) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
        let (m, oh, ow) = (outputShape[1], outputShape[2], outputShape[3])
        let groups = a.group
        let cg = c / groups, mg = m / groups
        let kernelSize = cg * a.kernel.h * a.kernel.w
        let p = oh * ow
        let imagesPerSlice = max(1, min(n, columnBudget / max(1, kernelSize * p)))
        let sliceCount = (n + imagesPerSlice - 1) / imagesPerSlice
        var output = Tensor(uninitialized: outputShape)
        let geometry = Im2colGeometry(channels: cg, height: h, width: w, kernel: a.kernel, stride: a.stride,
                                      pad: a.pad, dilation: a.dilation, outHeight: oh, outWidth: ow)
        x.data.withUnsafeBufferPointer { xBuffer in
            weights.data.withUnsafeBufferPointer { wBuffer in
                output.data.withUnsafeMutableBufferPointer { yBuffer in
                    let xp = SharedConstPointer(xBuffer.baseAddress!)
                    let wp = SharedConstPointer(wBuffer.baseAddress!)
                    let yp = SharedPointer(yBuffer.baseAddress!)
                    Parallel.forEachWorker(sliceCount) { slices in
                        var columns = [Float](unsafeUninitializedCapacity: kernelSize * p * imagesPerSlice) { $1 = $0.count }
                        var product = [Float](unsafeUninitializedCapacity: mg * p * imagesPerSlice) { $1 = $0.count }
                        columns.withUnsafeMutableBufferPointer { col in
                            product.withUnsafeMutableBufferPointer { prod in
                                for slice in slices {
                                    let first = slice * imagesPerSlice
                                    let count = min(imagesPerSlice, n - first)
                                    let wide = count * p
                                    for g in 0..<groups {
                                        for i in 0..<count {
                                            let image = xp.base + ((first + i) * c + g * cg) * h * w
                                            geometry.im2col(image, into: col.baseAddress! + i * p, rowStride: wide)
                                        }
                                        BLAS.gemm(m: mg, n: wide, k: kernelSize, a: wp.base + g * mg * kernelSize,
                                                  b: col.baseAddress!, c: prod.baseAddress!)
                                        // Scatter [mg, images x P] to NCHW, adding the bias after the GEMM as Caffe does.
                                        for i in 0..<count {
                                            for oc in 0..<mg {
                                                let channel = g * mg + oc
                                                let src = prod.baseAddress! + oc * wide + i * p
                                                let dst = yp.base + ((first + i) * m + channel) * p
                                                if let bias {
                                                    let b = bias.data[channel]
                                                    for j in 0..<p { dst[j] = src[j] + b }
                                                } else {
                                                    dst.update(from: src, count: p)
                                                }
                                                epilogue?.apply(dst, count: p, channel: channel)
                                            }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        return output
    }

    /// Column-buffer size per worker in floats (2 MiB): small enough to stay in the last-level cache.
    static let columnBudget = 1 << 19
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
                            for ox in 0..<outWidth { out[ox] = 0 }
                            continue
                        }
                        let src = plane + iy * width
                        if stride.w == 1 {
                            // Contiguous run: zero the padded ends, copy the middle. Plain loops: the runs
                            // are short (8 to 32 floats), where memcpy/memset calls cost more than the copy.
                            let lo = min(max(0, -xOffset), outWidth)
                            let hi = max(lo, min(outWidth, width - xOffset))
                            var ox = 0
                            while ox < lo { out[ox] = 0; ox += 1 }
                            let shifted = src + xOffset
                            while ox < hi { out[ox] = shifted[ox]; ox += 1 }
                            while ox < outWidth { out[ox] = 0; ox += 1 }
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
