import CIntegerKernels
import Foundation
import Inference
import Quantization
import TensorGraph

extension IntegerProgram {
    /// What a run computed: each image's integer class scores and each layer's statistics.
    public struct Run: Sendable {
        /// Class scores, `classes` per image, in the score format.
        public var scores: [Int32]
        /// Accumulator and saturation statistics per Convolution, InnerProduct or Eltwise layer.
        public var layers: [RequantizationStatistics]
    }

    /// How Convolution and InnerProduct sums are computed; all give the same integers.
    public enum Arithmetic: Sendable, Hashable {
        /// The CPU's byte dot products (its fastest `DotProductUnit`) where a layer's inputs and
        /// weights fit 8 bits and its sums 32; otherwise as `floatKernels`.
        case fastest
        /// One unit's byte dot products where they give a layer's sums, otherwise as
        /// `floatKernels` (to test every unit the CPU has).
        case dotProducts(DotProductUnit)
        /// The engine's float kernels wherever the layer's bound makes them exact (`bound < 2^22`),
        /// 32- or 64-bit integer loops elsewhere.
        case floatKernels
        /// Integer loops everywhere: the spec's arithmetic written out, for verification.
        case integer

        /// The dot-product unit this arithmetic uses where a layer allows it.
        var dotProductUnit: DotProductUnit? {
            switch self {
            case .fastest: DotProductUnit.available.first
            case let .dotProducts(unit): unit
            case .floatKernels, .integer: nil
            }
        }

        /// Whether the engine's float kernels may compute sums they hold exactly.
        var usesFloatKernels: Bool { self != .integer }
    }

    /// Images a worker runs through the layers together: few enough that a layer's 32-bit
    /// activations stay in the second-level cache for the next layer (64 measured 10% slower on
    /// cifar10_quick), enough to share an inner product's weights.
    static let batchSize = 16

    /// Runs `count` images of quantized inputs (`inputCount` integers each), one worker per core.
    /// - Throws: only if a worker is lost (the datapath itself cannot fail once compiled).
    public func run(_ inputs: [Int32], count: Int, arithmetic: Arithmetic = .fastest) throws -> Run {
        precondition(inputs.count == count * inputCount, "inputs do not hold \(count) images")
        let workers = max(1, min(count, Parallel.workers))
        let plan = arithmetic.dotProductUnit.map { unit in packedPlans.plan(for: unit) { packedPlan(unit: unit) } }
        // Each worker runs a contiguous block of images and returns its scores and statistics.
        let parts = try Parallel.map(workers) { worker -> (scores: [Int32], statistics: [RequantizationStatistics]) in
            var statistics = requantizingLayers
            var scores: [Int32] = []
            let block = (worker * count / workers)..<((worker + 1) * count / workers)
            // Passes of equal size (at most `batchSize`): 50 images run as 13 + 13 + 12 + 12, not 16 + 16 + 16 + 2.
            let passes = (block.count + Self.batchSize - 1) / Self.batchSize
            for pass in 0..<passes {
                let first = block.lowerBound + pass * block.count / passes
                let batch = block.lowerBound + (pass + 1) * block.count / passes - first
                let batchInputs = Array(inputs[(first * inputCount)..<((first + batch) * inputCount)])
                let batchScores: [Int32]
                if let plan {
                    batchScores = runPacked(plan, batchInputs, batch: batch, arithmetic: arithmetic, statistics: &statistics)
                } else {
                    var slots = [[Int32]](repeating: [], count: slotCount)
                    slots[inputSlot] = batchInputs
                    execute(&slots, batch: batch, arithmetic: arithmetic, statistics: &statistics)
                    batchScores = slots[scoreSlot]
                }
                let perImage = batchScores.count / batch
                for image in 0..<batch { scores += batchScores[(image * perImage)..<(image * perImage + classes)] }
            }
            return (scores, statistics)
        }
        var merged = requantizingLayers
        for part in parts {
            for (index, layer) in part.statistics.enumerated() { merged[index].merge(layer) }
        }
        return Run(scores: parts.flatMap(\.scores), layers: merged)
    }

    /// Every traced value (`traced`, in order) for one image of quantized inputs.
    public func trace(_ input: [Int32], arithmetic: Arithmetic = .fastest) -> [[Int32]] {
        var slots = [[Int32]](repeating: [], count: slotCount)
        var ignored = requantizingLayers
        slots[inputSlot] = input
        execute(&slots, batch: 1, arithmetic: arithmetic, statistics: &ignored)
        return traced.map { slots[$0.slot] }
    }

    /// The class scores among one image's traced values.
    public func scores(of traced: [[Int32]]) -> [Int32] {
        guard let index = self.traced.firstIndex(where: { $0.slot == scoreSlot }) else { return [] }
        return traced[index]
    }

    /// The predicted class of each image: the lowest index among the largest scores.
    public func predictions(_ scores: [Int32]) -> [Int] {
        stride(from: 0, to: scores.count, by: classes).map { base in
            var best = 0
            for c in 1..<max(classes, 1) where scores[base + c] > scores[base + best] { best = c }
            return best
        }
    }

    /// A batch of images partway through the program: the values the remaining steps read.
    public struct PartialRun: Sendable {
        var slots: [[Int32]]
        /// Images in the batch.
        public let batch: Int
        /// The next step to run.
        public internal(set) var step: Int
    }

    /// A batch of quantized inputs (`inputCount` integers per image) before the first step.
    public func start(_ inputs: [Int32], count: Int) -> PartialRun {
        var slots = [[Int32]](repeating: [], count: slotCount)
        slots[inputSlot] = inputs
        return PartialRun(slots: slots, batch: count, step: 0)
    }

    /// Runs steps from `run.step` up to `step` (the program's end when nil), keeping only the
    /// values later steps read and the class scores.
    public func advance(_ run: PartialRun, to step: Int? = nil, arithmetic: Arithmetic = .fastest) -> PartialRun {
        var next = run
        var ignored = requantizingLayers
        let end = step ?? steps.count
        execute(&next.slots, batch: run.batch, range: run.step..<end, arithmetic: arithmetic, statistics: &ignored)
        next.step = end
        var live: Set<Int> = [scoreSlot]
        for later in steps[end...] { live.formUnion(Self.reads(later)) }
        for slot in next.slots.indices where !live.contains(slot) { next.slots[slot] = [] }
        return next
    }

    /// The class scores of a finished run (`classes` per image).
    public func scores(of run: PartialRun) -> [Int32] {
        let values = run.slots[scoreSlot], perImage = values.count / max(run.batch, 1)
        return (0..<run.batch).flatMap { values[($0 * perImage)..<($0 * perImage + classes)] }
    }

    static func reads(_ step: Step) -> [Int] {
        switch step {
        case let .dense(d): [d.input]
        case let .sum(s): s.inputs
        case let .pool(p): [p.input]
        case let .normalization(n): [n.input]
        case let .relu(input, _), let .alias(input, _): [input]
        }
    }

    static func requantizes(_ step: Step) -> Bool {
        switch step {
        case .dense, .sum, .normalization: true
        case .pool, .relu, .alias: false
        }
    }

    /// Runs every step on `batch` images held one after another in each slot.
    func execute(_ slots: inout [[Int32]], batch: Int, arithmetic: Arithmetic, statistics: inout [RequantizationStatistics]) {
        execute(&slots, batch: batch, range: steps.indices, arithmetic: arithmetic, statistics: &statistics)
    }

    /// Runs steps `range` on `batch` images held one after another in each slot.
    func execute(_ slots: inout [[Int32]], batch: Int, range: Range<Int>, arithmetic: Arithmetic,
                 statistics: inout [RequantizationStatistics]) {
        var requantizing = steps[..<range.lowerBound].filter(Self.requantizes).count
        for step in steps[range] {
            perform(step, &slots, batch: batch, arithmetic: arithmetic, statistics: &statistics, requantizing: &requantizing)
        }
    }

    /// Runs one step; `requantizing` indexes its statistics and moves past them.
    func perform(_ step: Step, _ slots: inout [[Int32]], batch: Int, arithmetic: Arithmetic,
                 statistics: inout [RequantizationStatistics], requantizing: inout Int) {
        /// Applies a one-image function to each image of a slot.
        func imageByImage(_ x: [Int32], _ body: ([Int32]) -> [Int32]) -> [Int32] {
            guard batch > 1 else { return body(x) }
            let size = x.count / batch
            var y: [Int32] = []
            for image in 0..<batch { y += body(Array(x[(image * size)..<((image + 1) * size)])) }
            return y
        }
        switch step {
        case let .dense(d):
            slots[d.output] = dense(d, slots[d.input], batch: batch, arithmetic: arithmetic, statistics: &statistics[requantizing])
            requantizing += 1
        case let .sum(s):
            slots[s.output] = sum(s, slots, arithmetic: arithmetic, statistics: &statistics[requantizing])
            requantizing += 1
        case let .pool(p):
            slots[p.output] = Self.pool(p, slots[p.input], batch: batch)
        case let .normalization(n):
            if arithmetic == .integer {
                slots[n.output] = imageByImage(slots[n.input]) { normalize(n, $0, statistics: &statistics[requantizing]) }
            } else {
                slots[n.output] = Self.vectorNormalize(n, slots[n.input], batch: batch, statistics: &statistics[requantizing])
            }
            requantizing += 1
        case let .relu(input, output):
            slots[output] = slots[input].map { max($0, 0) }
        case let .alias(input, output):
            slots[output] = slots[input]
        }
    }

    /// `formats/datapath/SPEC.md` section 4, for `batch` images.
    func dense(_ d: Dense, _ x: [Int32], batch: Int, arithmetic: Arithmetic, statistics: inout RequantizationStatistics) -> [Int32] {
        if let unit = arithmetic.dotProductUnit, let layer = d.bytes, layer.runs(on: unit) {
            return byteDense(d, layer, x, batch: batch, unit: unit, statistics: &statistics)
        }
        let channels = d.outputShape[1]
        let positions = d.outputShape.count(from: 2)
        var y = [Int32](repeating: 0, count: batch * channels * positions)
        if arithmetic.usesFloatKernels, let node = d.exactInFloat {
            var inputShape = d.inputShape, outputShape = d.outputShape
            inputShape[0] = batch
            outputShape[0] = batch
            // Plain sums (the direct kernel): Winograd's transforms would round the exact integers.
            let sums = Network.runNode(node, inputs: [Tensor(shape: inputShape, data: x.map(Float.init))], outputShapes: [outputShape],
                                       options: EngineOptions(convolution: .direct))[0]
            for image in 0..<batch {
                for channel in 0..<channels {
                    let base = (image * channels + channel) * positions
                    if (1...30).contains(d.shift) {
                        sums.data.withUnsafeBufferPointer { sums in
                            requantizeInLanes(d, UnsafeBufferPointer(rebasing: sums[base..<(base + positions)]), channel: channel, into: &y,
                                              at: base, statistics: &statistics)
                        }
                    } else {
                        requantize(d, sums.data[base..<(base + positions)].lazy.map { Int64($0) }, channel: channel, into: &y, at: base,
                                   statistics: &statistics)
                    }
                }
            }
            return y
        }
        let perImage = d.inputShape.count(from: 1)
        var scratch: [Int32] = []
        for image in 0..<batch {
            let offset = image * channels * positions
            let input = Array(x[(image * perImage)..<((image + 1) * perImage)])
            integerDense(d, input, scratch: &scratch) { channel, sums in
                requantize(d, sums, channel: channel, into: &y, at: offset + channel * positions, statistics: &statistics)
            }
        }
        return y
    }

    /// One image's sums, channel by channel, in 32-bit integers when the bound fits them, else 64.
    func integerDense(_ d: Dense, _ x: [Int32], scratch: inout [Int32], _ emit: (Int, [Int64]) -> Void) {
        let channels = d.outputShape[1]
        let positions = d.outputShape.count(from: 2)
        var accumulator = [Int64](repeating: 0, count: positions)
        let perChannel = d.weights.count / channels
        if let a = d.convolution {
            let (c, h, w) = (d.inputShape[1], d.inputShape[2], d.inputShape[3])
            let (oh, ow) = (d.outputShape[2], d.outputShape[3])
            let cg = c / a.group, mg = channels / a.group
            if scratch.count < perChannel * positions { scratch = [Int32](repeating: 0, count: perChannel * positions) }
            for g in 0..<a.group {
                // Patch rows (channel, ky, kx) by output positions, zeros where the kernel meets padding.
                var row = 0
                for ic in 0..<cg {
                    let plane = (g * cg + ic) * h * w
                    for ky in 0..<a.kernel.h {
                        for kx in 0..<a.kernel.w {
                            for oy in 0..<oh {
                                let iy = oy * a.stride.h - a.pad.h + ky * a.dilation.h
                                for ox in 0..<ow {
                                    let ix = ox * a.stride.w - a.pad.w + kx * a.dilation.w
                                    scratch[row * positions + oy * ow + ox] = iy >= 0 && iy < h && ix >= 0 && ix < w ? x[plane + iy * w + ix] : 0
                                }
                            }
                            row += 1
                        }
                    }
                }
                for oc in (g * mg)..<((g + 1) * mg) {
                    // The bound proves the sum fits: 32-bit arithmetic is then exact, and faster.
                    if d.bound <= Int64(Int32.max) {
                        Self.accumulate(Int32.self, weights: d.weights, base: oc * perChannel, count: perChannel,
                                        patches: scratch, positions: positions, into: &accumulator)
                    } else {
                        Self.accumulate(Int64.self, weights: d.weights, base: oc * perChannel, count: perChannel,
                                        patches: scratch, positions: positions, into: &accumulator)
                    }
                    emit(oc, accumulator)
                }
            }
        } else {
            for n in 0..<channels {
                var sum: Int64 = 0
                let base = n * perChannel
                for k in 0..<perChannel { sum += Int64(d.weights[base + k]) * Int64(x[k]) }
                accumulator[0] = sum
                emit(n, accumulator)
            }
        }
    }

    /// `accumulator[p] = Σ_k weights[base + k] × patches[k × positions + p]`, summed in `Sum`
    /// (exact when the layer's bound fits it); zero weights (masked patterns have many) are skipped.
    @inline(__always)
    static func accumulate<Sum: FixedWidthInteger & SignedInteger>(_: Sum.Type, weights: [Int32], base: Int, count: Int, patches: [Int32],
                                                                    positions: Int, into accumulator: inout [Int64]) {
        var sums = [Sum](repeating: 0, count: positions)
        weights.withUnsafeBufferPointer { w in
            patches.withUnsafeBufferPointer { x in
                sums.withUnsafeMutableBufferPointer { s in
                    for k in 0..<count {
                        let weight = Sum(w[base + k])
                        if weight == 0 { continue }
                        let row = x.baseAddress! + k * positions
                        for p in 0..<positions { s[p] &+= weight &* Sum(row[p]) }
                    }
                }
            }
        }
        for p in 0..<positions { accumulator[p] = Int64(sums[p]) }
    }

    /// Adds the channel's bias to each sum, shifts to the output format with rounding, saturates,
    /// and writes the results from `y[base]` on.
    @inline(__always)
    func requantize<Sums: Collection<Int64>>(_ d: Dense, _ sums: Sums, channel: Int, into y: inout [Int32], at base: Int,
                                             statistics: inout RequantizationStatistics) {
        let bias = d.bias[channel]
        var index = base
        for sum in sums {
            let acc = sum + bias
            statistics.largestAccumulator = max(statistics.largestAccumulator, acc.magnitude > UInt64(Int64.max) ? Int64.max : abs(acc))
            let shifted = Self.shiftRounding(acc, by: d.shift)
            let clamped = d.format.saturate(shifted)
            if clamped != shifted, shifted > 0 || d.format.signed { statistics.saturated += 1 }
            y[index] = Int32(clamped)
            index += 1
        }
        statistics.outputs += index - base
    }

    /// `requantize` for exact float sums (`|sum + bias| ≤ bound < 2^22`) and a right shift of 1 to
    /// 30 bits: the same integers, sixteen lanes at a time in 32-bit arithmetic.
    func requantizeInLanes(_ d: Dense, _ sums: UnsafeBufferPointer<Float>, channel: Int, into y: inout [Int32], at base: Int,
                           statistics: inout RequantizationStatistics) {
        typealias Lanes = SIMD16<Int32>
        let bias = Lanes(repeating: Int32(d.bias[channel])), half = Lanes(repeating: 1 << (d.shift - 1))
        let low = Lanes(repeating: Int32(d.format.minimum)), high = Lanes(repeating: Int32(d.format.maximum))
        let countsSaturation = Lanes(repeating: d.format.signed ? Int32.min : 1)
        var largest = Lanes(), saturated = Lanes()
        let whole = sums.count / Lanes.scalarCount * Lanes.scalarCount
        y.withUnsafeMutableBufferPointer { y in
            for start in stride(from: 0, to: whole, by: Lanes.scalarCount) {
                // An integer float below 2^22 in magnitude, plus 1.5 × 2^23, holds itself in its low mantissa bits.
                let floats = UnsafeRawPointer(sums.baseAddress! + start).loadUnaligned(as: SIMD16<Float>.self) + 12_582_912
                let acc = unsafeBitCast(floats, to: Lanes.self) &- 0x4B40_0000 &+ bias
                largest = pointwiseMax(largest, pointwiseMax(acc, 0 &- acc))
                let shifted = (acc &+ half) &>> Lanes(repeating: Int32(d.shift))
                let clamped = pointwiseMin(pointwiseMax(shifted, low), high)
                // A clamp counts unless it is a fused ReLU's zero (unsigned output, negative value).
                saturated &+= Lanes(repeating: 1).replacing(with: 0, where: clamped .== shifted .| shifted .< countsSaturation)
                UnsafeMutableRawPointer(y.baseAddress! + base + start).storeBytes(of: clamped, as: Lanes.self)
            }
        }
        statistics.largestAccumulator = max(statistics.largestAccumulator, Int64(largest.max()))
        statistics.saturated += Int(saturated.wrappedSum())
        statistics.outputs += whole
        if whole < sums.count {
            requantize(d, sums[whole...].lazy.map { Int64($0) }, channel: channel, into: &y, at: base + whole, statistics: &statistics)
        }
    }

    /// `rshift_round(x, d)`: round to nearest, ties towards +∞; a left shift (saturating) for `d ≤ 0`.
    @inline(__always)
    static func shiftRounding(_ x: Int64, by d: Int) -> Int64 {
        if d > 0 {
            // |x| < 2^63: x / 2^d + 1/2 only reaches below 0 for d = 63 and x < -2^62.
            if d >= 63 { return d == 63 && x < -(Int64(1) << 62) ? -1 : 0 }
            // x = q·2^d + r with 0 ≤ r < 2^d; adding half a unit carries into q when r ≥ 2^(d-1).
            let q = x >> d, r = x & ((Int64(1) << d) - 1)
            return q + (r >= Int64(1) << (d - 1) ? 1 : 0)
        }
        if d == 0 { return x }
        let (value, overflow) = x.multipliedReportingOverflow(by: Int64(1) << min(-d, 62))
        return overflow || -d > 62 ? (x > 0 ? Int64.max : x < 0 ? Int64.min : 0) : value
    }

    /// Eltwise SUM: each input rounded to the output format, summed, saturated.
    func sum(_ s: Sum, _ slots: [[Int32]], arithmetic: Arithmetic, statistics: inout RequantizationStatistics) -> [Int32] {
        let count = slots[s.inputs[0]].count
        var y = [Int32](repeating: 0, count: count)
        if arithmetic != .integer, s.inputs.count <= 8, s.shifts.allSatisfy({ (-31...31).contains($0) }) {
            // The same rule in vectorised C.
            let inputs = s.inputs.map { slots[$0] }
            statistics.recordKernel(outputs: count) { seen in
                withArrayPointers(inputs) { pointers in
                    bmq_sum(pointers, s.shifts.map(Int32.init), Int32(inputs.count), count, Int32(s.format.minimum), Int32(s.format.maximum),
                            s.format.signed ? 1 : 0, &y, &seen)
                }
            }
            return y
        }
        for i in 0..<count {
            var total: Int64 = 0
            for (input, shift) in zip(s.inputs, s.shifts) { total += Self.shiftRounding(Int64(slots[input][i]), by: shift) }
            statistics.largestAccumulator = max(statistics.largestAccumulator, abs(total))
            let clamped = s.format.saturate(total)
            if clamped != total, total > 0 || s.format.signed { statistics.saturated += 1 }
            y[i] = Int32(clamped)
        }
        statistics.outputs += count
        return y
    }

    /// `formats/datapath/SPEC.md` section 5, for `batch` images (every plane pools alone).
    static func pool(_ p: Pool, _ x: [Int32], batch: Int) -> [Int32] {
        let (c, h, w) = (batch * p.inputShape[1], p.inputShape[2], p.inputShape[3])
        let (oh, ow) = (p.outputShape[2], p.outputShape[3])
        let (kernel, stride, pad) = p.attributes.window(height: h, width: w)
        let average = p.attributes.method == .average
        let reciprocals = average ? averageReciprocals(p) : []
        var columns = [Int64](repeating: 0, count: 2 * w)
        return [Int32](unsafeUninitializedCapacity: c * oh * ow) { y, initialized in
            reciprocals.withUnsafeBufferPointer { reciprocals in
                bmq_pool(x, Int32(c), Int32(h), Int32(w), Int32(kernel.h), Int32(kernel.w), Int32(stride.h), Int32(stride.w),
                         Int32(pad.h), Int32(pad.w), Int32(oh), Int32(ow), average ? reciprocals.baseAddress : nil, p.largestMagnitude,
                         y.baseAddress!, &columns)
            }
            initialized = c * oh * ow
        }
    }

    /// LRN (`formats/datapath/SPEC.md` section 8), for one image: each value times the factor
    /// interpolated from the table at its window's sum of squares (zero beyond the edges), rounded, saturated.
    func normalize(_ n: Normalization, _ x: [Int32], statistics: inout RequantizationStatistics) -> [Int32] {
        let (c, h, w) = (n.shape[1], n.shape[2], n.shape[3])
        let half = (n.localSize - 1) / 2, plane = h * w
        var y = [Int32](repeating: 0, count: x.count)
        for channel in 0..<c {
            for py in 0..<h {
                for px in 0..<w {
                    var squares: Int64 = 0
                    if n.region == .acrossChannels {
                        for other in max(channel - half, 0)...min(channel + half, c - 1) {
                            let v = Int64(x[other * plane + py * w + px])
                            squares += v * v
                        }
                    } else {
                        for yy in max(py - half, 0)...min(py + half, h - 1) {
                            for xx in max(px - half, 0)...min(px + half, w - 1) {
                                let v = Int64(x[channel * plane + yy * w + xx])
                                squares += v * v
                            }
                        }
                    }
                    statistics.largestAccumulator = max(statistics.largestAccumulator, squares)
                    let index = channel * plane + py * w + px
                    let entry = Int(squares >> n.tableShift), remainder = squares - (Int64(entry) << n.tableShift)
                    let low = Int64(n.table[entry]), high = Int64(n.table[entry + 1])
                    let factor = (low << n.tableShift) + (high - low) * remainder
                    let scaled = Self.shiftRounding(Int64(x[index]) * factor, by: Self.lrnTableBits + n.tableShift)
                    let clamped = n.format.saturate(scaled)
                    if clamped != scaled { statistics.saturated += 1 }
                    y[index] = Int32(clamped)
                }
            }
        }
        statistics.outputs += x.count
        return y
    }

    /// LRN as `normalize` gives it, for `batch` images, in vectorised C.
    static func vectorNormalize(_ n: Normalization, _ x: [Int32], batch: Int, statistics: inout RequantizationStatistics) -> [Int32] {
        let (c, h, w) = (n.shape[1], n.shape[2], n.shape[3])
        var scratch = [Int64](repeating: 0, count: 2 * c * h * w)
        return statistics.recordKernel(outputs: x.count) { seen in
            [Int32](unsafeUninitializedCapacity: x.count) { y, initialized in
                bmq_normalize(x, Int32(batch), Int32(c), Int32(h), Int32(w), n.region == .acrossChannels ? 1 : 0, Int32(n.localSize),
                              n.table, Int32(n.tableShift), Int32(lrnTableBits + n.tableShift), Int32(n.format.minimum),
                              Int32(n.format.maximum), y.baseAddress!, &seen, &scratch)
                initialized = x.count
            }
        }
    }

    /// Each AVE output's reciprocal of Caffe's divisor (the window clipped to the padded input).
    static func averageReciprocals(_ p: Pool) -> [Int32] {
        let (h, w) = (p.inputShape[2], p.inputShape[3])
        let (oh, ow) = (p.outputShape[2], p.outputShape[3])
        let (kernel, stride, pad) = p.attributes.window(height: h, width: w)
        return (0..<(oh * ow)).map { index -> Int32 in
            let y0 = index / ow * stride.h - pad.h, x0 = index % ow * stride.w - pad.w
            return Int32(Self.reciprocal((min(y0 + kernel.h, h + pad.h) - y0) * (min(x0 + kernel.w, w + pad.w) - x0)))
        }
    }

    /// Fractional bits of the AVE pooling reciprocal.
    static let reciprocalBits = 16

    /// `round_half_away(2^16 / divisor)`.
    static func reciprocal(_ divisor: Int) -> Int64 {
        let scaled = Int64(1) << reciprocalBits
        return (2 * scaled + Int64(divisor)) / (2 * Int64(divisor))
    }
}

extension RequantizationStatistics {
    /// Runs a C kernel that adds what it sees to these statistics: `body` gets them in the kernels'
    /// form, their largest accumulator and saturations come back, and `outputs` values are counted.
    mutating func recordKernel<R>(outputs: Int, _ body: (inout bmq_requantize_statistics) -> R) -> R {
        var seen = bmq_requantize_statistics(largest: largestAccumulator, saturated: Int64(saturated))
        let result = body(&seen)
        largestAccumulator = seen.largest
        saturated = Int(seen.saturated)
        self.outputs += outputs
        return result
    }
}

/// Calls `body` with a C array of pointers to each array's elements, `offsets[i]` elements in.
func withArrayPointers<Element, R>(_ arrays: [[Element]], offsets: [Int]? = nil, _ body: ([UnsafePointer<Element>?]) -> R) -> R {
    func nest(_ index: Int, _ pointers: [UnsafePointer<Element>?]) -> R {
        guard index < arrays.count else { return body(pointers) }
        return arrays[index].withUnsafeBufferPointer { nest(index + 1, pointers + [$0.baseAddress! + (offsets?[index] ?? 0)]) }
    }
    return nest(0, [])
}
