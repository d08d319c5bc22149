import CIntegerKernels
import Foundation
import Quantization
import TensorGraph

/// Each dot-product unit's packed plan of one program, made on first use (a program that is only
/// stepped through, as the search does, never pays for one).
final class PackedPlanCache: @unchecked Sendable {
    private let lock = NSLock()
    private var plans: [DotProductUnit: IntegerProgram.PackedPlan] = [:]

    func plan(for unit: DotProductUnit, _ make: () -> IntegerProgram.PackedPlan) -> IntegerProgram.PackedPlan {
        lock.lock()
        defer { lock.unlock() }
        if let plan = plans[unit] { return plan }
        let plan = make()
        plans[unit] = plan
        return plan
    }
}

extension IntegerProgram {
    /// How `run` executes on a byte dot-product unit: activations whose format fits 8 bits stay
    /// channel-packed bytes (`bmq_pack_channels`' layout, padded for the convolutions that read
    /// them) from layer to layer, so a stride-1 convolution's requantization writes the next
    /// layer's input directly and pooling and ReLU work on bytes. Steps without a byte form run
    /// on 32-bit values as `execute` runs them; values convert between the two where needed.
    struct PackedPlan: Sendable {
        /// One value's channel-packed form for one image.
        struct Layout: Sendable, Equatable {
            var channels: Int, height: Int, width: Int
            var pad: Size2
            /// Added to each value (128 for a signed format) so that it lands in 0...255.
            var offset: Int32
            var paddedHeight: Int { height + 2 * pad.h }
            var paddedWidth: Int { width + 2 * pad.w }
            var imageBytes: Int { (channels + 3) / 4 * paddedHeight * paddedWidth * 4 }
        }

        enum Mode: Sendable {
            /// A convolution on the byte kernels from packed bytes: stride 1 on the direct kernel,
            /// others from im2col patches (as the layer's `direct` says).
            case convolution(ByteLayer)
            /// An inner product on the byte kernel, its weights laid out over the input's packed cells.
            case innerProduct(ByteLayer, weights: [Int8], rowGroups: Int)
            /// Pooling on bytes, with AVE's reciprocals.
            case pool(reciprocals: [Int32])
            /// A MAX pooling fused into the requantization of the convolution step before it, the
            /// only step that reads the convolution's output (`bmq_requantize_max_pool_packed`).
            case pooledByConvolution
            /// Eltwise SUM of packed bytes in 32 bits.
            case sum
            /// Within-channel LRN of packed bytes whose padding covers the window.
            case normalization
            case relu
            /// On 32-bit values, as `execute` runs the step.
            case values
        }

        let unit: DotProductUnit
        /// Per slot: its packed layout, nil where its format is wider than 8 bits.
        var layouts: [Layout?]
        /// Per step.
        var modes: [Mode]
    }

    /// Which MAX poolings `packedPlan` fuses into the convolution before them.
    enum PoolFusion {
        case none
        /// Windows that tile the plane (kernel = stride, as LeNet's 2 x 2): each sum is read once.
        /// Overlapping windows (the CIFAR nets' 3 x 3, stride 2) measured 5% faster as bytes.
        case tiling
        case all
    }

    /// The packed plan for `unit`: every slot's layout and every step's mode.
    func packedPlan(unit: DotProductUnit, fusingPools fusion: PoolFusion = .tiling) -> PackedPlan {
        var formats = [FixedPointFormat?](repeating: nil, count: slotCount)
        var shapes = [[Int]?](repeating: nil, count: slotCount)
        for value in traced {
            formats[value.slot] = value.format
            shapes[value.slot] = value.shape
        }
        // Aliases and ReLUs share their input's layout (a ReLU works on a copy of its bytes).
        var root = Array(0..<slotCount)
        for step in steps {
            switch step {
            case let .alias(input, output), let .relu(input, output):
                formats[output] = formats[input]
                shapes[output] = shapes[input]
                root[output] = root[input]
            default: break
            }
        }
        func byteLayout(_ slot: Int) -> PackedPlan.Layout? {
            guard let format = formats[slot], let shape = shapes[slot], !shape.isEmpty else { return nil }
            let offset: Int64 = format.signed ? 128 : 0
            guard format.minimum + offset >= 0, format.maximum + offset <= 255 else { return nil }
            let dims = shape + Array(repeating: 1, count: max(0, 3 - shape.count))
            guard dims.count == 3 else { return nil }
            return PackedPlan.Layout(channels: dims[0], height: dims[1], width: dims[2], pad: Size2(square: 0), offset: Int32(offset))
        }
        var layouts = (0..<slotCount).map(byteLayout)
        var modes: [PackedPlan.Mode] = []
        for step in steps {
            switch step {
            case let .dense(d):
                if let layer = d.bytes, layer.runs(on: unit), let input = layouts[d.input], input.offset == layer.offset {
                    if let a = d.convolution {
                        // The input's bytes carry the widest padding a convolution reading them needs.
                        let r = root[d.input]
                        layouts[r]!.pad = Size2(max(layouts[r]!.pad.h, a.pad.h), max(layouts[r]!.pad.w, a.pad.w))
                        modes.append(.convolution(layer))
                    } else {
                        modes.append(.innerProduct(layer, weights: [], rowGroups: 0))
                    }
                } else {
                    modes.append(.values)
                }
            case let .pool(p):
                let (kernel, _, _) = p.attributes.window(height: p.inputShape[2], width: p.inputShape[3])
                // Byte AVE needs every average inside the format: |x| × window < 2^16 proves it.
                if layouts[p.input] != nil,
                   p.attributes.method == .max || p.largestMagnitude * Int64(kernel.h * kernel.w) < 1 << 16 {
                    modes.append(.pool(reciprocals: p.attributes.method == .average ? Self.averageReciprocals(p) : []))
                } else {
                    modes.append(.values)
                }
            case let .relu(input, _):
                modes.append(layouts[input] != nil ? .relu : .values)
            case let .sum(sum):
                // 32-bit totals: the bound proves they fit, and no input moves left past 23 bits.
                let fits = sum.inputs.count <= 8 && sum.bound <= Int64(Int32.max) && sum.shifts.allSatisfy { (-23...31).contains($0) }
                modes.append(fits && layouts[sum.output] != nil && sum.inputs.allSatisfy { layouts[$0] != nil } ? .sum : .values)
            case let .normalization(n):
                if n.region == .withinChannel, n.localSize <= 31, layouts[n.input] != nil, layouts[n.output] != nil {
                    // Zero padding spares the window any clipping.
                    let r = root[n.input], half = (n.localSize - 1) / 2
                    layouts[r]!.pad = Size2(max(layouts[r]!.pad.h, half), max(layouts[r]!.pad.w, half))
                    modes.append(.normalization)
                } else {
                    modes.append(.values)
                }
            case .alias:
                modes.append(.values)
            }
        }
        for slot in 0..<slotCount where root[slot] != slot { layouts[slot] = layouts[root[slot]] }
        if fusion != .none { fusePools(&modes, layouts: layouts, tilingOnly: fusion == .tiling) }
        // Inner-product weights follow the (now padded) layout of their input's cells: each cell's
        // four bytes for every output channel in turn (`bmq_image_products`' layout).
        for (index, step) in steps.enumerated() {
            guard case let .dense(d) = step, case let .innerProduct(layer, _, _) = modes[index], let input = layouts[d.input] else { continue }
            let channels = d.outputShape[1], length = d.weights.count / channels
            let rowGroups = input.imageBytes / 4, padded = Self.alignedColumns(channels)
            var weights = [Int8](repeating: 0, count: rowGroups * padded * 4)
            let plane = input.height * input.width
            for k in 0..<length {
                let (c, y, x) = (k / plane, k % plane / input.width, k % input.width)
                let cell = (c / 4 * input.paddedHeight + y + input.pad.h) * input.paddedWidth + x + input.pad.w
                for m in 0..<channels { weights[(cell * padded + m) * 4 + c % 4] = Int8(d.weights[m * length + k]) }
            }
            modes[index] = .innerProduct(layer, weights: weights, rowGroups: rowGroups)
        }
        return PackedPlan(unit: unit, layouts: layouts, modes: modes)
    }

    /// Marks every byte MAX pooling that directly follows the byte convolution it alone reads (with
    /// `tilingOnly`, those whose windows tile the plane, as LeNet's) as pooled by that convolution.
    private func fusePools(_ modes: inout [PackedPlan.Mode], layouts: [PackedPlan.Layout?], tilingOnly: Bool) {
        var readers = [Int](repeating: 0, count: slotCount)
        for step in steps { for slot in Self.reads(step) { readers[slot] += 1 } }
        for index in steps.indices.dropLast() {
            guard case let .dense(d) = steps[index], case .convolution = modes[index], case let .pool(p) = steps[index + 1],
                  case .pool = modes[index + 1], p.attributes.method == .max, p.input == d.output, readers[d.output] == 1,
                  d.output != scoreSlot, let pooled = layouts[p.output], pooled.offset == layouts[d.output]?.offset,
                  !tilingOnly || Self.tiles(p) else { continue }
            modes[index + 1] = .pooledByConvolution
        }
    }

    /// The MAX pooling `plan` fused into the convolution at step `index`, if any.
    private func pooling(fusedInto index: Int, _ plan: PackedPlan) -> Pool? {
        guard index + 1 < steps.count, case .pooledByConvolution = plan.modes[index + 1], case let .pool(p) = steps[index + 1] else { return nil }
        return p
    }

    private static func tiles(_ p: Pool) -> Bool {
        let (kernel, stride, pad) = p.attributes.window(height: p.inputShape[2], width: p.inputShape[3])
        return kernel == stride && pad == Size2(square: 0)
    }

    /// One batch's values: packed bytes, 32-bit values, or both, per slot.
    private struct PackedValues {
        let plan: PackedPlan
        let batch: Int
        var packed: [[UInt8]?]
        var wide: [[Int32]?]

        /// The slot's 32-bit values, unpacked from its bytes if need be.
        mutating func values(_ slot: Int) -> [Int32] {
            if let v = wide[slot] { return v }
            let layout = plan.layouts[slot]!, packed = packed[slot]!
            let perImage = layout.channels * layout.height * layout.width
            let v = [Int32](unsafeUninitializedCapacity: batch * perImage) { v, initialized in
                for image in 0..<batch {
                    bmq_unpack_channels(packed.withUnsafeBufferPointer { $0.baseAddress! + image * layout.imageBytes }, Int32(layout.channels),
                                        Int32(layout.height), Int32(layout.width), Int32(layout.pad.h), Int32(layout.pad.w), layout.offset,
                                        v.baseAddress! + image * perImage)
                }
                initialized = batch * perImage
            }
            wide[slot] = v
            return v
        }

        /// The slot's packed bytes, packed from its values if need be.
        mutating func bytes(_ slot: Int) -> [UInt8] {
            if let b = packed[slot] { return b }
            let layout = plan.layouts[slot]!, v = wide[slot]!
            let perImage = layout.channels * layout.height * layout.width
            var b = PackedValues.buffer(layout, batch: batch)
            b.withUnsafeMutableBufferPointer { b in
                for image in 0..<batch {
                    bmq_pack_channels(v.withUnsafeBufferPointer { $0.baseAddress! + image * perImage }, Int32(layout.channels),
                                      Int32(layout.height), Int32(layout.width), Int32(layout.pad.h), Int32(layout.pad.w), layout.offset,
                                      b.baseAddress! + image * layout.imageBytes)
                }
            }
            packed[slot] = b
            return b
        }

        /// A batch of packed images holding the value 0 everywhere, with the kernels' slack after.
        static func buffer(_ layout: PackedPlan.Layout, batch: Int) -> [UInt8] {
            var b = [UInt8](repeating: UInt8(layout.offset), count: batch * layout.imageBytes + Int(BMQ_DOT_PACKED_SLACK))
            for i in (b.count - Int(BMQ_DOT_PACKED_SLACK))..<b.count { b[i] = 0 }
            return b
        }
    }

    /// Runs `batch` images of quantized inputs with `plan`, returning the class-score slot's values.
    func runPacked(_ plan: PackedPlan, _ inputs: [Int32], batch: Int, arithmetic: Arithmetic,
                   statistics: inout [RequantizationStatistics]) -> [Int32] {
        var state = PackedValues(plan: plan, batch: batch, packed: Array(repeating: nil, count: slotCount),
                                 wide: Array(repeating: nil, count: slotCount))
        state.wide[inputSlot] = inputs
        let aligned = Self.alignedColumns
        var requantizing = 0
        for (stepIndex, (step, mode)) in zip(steps, plan.modes).enumerated() {
            switch (step, mode) {
            case let (.dense(d), .convolution(layer)):
                let input = plan.layouts[d.input]!, a = d.convolution!
                // Patches of an input held only as 32-bit values (the network's input) come straight
                // from those values rather than through a packed copy.
                let wide = layer.direct || state.packed[d.input] != nil ? nil : state.wide[d.input]
                let x = wide == nil ? state.bytes(d.input) : []
                let (channels, oh, ow) = (d.outputShape[1], d.outputShape[2], d.outputShape[3])
                // Direct sums: rows of outputs padded to whole vectors; patch sums: each channel's
                // positions padded.
                let padded = layer.direct ? aligned(ow) : aligned(oh * ow)
                let (channelStride, rowStride) = layer.direct ? (oh * padded, padded) : (padded, ow)
                var sums = [Int32](repeating: 0, count: channels * (layer.direct ? oh : 1) * padded)
                var patches = [UInt8](repeating: 0, count: layer.direct ? 0 : layer.rowGroups * padded * 4)
                let (low, high, signed) = (Int32(d.format.minimum), Int32(d.format.maximum), Int32(d.format.signed ? 1 : 0))
                // The convolution reads its own padding from a buffer that may be padded more.
                let skip = ((input.pad.h - a.pad.h) * input.paddedWidth + input.pad.w - a.pad.w) * 4
                func products(_ image: Int) {
                    let status: Int32
                    if let wide {
                        bmq_pack_patches(wide.withUnsafeBufferPointer { $0.baseAddress! + image * input.channels * input.height * input.width },
                                         Int32(input.channels), Int32(input.height), Int32(input.width), Int32(a.kernel.h), Int32(a.kernel.w),
                                         Int32(a.stride.h), Int32(a.stride.w), Int32(a.pad.h), Int32(a.pad.w), Int32(a.dilation.h),
                                         Int32(a.dilation.w), Int32(oh), Int32(ow), layer.offset, Int32(layer.rowGroups), Int32(padded), &patches)
                        status = bmq_dot_products(plan.unit.code, layer.weights, Int32(channels), patches, Int32(layer.rowGroups), Int32(padded), &sums)
                    } else {
                        status = x.withUnsafeBufferPointer { x in
                            let origin = x.baseAddress! + image * input.imageBytes + skip
                            if layer.direct {
                                return bmq_direct_products(plan.unit.code, layer.weights, Int32(channels), origin, Int32((input.channels + 3) / 4),
                                                           Int32(input.paddedHeight), Int32(input.paddedWidth), Int32(a.kernel.h),
                                                           Int32(a.kernel.w), Int32(oh), Int32(ow), &sums, Int32(padded))
                            }
                            bmq_pack_packed_patches(origin, Int32(input.channels), Int32(input.paddedHeight), Int32(input.paddedWidth),
                                                    Int32(a.kernel.h), Int32(a.kernel.w), Int32(a.stride.h), Int32(a.stride.w), Int32(a.dilation.h),
                                                    Int32(a.dilation.w), Int32(oh), Int32(ow), Int32(layer.rowGroups), Int32(padded), &patches)
                            return bmq_dot_products(plan.unit.code, layer.weights, Int32(channels), patches, Int32(layer.rowGroups),
                                                    Int32(padded), &sums)
                        }
                    }
                    precondition(status == 0, "\(plan.unit) dot products are not available on this CPU")
                }
                statistics[requantizing].recordKernel(outputs: batch * channels * oh * ow) { seen in
                    if let p = pooling(fusedInto: stepIndex, plan) {
                        let output = plan.layouts[p.output]!
                        let (kernel, stride, pad) = p.attributes.window(height: oh, width: ow)
                        var y = PackedValues.buffer(output, batch: batch)
                        var scratch = [Int32](repeating: 0, count: channels * output.height * output.width + ow + 48 + 4 * output.width)
                        for image in 0..<batch {
                            products(image)
                            y.withUnsafeMutableBufferPointer { y in
                                bmq_requantize_max_pool_packed(sums, Int32(channels), Int32(oh), Int32(ow), channelStride, Int32(rowStride),
                                                               layer.bias, Int32(d.shift), low, high, signed, output.offset, Int32(kernel.h),
                                                               Int32(kernel.w), Int32(stride.h), Int32(stride.w), Int32(pad.h), Int32(pad.w),
                                                               Int32(output.height), Int32(output.width), y.baseAddress! + image * output.imageBytes,
                                                               Int32(output.pad.h), Int32(output.pad.w), &seen, &scratch)
                            }
                        }
                        state.packed[p.output] = y
                    } else if let output = plan.layouts[d.output] {
                        var y = PackedValues.buffer(output, batch: batch)
                        var scratch = [Int32](repeating: 0, count: 4 * ow)
                        for image in 0..<batch {
                            products(image)
                            y.withUnsafeMutableBufferPointer { y in
                                bmq_requantize_packed(sums, Int32(channels), Int32(oh), Int32(ow), channelStride, Int32(rowStride), layer.bias,
                                                      Int32(d.shift), low, high, signed, output.offset, y.baseAddress! + image * output.imageBytes,
                                                      Int32(output.pad.h), Int32(output.pad.w), &seen, &scratch)
                            }
                        }
                        state.packed[d.output] = y
                    } else {
                        let positions = oh * ow
                        var y = [Int32](repeating: 0, count: batch * channels * positions)
                        for image in 0..<batch {
                            products(image)
                            y.withUnsafeMutableBufferPointer { y in
                                // Rows of `ow` sums: every row of a direct channel is `padded` apart; a patch channel's rows are
                                // contiguous, so it is one row of all its positions.
                                let (rows, columns) = layer.direct ? (channels * oh, ow) : (channels, positions)
                                bmq_requantize(sums, Int32(rows), Int32(columns), Int32(padded), layer.bias, Int32(rows / channels), Int32(d.shift),
                                               low, high, signed, y.baseAddress! + image * channels * positions, columns, 1, &seen)
                            }
                        }
                        state.wide[d.output] = y
                    }
                }
                requantizing += 1
            case let (.dense(d), .innerProduct(layer, weights, rowGroups)):
                let input = plan.layouts[d.input]!
                let x = state.bytes(d.input)
                let channels = d.outputShape[1], padded = aligned(channels)
                precondition(weights.count == rowGroups * padded * 4)
                // Image-major sums with the biases already in: each image's outputs requantize as one row.
                var sums = [Int32](repeating: 0, count: batch * padded)
                let status = bmq_image_products(plan.unit.code, x, Int32(batch), input.imageBytes, weights, Int32(channels), Int32(padded),
                                                layer.bias, &sums)
                precondition(status == 0, "\(plan.unit) dot products are not available on this CPU")
                var y = [Int32](repeating: 0, count: batch * channels)
                statistics[requantizing].recordKernel(outputs: y.count) { seen in
                    bmq_requantize(sums, Int32(batch), Int32(channels), Int32(padded), [0], Int32(batch), Int32(d.shift), Int32(d.format.minimum),
                                   Int32(d.format.maximum), d.format.signed ? 1 : 0, &y, channels, 1, &seen)
                }
                state.wide[d.output] = y
                requantizing += 1
            case let (.pool(p), .pool(reciprocals)):
                let input = plan.layouts[p.input]!, output = plan.layouts[p.output]!
                let x = state.bytes(p.input)
                let (kernel, stride, pad) = p.attributes.window(height: input.height, width: input.width)
                var y = PackedValues.buffer(output, batch: batch)
                var columns = [UInt16](repeating: 0, count: 4 * input.width + 16)
                var window = [Int32](repeating: 0, count: 8 * output.width)
                x.withUnsafeBufferPointer { x in
                    y.withUnsafeMutableBufferPointer { y in
                        reciprocals.withUnsafeBufferPointer { reciprocals in
                            for image in 0..<batch {
                                bmq_pool_packed(x.baseAddress! + image * input.imageBytes, Int32(input.channels), Int32(input.height),
                                                Int32(input.width), Int32(input.pad.h), Int32(input.pad.w), Int32(kernel.h), Int32(kernel.w),
                                                Int32(stride.h), Int32(stride.w), Int32(pad.h), Int32(pad.w), Int32(output.height),
                                                Int32(output.width), reciprocals.isEmpty ? nil : reciprocals.baseAddress, input.offset,
                                                y.baseAddress! + image * output.imageBytes, Int32(output.pad.h), Int32(output.pad.w), &columns,
                                                &window)
                            }
                        }
                    }
                }
                state.packed[p.output] = y
            case let (.sum(sum), .sum):
                let output = plan.layouts[sum.output]!
                let inputs = sum.inputs.map { state.bytes($0) }, layouts = sum.inputs.map { plan.layouts[$0]! }
                var y = PackedValues.buffer(output, batch: batch)
                var totals = [Int32](repeating: 0, count: 4 * output.width)
                let (padsH, padsW) = (layouts.map { Int32($0.pad.h) }, layouts.map { Int32($0.pad.w) })
                let (offsets, shifts) = (layouts.map(\.offset), sum.shifts.map(Int32.init))
                statistics[requantizing].recordKernel(outputs: batch * output.channels * output.height * output.width) { seen in
                    for image in 0..<batch {
                        withArrayPointers(inputs, offsets: layouts.map { image * $0.imageBytes }) { pointers in
                            y.withUnsafeMutableBufferPointer { y in
                                bmq_sum_packed(pointers, padsH, padsW, offsets, shifts, Int32(inputs.count), Int32(output.channels),
                                               Int32(output.height), Int32(output.width), Int32(sum.format.minimum), Int32(sum.format.maximum),
                                               sum.format.signed ? 1 : 0, output.offset, y.baseAddress! + image * output.imageBytes,
                                               Int32(output.pad.h), Int32(output.pad.w), &seen, &totals)
                            }
                        }
                    }
                }
                state.packed[sum.output] = y
                requantizing += 1
            case let (.normalization(n), .normalization):
                let input = plan.layouts[n.input]!, output = plan.layouts[n.output]!
                let x = state.bytes(n.input)
                var y = PackedValues.buffer(output, batch: batch)
                var columns = [Int32](repeating: 0, count: 8 * (input.width + n.localSize))
                statistics[requantizing].recordKernel(outputs: batch * input.channels * input.height * input.width) { seen in
                    x.withUnsafeBufferPointer { x in
                        y.withUnsafeMutableBufferPointer { y in
                            for image in 0..<batch {
                                bmq_normalize_packed(x.baseAddress! + image * input.imageBytes, Int32(input.channels), Int32(input.height),
                                                     Int32(input.width), Int32(input.pad.h), Int32(input.pad.w), Int32(n.localSize), n.table,
                                                     Int32(n.tableShift), Int32(Self.lrnTableBits + n.tableShift), Int32(n.format.minimum),
                                                     Int32(n.format.maximum), input.offset, y.baseAddress! + image * output.imageBytes,
                                                     Int32(output.pad.h), Int32(output.pad.w), &seen, &columns)
                            }
                        }
                    }
                }
                state.packed[n.output] = y
                requantizing += 1
            case let (.relu(input, output), .relu):
                if var y = state.packed[input] {
                    bmq_relu_packed(&y, y.count - Int(BMQ_DOT_PACKED_SLACK), UInt8(plan.layouts[input]!.offset))
                    state.packed[output] = y
                } else {
                    state.wide[output] = state.values(input).map { max($0, 0) }
                }
            case (_, .pooledByConvolution):
                continue
            case let (.alias(input, output), _):
                state.packed[output] = state.packed[input]
                state.wide[output] = state.wide[input]
            default:
                // The step on 32-bit values, as `execute` runs it.
                var slots = [[Int32]](repeating: [], count: slotCount)
                for slot in Self.reads(step) { slots[slot] = state.values(slot) }
                perform(step, &slots, batch: batch, arithmetic: arithmetic, statistics: &statistics, requantizing: &requantizing)
                for slot in Self.writes(step) { state.wide[slot] = slots[slot] }
            }
        }
        return state.values(scoreSlot)
    }

    /// `count` columns padded to the byte kernels' alignment.
    static func alignedColumns(_ count: Int) -> Int {
        let alignment = Int(BMQ_DOT_COLUMN_ALIGNMENT)
        return (count + alignment - 1) / alignment * alignment
    }

    /// The slots a step writes.
    static func writes(_ step: Step) -> [Int] {
        switch step {
        case let .dense(d): [d.output]
        case let .sum(s): [s.output]
        case let .pool(p): [p.output]
        case let .normalization(n): [n.output]
        case let .relu(_, output), let .alias(_, output): [output]
        }
    }
}

