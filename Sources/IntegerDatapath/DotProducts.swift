import CIntegerKernels
import Quantization
import TensorGraph

/// The CPU's byte dot-product instructions the integer datapath can run Convolution and
/// InnerProduct sums on: 8-bit activations (offset to unsigned) times 8-bit weights, summed in
/// 32-bit integers, which gives the spec's integers exactly whenever a layer's sums fit 32 bits.
public enum DotProductUnit: String, Sendable, CaseIterable, CustomStringConvertible {
    /// AVX-512 VNNI `vpdpbusd`: four products added into each 32-bit lane per instruction.
    case avx512VNNI = "AVX-512 VNNI"
    /// AVX2 `vpmaddubsw` + `vpmaddwd`: used only where every pair of products provably fits the
    /// 16 bits `vpmaddubsw` saturates to (small weights, as low-bit patterns give).
    case avx2 = "AVX2"

    /// The units this CPU executes, fastest first.
    public static let available: [DotProductUnit] = {
        let units = bmq_dot_units()
        return allCases.filter { units & $0.code != 0 }
    }()

    var code: Int32 {
        switch self {
        case .avx512VNNI: Int32(BMQ_DOT_AVX512_VNNI)
        case .avx2: Int32(BMQ_DOT_AVX2)
        }
    }

    public var description: String { rawValue }
}

extension IntegerProgram {
    /// A Convolution or InnerProduct layer prepared for the byte dot products: its weights as
    /// bytes in the kernels' row-group layout, and its biases corrected for the input offset.
    struct ByteLayer: Sendable {
        /// Whether the layer runs straight from channel-packed images (a stride-1 convolution),
        /// rather than from im2col patches.
        var direct: Bool
        /// [M][rowGroups × 4] weights, zero where the layout has no weight: for im2col patches in
        /// the layer's (channel, ky, kx) order; for the direct kernels (channel group, ky, kx,
        /// four channels).
        var weights: [Int8]
        /// Groups of four weights per output channel.
        var rowGroups: Int
        /// Added to every input so that it lands in 0...255 (128 for signed inputs).
        var offset: Int32
        /// `bias − offset × Σ w` per output channel: the offset sums plus this are the accumulators.
        var bias: [Int32]
        /// Whether every pair of products fits 16 bits, as AVX2's `vpmaddubsw` needs.
        var pairsFitSixteenBits: Bool

        /// The layer's byte form, or nil when its inputs or weights are wider than 8 bits, it is
        /// grouped, its shift is outside 0...30, or a sum could leave 32 bits.
        init?(_ d: Dense) {
            if let a = d.convolution, a.group != 1 { return nil }
            guard d.inputFormat.bits <= 8, (0...30).contains(d.shift), d.bound <= Int64(Int32.max) else { return nil }
            guard d.weights.allSatisfy({ (-128...127).contains($0) }) else { return nil }
            let channels = d.outputShape[1], length = d.weights.count / channels
            offset = d.inputFormat.signed ? 128 : 0
            let largestByte = Int64(offset) + d.inputFormat.maximum
            // Where weight k of a channel goes in its row of the packed layout.
            let position: (Int) -> Int
            // One or two input channels would leave most of each four-channel cell empty: their
            // im2col patches hold a quarter to a half of the direct kernel's products.
            if let a = d.convolution, a.stride == Size2(square: 1), a.dilation == Size2(square: 1), d.inputShape[1] >= 3 {
                direct = true
                let cells = a.kernel.h * a.kernel.w
                rowGroups = (d.inputShape[1] + 3) / 4 * cells
                // k = (c, ky, kx) goes to ((c / 4) × cells + ky × kw + kx) × 4 + c % 4.
                position = { k in ((k / cells) / 4 * cells + k % cells) * 4 + (k / cells) % 4 }
            } else {
                direct = false
                rowGroups = (length + 3) / 4
                position = { $0 }
            }
            var packed = [Int8](repeating: 0, count: channels * rowGroups * 4)
            var corrected: [Int32] = []
            var pairsFit = true
            for m in 0..<channels {
                let row = d.weights[(m * length)..<((m + 1) * length)]
                var total: Int64 = 0, magnitudes: Int64 = 0
                for (k, w) in row.enumerated() {
                    packed[m * rowGroups * 4 + position(k)] = Int8(w)
                    total += Int64(w)
                    magnitudes += Int64(abs(w))
                }
                // The kernels sum (x + offset) × w: each such sum must fit 32 bits too.
                let adjusted = d.bias[m] - Int64(offset) * total
                guard largestByte * magnitudes <= Int64(Int32.max), let bias = Int32(exactly: adjusted) else { return nil }
                corrected.append(bias)
                for pair in stride(from: 0, to: rowGroups * 4, by: 2) {
                    let base = m * rowGroups * 4 + pair
                    let sum = abs(Int64(packed[base])) + abs(Int64(packed[base + 1]))
                    if largestByte * sum > Int64(Int16.max) { pairsFit = false }
                }
            }
            weights = packed
            bias = corrected
            pairsFitSixteenBits = pairsFit
        }

        /// Whether `unit` gives this layer's exact sums.
        func runs(on unit: DotProductUnit) -> Bool {
            unit == .avx512VNNI || pairsFitSixteenBits
        }
    }

    /// `dense` on the byte dot products of `unit`: the same integers and statistics.
    func byteDense(_ d: Dense, _ layer: ByteLayer, _ x: [Int32], batch: Int, unit: DotProductUnit,
                   statistics: inout RequantizationStatistics) -> [Int32] {
        let channels = d.outputShape[1], positions = d.outputShape.count(from: 2)
        let perImage = d.inputShape.count(from: 1)
        let alignment = Int(BMQ_DOT_COLUMN_ALIGNMENT)
        func aligned(_ count: Int) -> Int { (count + alignment - 1) / alignment * alignment }
        // The sums of one pass: convolutions take one image (direct: output rows padded, im2col:
        // positions padded), inner products the whole batch (one column per image).
        let rows = layer.direct ? channels * d.outputShape[2] : channels
        let padded = layer.direct ? aligned(d.outputShape[3]) : aligned(d.convolution == nil ? batch : positions)
        var sums = [Int32](repeating: 0, count: rows * padded)
        var patches: [UInt8]
        if layer.direct, let a = d.convolution {
            let (h, w) = (d.inputShape[2] + 2 * a.pad.h, d.inputShape[3] + 2 * a.pad.w)
            patches = [UInt8](repeating: 0, count: (d.inputShape[1] + 3) / 4 * h * w * 4 + Int(BMQ_DOT_PACKED_SLACK))
        } else {
            patches = [UInt8](repeating: 0, count: layer.rowGroups * padded * 4)
        }
        var y = [Int32](repeating: 0, count: batch * channels * positions)
        let signed: Int32 = d.format.signed ? 1 : 0
        let (low, high) = (Int32(d.format.minimum), Int32(d.format.maximum))
        statistics.recordKernel(outputs: y.count) { seen in
            x.withUnsafeBufferPointer { x in
                y.withUnsafeMutableBufferPointer { y in
                    func multiply() {
                        let status = bmq_dot_products(unit.code, layer.weights, Int32(channels), patches, Int32(layer.rowGroups), Int32(padded), &sums)
                        precondition(status == 0, "\(unit) dot products are not available on this CPU")
                    }
                    if layer.direct, let a = d.convolution {
                        let (c, h, w) = (d.inputShape[1], d.inputShape[2], d.inputShape[3])
                        let (oh, ow) = (d.outputShape[2], d.outputShape[3])
                        for image in 0..<batch {
                            bmq_pack_channels(x.baseAddress! + image * perImage, Int32(c), Int32(h), Int32(w), Int32(a.pad.h), Int32(a.pad.w),
                                              layer.offset, &patches)
                            let status = bmq_direct_products(unit.code, layer.weights, Int32(channels), patches, Int32((c + 3) / 4),
                                                             Int32(h + 2 * a.pad.h), Int32(w + 2 * a.pad.w), Int32(a.kernel.h), Int32(a.kernel.w),
                                                             Int32(oh), Int32(ow), &sums, Int32(padded))
                            precondition(status == 0, "\(unit) dot products are not available on this CPU")
                            // Each (channel, output row) is one row of sums; the channel picks the bias.
                            bmq_requantize(sums, Int32(rows), Int32(ow), Int32(padded), layer.bias, Int32(oh), Int32(d.shift), low, high, signed,
                                           y.baseAddress! + image * channels * positions, ow, 1, &seen)
                        }
                    } else if let a = d.convolution {
                        let (c, h, w) = (d.inputShape[1], d.inputShape[2], d.inputShape[3])
                        for image in 0..<batch {
                            bmq_pack_patches(x.baseAddress! + image * perImage, Int32(c), Int32(h), Int32(w),
                                             Int32(a.kernel.h), Int32(a.kernel.w), Int32(a.stride.h), Int32(a.stride.w),
                                             Int32(a.pad.h), Int32(a.pad.w), Int32(a.dilation.h), Int32(a.dilation.w),
                                             Int32(d.outputShape[2]), Int32(d.outputShape[3]), layer.offset, Int32(layer.rowGroups),
                                             Int32(padded), &patches)
                            multiply()
                            bmq_requantize(sums, Int32(channels), Int32(positions), Int32(padded), layer.bias, 1, Int32(d.shift), low, high, signed,
                                           y.baseAddress! + image * channels * positions, positions, 1, &seen)
                        }
                    } else {
                        bmq_pack_vectors(x.baseAddress!, Int32(batch), Int32(perImage), layer.offset, Int32(layer.rowGroups), Int32(padded), &patches)
                        multiply()
                        bmq_requantize(sums, Int32(channels), Int32(batch), Int32(padded), layer.bias, 1, Int32(d.shift), low, high, signed,
                                       y.baseAddress!, 1, channels, &seen)
                    }
                }
            }
        }
        return y
    }
}
