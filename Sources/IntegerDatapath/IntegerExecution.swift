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

    /// Runs `count` images of quantized inputs (`inputCount` integers each), one worker per core.
    /// - Throws: only if a worker is lost (the datapath itself cannot fail once compiled).
    public func run(_ inputs: [Int32], count: Int) throws -> Run {
        precondition(inputs.count == count * inputCount, "inputs do not hold \(count) images")
        let workers = max(1, min(count, Parallel.workers))
        // Each worker runs a contiguous block of images and returns its scores and statistics.
        let parts = try Parallel.map(workers) { worker -> (scores: [Int32], statistics: [RequantizationStatistics]) in
            var slots = [[Int32]](repeating: [], count: slotCount)
            var scratch: [Int32] = []
            var statistics = requantizingLayers
            var scores: [Int32] = []
            for image in (worker * count / workers)..<((worker + 1) * count / workers) {
                slots[inputSlot] = Array(inputs[(image * inputCount)..<((image + 1) * inputCount)])
                execute(&slots, scratch: &scratch, statistics: &statistics)
                scores += slots[scoreSlot].prefix(classes)
            }
            return (scores, statistics)
        }
        var merged = requantizingLayers
        for part in parts {
            for (index, layer) in part.statistics.enumerated() {
                merged[index].largestAccumulator = max(merged[index].largestAccumulator, layer.largestAccumulator)
                merged[index].saturated += layer.saturated
                merged[index].outputs += layer.outputs
            }
        }
        return Run(scores: parts.flatMap(\.scores), layers: merged)
    }

    /// Every traced value (`traced`, in order) for one image of quantized inputs.
    public func trace(_ input: [Int32]) -> [[Int32]] {
        var slots = [[Int32]](repeating: [], count: slotCount)
        var scratch: [Int32] = []
        var ignored = requantizingLayers
        slots[inputSlot] = input
        execute(&slots, scratch: &scratch, statistics: &ignored)
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

    func execute(_ slots: inout [[Int32]], scratch: inout [Int32], statistics: inout [RequantizationStatistics]) {
        var denseIndex = 0
        for step in steps {
            switch step {
            case let .dense(d):
                slots[d.output] = dense(d, slots[d.input], scratch: &scratch, statistics: &statistics[denseIndex])
                denseIndex += 1
            case let .sum(s):
                slots[s.output] = sum(s, slots, statistics: &statistics[denseIndex])
                denseIndex += 1
            case let .pool(p):
                slots[p.output] = pool(p, slots[p.input])
            case let .normalization(n):
                slots[n.output] = normalize(n, slots[n.input], statistics: &statistics[denseIndex])
                denseIndex += 1
            case let .relu(input, output):
                slots[output] = slots[input].map { max($0, 0) }
            case let .alias(input, output):
                slots[output] = slots[input]
            }
        }
    }

    /// `formats/datapath/SPEC.md` section 4, for one image.
    func dense(_ d: Dense, _ x: [Int32], scratch: inout [Int32], statistics: inout RequantizationStatistics) -> [Int32] {
        let channels = d.outputShape[1]
        let positions = d.outputShape.count(from: 2)
        var y = [Int32](repeating: 0, count: channels * positions)
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
                    requantize(d, accumulator, channel: oc, into: &y, statistics: &statistics)
                }
            }
        } else {
            for n in 0..<channels {
                var sum: Int64 = 0
                let base = n * perChannel
                for k in 0..<perChannel { sum += Int64(d.weights[base + k]) * Int64(x[k]) }
                accumulator[0] = sum
                requantize(d, accumulator, channel: n, into: &y, statistics: &statistics)
            }
        }
        return y
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

    /// Adds the channel's bias, shifts to the output format with rounding, saturates.
    @inline(__always)
    func requantize(_ d: Dense, _ accumulator: [Int64], channel: Int, into y: inout [Int32],
                    statistics: inout RequantizationStatistics) {
        let positions = y.count / d.outputShape[1]
        let bias = d.bias[channel]
        for p in 0..<positions {
            let acc = accumulator[p] + bias
            statistics.largestAccumulator = max(statistics.largestAccumulator, acc.magnitude > UInt64(Int64.max) ? Int64.max : abs(acc))
            let shifted = Self.shiftRounding(acc, by: d.shift)
            let clamped = d.format.saturate(shifted)
            if clamped != shifted, shifted > 0 || d.format.signed { statistics.saturated += 1 }
            y[channel * positions + p] = Int32(clamped)
        }
        statistics.outputs += positions
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
    func sum(_ s: Sum, _ slots: [[Int32]], statistics: inout RequantizationStatistics) -> [Int32] {
        let count = slots[s.inputs[0]].count
        var y = [Int32](repeating: 0, count: count)
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

    /// `formats/datapath/SPEC.md` section 5, for one image.
    func pool(_ p: Pool, _ x: [Int32]) -> [Int32] {
        let (c, h, w) = (p.inputShape[1], p.inputShape[2], p.inputShape[3])
        let (oh, ow) = (p.outputShape[2], p.outputShape[3])
        let (kernel, stride, pad) = p.attributes.window(height: h, width: w)
        var y = [Int32](repeating: 0, count: c * oh * ow)
        for plane in 0..<c {
            for oy in 0..<oh {
                for ox in 0..<ow {
                    let y0 = oy * stride.h - pad.h, x0 = ox * stride.w - pad.w
                    var best = Int32.min
                    var sum: Int64 = 0
                    for iy in max(y0, 0)..<min(y0 + kernel.h, h) {
                        for ix in max(x0, 0)..<min(x0 + kernel.w, w) {
                            let value = x[(plane * h + iy) * w + ix]
                            best = max(best, value)
                            sum += Int64(value)
                        }
                    }
                    let out = (plane * oh + oy) * ow + ox
                    if p.attributes.method == .max {
                        y[out] = best
                    } else {
                        let divisor = (min(y0 + kernel.h, h + pad.h) - y0) * (min(x0 + kernel.w, w + pad.w) - x0)
                        y[out] = Int32(Self.shiftRounding(sum * Self.reciprocal(divisor), by: Self.reciprocalBits))
                    }
                }
            }
        }
        return y
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

    /// Fractional bits of the AVE pooling reciprocal.
    static let reciprocalBits = 16

    /// `round_half_away(2^16 / divisor)`.
    static func reciprocal(_ divisor: Int) -> Int64 {
        let scaled = Int64(1) << reciprocalBits
        return (2 * scaled + Int64(divisor)) / (2 * Int64(divisor))
    }
}
