#if !AVX512_TWIN
import SIMDKernelsAVX512
#endif

/// An inner product y[row][j] = sum over k of x[row][k] w[j][k], sixteen outputs per vector.
///
/// Each output is summed in k order with fused multiply-adds, one running value per output,
/// whatever the number of rows and wherever a row falls among them: a row's result does not
/// depend on the batch it came in (BLAS kernels split their sums by tile position instead).
@available(macOS 26, *)
public struct InnerProductKernel: Sendable {
    #if !AVX512_TWIN
    /// The same kernel built for AVX-512 (vectors of sixteen in one register), when asked for.
    let wide: SIMDKernelsAVX512.InnerProductKernel?
    #endif

    public let inputs, outputs: Int
    static let lanes = 16

    public init(inputs: Int, outputs: Int, wide: Bool = false) {
        self.inputs = inputs
        self.outputs = outputs
        #if !AVX512_TWIN
        self.wide = wide ? SIMDKernelsAVX512.InnerProductKernel(inputs: inputs, outputs: outputs) : nil
        #endif
    }

    /// Groups of sixteen outputs: the unit `run` can split the outputs by.
    public var panels: Int { (outputs + Self.lanes - 1) / Self.lanes }

    /// The weights as panels of sixteen outputs, each [k][16], zeros past the last output.
    /// - Parameter transposed: the weights are stored [inputs][outputs] instead of [outputs][inputs].
    public func packWeights(_ weights: UnsafePointer<Float>, transposed: Bool) -> [Float] {
        let lanes = Self.lanes
        var packed = [Float](repeating: 0, count: panels * inputs * lanes)
        for j in 0..<outputs {
            let panel = j / lanes, lane = j % lanes
            for k in 0..<inputs {
                packed[(panel * inputs + k) * lanes + lane] = transposed ? weights[k * outputs + j] : weights[j * inputs + k]
            }
        }
        return packed
    }

    /// y[rows][outputs] = x[rows][inputs] times the packed weights, then plus `bias` when given.
    /// - Parameter panels: only these panels' outputs (default all): one core's share of a row.
    public func run(rows: Int, input: UnsafePointer<Float>, packedWeights: UnsafePointer<Float>, bias: UnsafePointer<Float>?,
                    output: UnsafeMutablePointer<Float>, panels: Range<Int>? = nil) {
        #if !AVX512_TWIN
        if let wide { return wide.run(rows: rows, input: input, packedWeights: packedWeights, bias: bias, output: output, panels: panels) }
        #endif
        let panels = panels ?? 0..<self.panels
        if rows < 4 {
            for row in 0..<rows { multiplyRow(input + row * inputs, packedWeights, output + row * outputs, panels) }
        } else {
            multiplyRowTiles(rows, input, packedWeights, output, panels)
        }
        guard let bias else { return }
        let columns = (panels.lowerBound * Self.lanes)..<min(outputs, panels.upperBound * Self.lanes)
        for row in 0..<rows {
            let y = output + row * outputs
            for j in columns { y[j] += bias[j] }
        }
    }

    /// Many rows: tiles of rows (as many as the register kernel holds) share each load of the weights.
    func multiplyRowTiles(_ rows: Int, _ input: UnsafePointer<Float>, _ packedWeights: UnsafePointer<Float>, _ output: UnsafeMutablePointer<Float>,
                          _ panels: Range<Int>) {
        // The rows as the register kernel's broadcast operands: tiles of rows, [k][row].
        let tiles = balancedTiles(rows, maxTile: sixteenLaneTileRows)
        packRows(input, count: rows, k: inputs, tiles: tiles).withUnsafeBufferPointer { transposedRows in
            for panel in panels {
                let first = panel * Self.lanes
                multiplyChannelTiles(tiles, elements: inputs, PanelColumns<SIMD16<Float>>(base: packedWeights + panel * inputs * Self.lanes),
                                     transposedRows.baseAddress!, nil, output + first, rowStride: outputs,
                                     count: min(Self.lanes, outputs - first))
            }
        }
    }

    /// One row: four panels at a time, so that four independent sums hide the multiply-add's
    /// latency. The same multiply-adds in the same order as `multiplyRowTiles`, so the same bits.
    func multiplyRow(_ x: UnsafePointer<Float>, _ packedWeights: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, _ panels: Range<Int>) {
        typealias Vector = SIMD16<Float>
        let lanes = Self.lanes, k = inputs
        for firstPanel in stride(from: panels.lowerBound, to: panels.upperBound, by: 4) {
            let count = min(4, panels.upperBound - firstPanel)
            var sums = InlineArray<4, Vector>(repeating: Vector())
            let base = packedWeights + firstPanel * k * lanes
            for e in 0..<k {
                let value = Vector(repeating: x[e])
                for p in 0..<4 where p < count {
                    sums[p] = sums[p].addingProduct(value, UnsafeRawPointer(base + (p * k + e) * lanes).loadUnaligned(as: Vector.self))
                }
            }
            for p in 0..<count {
                let first = (firstPanel + p) * lanes
                for i in 0..<min(lanes, outputs - first) { y[first + i] = sums[p][i] }
            }
        }
    }
}
