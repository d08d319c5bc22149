import Dispatch
import Foundation
import Quantization
import TensorGraph

/// A layer the integer datapath cannot run as configured, with the reason.
public struct DatapathError: Error, Equatable, CustomStringConvertible {
    /// The layer at fault.
    public var layer: String
    /// What is wrong.
    public var message: String

    /// An error about `layer`.
    public init(layer: String, _ message: String) {
        self.layer = layer
        self.message = message
    }

    public var description: String { "layer '\(layer)': \(message)" }
}

/// A Convolution, InnerProduct or Eltwise output that needs an activation format, and which node's float
/// output calibrates it (the fused ReLU's, when there is one).
public struct FormatSite: Sendable, Equatable {
    /// The Convolution, InnerProduct or Eltwise layer.
    public var layer: String
    /// The node whose output values the format must hold.
    public var observedNode: Int
    /// Whether the format is signed (false when a ReLU is fused).
    public var signed: Bool
}

/// What one requantizing step (Convolution, InnerProduct, Eltwise or LRN) did over a run.
public struct RequantizationStatistics: Sendable, Equatable {
    /// What a step's wide intermediate value is.
    public enum Accumulation: String, Sendable, Equatable, Codable {
        /// Convolution and InnerProduct: weights times inputs, plus the bias.
        case products = "accumulator"
        /// Eltwise SUM: the aligned inputs.
        case sum = "sum"
        /// LRN: the window's sum of squares.
        case squares = "sum of squares"
    }

    /// The layer.
    public var layer: String
    /// What the step accumulates.
    public var accumulation: Accumulation
    /// The output format.
    public var format: FixedPointFormat
    /// The accumulator's scale, `Fx + Fw`.
    public var accumulatorFraction: Int
    /// The worst-case `|acc|` from the formats and the weights.
    public var bound: Int64
    /// Accumulator bits that hold `bound` (two's complement).
    public var accumulatorBits: Int
    /// The largest `|acc|` seen.
    public var largestAccumulator: Int64
    /// Outputs clamped by requantization (a fused ReLU's zeros not counted).
    public var saturated: Int
    /// Outputs computed.
    public var outputs: Int

    /// Adds what another run of the same layer saw.
    public mutating func merge(_ other: RequantizationStatistics) {
        largestAccumulator = max(largestAccumulator, other.largestAccumulator)
        saturated += other.saturated
        outputs += other.outputs
    }
}

/// A network compiled to the integer datapath of `formats/datapath/SPEC.md`: integer weights and
/// biases, shifts and formats fixed per layer, run on quantized inputs.
public struct IntegerProgram: Sendable {
    struct Dense: Sendable {
        var layer: String
        var input: Int, output: Int
        /// Convolution geometry, or nil for an inner product over the whole input.
        var convolution: ConvolutionAttributes?
        var inputShape: Shape, outputShape: Shape
        /// [M, K] integer weights (per group for convolutions).
        var weights: [Int32]
        var bias: [Int64]
        var shift: Int
        var format: FixedPointFormat
        var accumulatorFraction: Int
        var inputFraction: Int
        var bound: Int64
        /// The graph's node (its float bias), the input's format and whether a ReLU is fused: what
        /// compiling the layer again with other weights needs.
        var node: Node
        var inputFormat: FixedPointFormat
        var fusedReLU: Bool
        /// The layer with its integer weights as floats and no bias, for the engine's float
        /// kernels: when `bound < 2^22` every product and partial sum is an integer float32 holds
        /// exactly (up to 2^24), so any summation order gives the integer sum, which then converts
        /// to an integer by adding 1.5 × 2^23 (nil for wider bounds).
        var exactInFloat: Node?
        /// The layer's form for the byte dot products (nil where they cannot give its sums).
        var bytes: ByteLayer?
    }

    struct Sum: Sendable {
        var layer: String
        var inputs: [Int]
        /// Each input's shift to the output format (`F_i - F_out`).
        var shifts: [Int]
        var output: Int
        var format: FixedPointFormat
        var bound: Int64
    }

    struct Pool: Sendable {
        var input: Int, output: Int
        var attributes: PoolingAttributes
        var inputShape: Shape, outputShape: Shape
        /// The largest |input| the input's format holds.
        var largestMagnitude: Int64
    }

    /// LRN by table (`formats/datapath/SPEC.md` section 8): the window's sum of squares `S`
    /// interpolates linearly between entries `S >> tableShift` and the next of a factor table with
    /// `lrnTableBits` fractional bits.
    struct Normalization: Sendable {
        var layer: String
        var input: Int, output: Int
        var region: LRNRegion
        var localSize: Int
        var shape: Shape
        var format: FixedPointFormat
        var tableShift: Int
        var table: [Int32]
        var bound: Int64
    }

    enum Step: Sendable {
        case dense(Dense)
        case sum(Sum)
        case pool(Pool)
        case normalization(Normalization)
        case relu(input: Int, output: Int)
        case alias(input: Int, output: Int)
    }

    /// A value the program computes that a test bench can compare: the input and every layer output.
    public struct TracedValue: Sendable, Equatable {
        /// The layer that writes it (the input's name for the input).
        public var layer: String
        /// The layer's type (`Input` for the input).
        public var type: String
        /// Its shape for one image (no batch dimension).
        public var shape: [Int]
        /// Its format.
        public var format: FixedPointFormat
        let slot: Int
    }

    private(set) var steps: [Step] {
        didSet { packedPlans = PackedPlanCache() }
    }
    /// `run`'s packed plans, made again when the steps change.
    private(set) var packedPlans = PackedPlanCache()
    let slotCount: Int
    /// The input, then every layer's output in execution order (a fused ReLU's output is its
    /// layer's; Dropout, Flatten and Split copy and are not listed).
    public let traced: [TracedValue]
    let inputSlot: Int
    let scoreSlot: Int
    /// The quantized input's format.
    public let inputFormat: FixedPointFormat
    /// Values per image at the input.
    public let inputCount: Int
    /// Class scores per image.
    public let classes: Int
    /// The format of the class scores.
    public let scoreFormat: FixedPointFormat

    /// The layers whose outputs need activation formats, in graph order.
    /// - Throws: `DatapathError` naming a layer the datapath does not run.
    public static func formatSites(of graph: Graph) throws -> [FormatSite] {
        var sites: [FormatSite] = []
        for (index, node) in graph.nodes.enumerated() {
            try checkSupported(node, index: index, in: graph)
            guard node.op.hasWeights || Self.isSum(node.op) else { continue }
            let relu = fusedReLU(after: index, in: graph)
            sites.append(FormatSite(layer: node.name, observedNode: relu ?? index, signed: relu == nil))
        }
        return sites
    }

    /// The index of an in-place ReLU (slope 0) right after node `index` that writes its output.
    static func fusedReLU(after index: Int, in graph: Graph) -> Int? {
        let nodes = graph.nodes
        guard index + 1 < nodes.count, case let .relu(a) = nodes[index + 1].op, a.negativeSlope == 0,
              nodes[index].outputs.count == 1, nodes[index + 1].inputs == nodes[index].outputs,
              nodes[index + 1].outputs == nodes[index].outputs else { return nil }
        return index + 1
    }

    /// The Softmax that ends the network, whose input holds the class scores.
    static func isFinalSoftmax(_ index: Int, in graph: Graph) -> Bool {
        guard case .softmax = graph.nodes[index].op else { return false }
        return index == graph.nodes.count - 1 && graph.nodes[index].outputs.contains(graph.output)
    }

    static func isSum(_ op: Op) -> Bool {
        if case .eltwise = op { return true }
        return false
    }

    static func checkSupported(_ node: Node, index: Int, in graph: Graph) throws {
        switch node.op {
        case let .eltwise(a):
            guard a.operation == .sum, a.coefficients.allSatisfy({ $0 == 1 }) else {
                throw DatapathError(layer: node.name, "only Eltwise SUM with coefficients 1 has an integer definition in datapath 0.1")
            }
        case .batchNorm, .scale:
            throw DatapathError(layer: node.name, "\(node.op.typeName) must follow a Convolution in place to be folded into it (formats/datapath/SPEC.md)")
        case .convolution, .innerProduct, .pooling, .dropout, .flatten, .split: return
        case let .relu(a):
            guard a.negativeSlope == 0 else { throw DatapathError(layer: node.name, "a leaky ReLU has no integer definition in datapath 0.1") }
        case .softmax:
            guard isFinalSoftmax(index, in: graph) else {
                throw DatapathError(layer: node.name, "only a Softmax that ends the network is allowed (the class is the argmax of its input)")
            }
        case .lrn: return
        case .sigmoid, .tanh, .absVal, .concat, .prelu, .clip, .permute:
            throw DatapathError(layer: node.name, "\(node.op.typeName) has no integer definition in datapath 0.1 (formats/datapath/SPEC.md)")
        }
    }

    /// Compiles a graph whose weights `plan` has quantized.
    /// - Parameters:
    ///   - graph: the graph with quantized weights (every weight a value of its pattern).
    ///   - plan: the plan that quantized it; every Convolution and InnerProduct must be on a bit pattern.
    ///   - formats: the activation formats (the plan's, or chosen on calibration data).
    /// - Throws: `DatapathError` naming the layer that cannot run in integers.
    public init(graph: Graph, plan: QuantizationPlan, formats: ActivationFormats) throws {
        let shapes = try ShapeInference.infer(graph.withBatch(1))
        var slots: [String: Int] = [:]
        var slotFormats: [Int: FixedPointFormat] = [:]
        var slotCount = 0
        func newSlot(_ name: String, _ format: FixedPointFormat) -> Int {
            defer { slotCount += 1 }
            slots[name] = slotCount
            slotFormats[slotCount] = format
            return slotCount
        }
        guard graph.inputs.count == 1 else { throw DatapathError(layer: "input", "the datapath runs nets with one input") }
        let inputName = graph.inputs[0].name
        let inputSlot = newSlot(inputName, formats.input)
        var traced = [TracedValue(layer: inputName, type: "Input", shape: Array(graph.inputs[0].shape.dims.dropFirst()),
                                  format: formats.input, slot: inputSlot)]
        func trace(_ node: Node, _ slot: Int, _ shape: Shape) {
            traced.append(TracedValue(layer: node.name, type: node.op.typeName, shape: Array(shape.dims.dropFirst()),
                                      format: slotFormats[slot]!, slot: slot))
        }
        var steps: [Step] = []
        var skip: Set<Int> = []
        var scoreSlot: Int?
        for (index, node) in graph.nodes.enumerated() where !skip.contains(index) {
            try Self.checkSupported(node, index: index, in: graph)
            let inputShapes = shapes.nodeInputShapes[index]
            let inputSlots = try node.inputs.map { name -> Int in
                guard let slot = slots[name] else { throw DatapathError(layer: node.name, "reads '\(name)', which nothing produces") }
                return slot
            }
            let outputShape = shapes.nodeOutputShapes[index][0]
            switch node.op {
            case .convolution, .innerProduct:
                let relu = Self.fusedReLU(after: index, in: graph)
                if let relu { skip.insert(relu) }
                let dense = try Self.dense(node, input: inputSlots[0], inputFormat: slotFormats[inputSlots[0]]!, inputShape: inputShapes[0],
                                           outputShape: outputShape, plan: plan, formats: formats, fusedReLU: relu != nil,
                                           output: slotCount)
                trace(node, newSlot(node.outputs[0], dense.format), outputShape)
                steps.append(.dense(dense))
            case .eltwise:
                guard var format = formats.layers[node.name] else {
                    throw DatapathError(layer: node.name, "the plan has no activation format for this layer's output")
                }
                if let relu = Self.fusedReLU(after: index, in: graph) {
                    skip.insert(relu)
                    format.signed = false
                }
                let inputFormats = inputSlots.map { slotFormats[$0]! }
                let bound = inputFormats.reduce(Int64(0)) { total, input in
                    total + Self.shiftRounding(input.largestMagnitude, by: input.fraction - format.fraction)
                }
                let slot = newSlot(node.outputs[0], format)
                trace(node, slot, outputShape)
                steps.append(.sum(Sum(layer: node.name, inputs: inputSlots, shifts: inputFormats.map { $0.fraction - format.fraction },
                                      output: slot, format: format, bound: bound)))
            case let .pooling(a):
                let format = slotFormats[inputSlots[0]]!
                let slot = newSlot(node.outputs[0], format)
                trace(node, slot, outputShape)
                steps.append(.pool(Pool(input: inputSlots[0], output: slot, attributes: a, inputShape: inputShapes[0], outputShape: outputShape,
                                          largestMagnitude: format.largestMagnitude)))
            case let .lrn(a):
                let format = slotFormats[inputSlots[0]]!
                let slot = newSlot(node.outputs[0], format)
                trace(node, slot, outputShape)
                steps.append(.normalization(try Self.normalization(node, a, input: inputSlots[0], output: slot, shape: outputShape, format: format)))
            case .relu:
                let format = slotFormats[inputSlots[0]]!
                let slot = newSlot(node.outputs[0], format)
                trace(node, slot, outputShape)
                steps.append(.relu(input: inputSlots[0], output: slot))
            case .dropout, .flatten, .split:
                let format = slotFormats[inputSlots[0]]!
                for name in node.outputs { steps.append(.alias(input: inputSlots[0], output: newSlot(name, format))) }
            case .softmax:
                scoreSlot = inputSlots[0]
            default:
                throw DatapathError(layer: node.name, "\(node.op.typeName) has no integer definition in datapath 0.1")
            }
        }
        guard let scores = scoreSlot ?? slots[graph.output] else {
            throw DatapathError(layer: "output", "the class scores '\(graph.output)' are not computed")
        }
        self.steps = steps
        self.traced = traced
        self.slotCount = slotCount
        self.inputSlot = inputSlot
        self.scoreSlot = scores
        inputFormat = formats.input
        inputCount = graph.inputs[0].shape.count(from: 1)
        scoreFormat = slotFormats[scores]!
        let scoreShape = scoreSlot == nil ? shapes.valueShapes[graph.output]! : shapes.nodeOutputShapes[graph.nodes.count - 1][0]
        classes = scoreShape.count(from: 1)
    }

    static func dense(_ node: Node, input: Int, inputFormat: FixedPointFormat, inputShape: Shape, outputShape: Shape,
                      plan: QuantizationPlan, formats: ActivationFormats, fusedReLU: Bool, output: Int) throws -> Dense {
        guard let entry = plan.entry(for: node.name) else {
            throw DatapathError(layer: node.name, "its weights are float; the integer datapath needs every weight layer on a bit pattern")
        }
        guard case let .pattern(pattern) = entry.weights else {
            throw DatapathError(layer: node.name, "\(entry.weights) needs a float multiplier; the integer datapath takes bit patterns only")
        }
        guard var format = formats.layers[node.name] else {
            throw DatapathError(layer: node.name, "the plan has no activation format for this layer's output")
        }
        if fusedReLU { format.signed = false }
        guard format.bits <= (format.signed ? 32 : 31) else {
            throw DatapathError(layer: node.name, "activation format \(format) is wider than the datapath's 32-bit tensors")
        }
        let weightFraction = pattern.fractionBits
        let weights: [Int32]
        do {
            weights = try node.parameters[0].integerCodes(fraction: weightFraction)
        } catch {
            throw DatapathError(layer: node.name, "weight \(error.value) is not a value of \(pattern.label)")
        }
        let accumulatorFraction = inputFormat.fraction + weightFraction
        let biasValues = node.parameters.count > 1 ? node.parameters[1].data : []
        let channels = outputShape[1]
        let bias = (0..<channels).map { c -> Int64 in
            guard c < biasValues.count else { return 0 }
            return FixedPointFormat(bits: 63, fraction: accumulatorFraction, signed: true).quantize(biasValues[c])
        }
        let perChannel = weights.count / channels
        var bound: Int64 = 0
        for c in 0..<channels {
            let sum = weights[(c * perChannel)..<((c + 1) * perChannel)].reduce(Int64(0)) { $0 + Int64(abs(Int64($1))) }
            let (product, overflow) = sum.multipliedReportingOverflow(by: inputFormat.largestMagnitude)
            guard !overflow else { throw DatapathError(layer: node.name, "the accumulator bound overflows 64 bits") }
            bound = max(bound, product + abs(bias[c]))
        }
        var convolution: ConvolutionAttributes?
        if case let .convolution(a) = node.op { convolution = a }
        if case let .innerProduct(a) = node.op, a.transpose || a.axis != 1 {
            throw DatapathError(layer: node.name, "a transposed or axis-\(a.axis) InnerProduct is not in datapath 0.1")
        }
        var exactInFloat: Node?
        if bound < Int64(1) << 22 {
            var floatNode = node
            switch node.op {
            case var .convolution(a):
                a.biasTerm = false
                floatNode.op = .convolution(a)
            case var .innerProduct(a):
                a.biasTerm = false
                floatNode.op = .innerProduct(a)
            default: break
            }
            floatNode.parameters = [Tensor(shape: node.parameters[0].shape, data: weights.map(Float.init))]
            exactInFloat = floatNode
        }
        var dense = Dense(layer: node.name, input: input, output: output, convolution: convolution, inputShape: inputShape,
                          outputShape: outputShape, weights: weights, bias: bias, shift: accumulatorFraction - format.fraction,
                          format: format, accumulatorFraction: accumulatorFraction, inputFraction: inputFormat.fraction, bound: bound,
                          node: node, inputFormat: inputFormat, fusedReLU: fusedReLU, exactInFloat: exactInFloat)
        dense.bytes = ByteLayer(dense)
        return dense
    }

    /// Fractional bits of the LRN factor table's entries.
    static let lrnTableBits = 16
    /// The LRN table's largest number of entries.
    static let lrnTableLimit = 1024

    /// The LRN step: `(k + α/N × S × 2^-2F)^-β` tabulated at `S = i × 2^t` for the smallest `t`
    /// that keeps every sum of squares the input format allows within `lrnTableLimit` entries.
    static func normalization(_ node: Node, _ a: LRNAttributes, input: Int, output: Int, shape: Shape,
                              format: FixedPointFormat) throws -> Normalization {
        guard format.bits <= 16 else {
            throw DatapathError(layer: node.name, "LRN's input format \(format) is wider than the 16 bits its table arithmetic allows")
        }
        let cells = a.region == .acrossChannels ? a.localSize : a.localSize * a.localSize
        let bound = Int64(cells) * format.largestMagnitude * format.largestMagnitude
        var shift = 0
        while (bound >> shift) + 2 > Int64(lrnTableLimit) { shift += 1 }
        let k = a.region == .acrossChannels ? Double(a.k) : 1
        let table = try (0...((bound >> shift) + 1)).map { index -> Int32 in
            let squares = Double(index) * Double.pow2(shift) * Double.pow2(-2 * format.fraction)
            let base = k + Double(a.alpha) / Double(cells) * squares
            guard base > 0 else { throw DatapathError(layer: node.name, "LRN's k + α·Σx²/n is not positive (k = \(a.k))") }
            let factor = Foundation.pow(base, -Double(a.beta))
            guard factor < 2 else { throw DatapathError(layer: node.name, "LRN's factor \(factor) is 2 or more; the table holds factors below 2") }
            return Int32((factor * Double.pow2(lrnTableBits)).rounded(.toNearestOrAwayFromZero))
        }
        return Normalization(layer: node.name, input: input, output: output, region: a.region, localSize: a.localSize, shape: shape,
                             format: format, tableShift: shift, table: table, bound: bound)
    }

    /// The index of the step that computes Convolution or InnerProduct `layer`.
    public func stepIndex(ofLayer layer: String) -> Int? {
        steps.firstIndex { if case let .dense(d) = $0 { d.layer == layer } else { false } }
    }

    /// This program with `layer`'s weights replaced by `weights`, values of `pattern` (formats kept).
    /// - Throws: `DatapathError` when the layer is not a Convolution or InnerProduct here, or a
    ///   weight is not a value of `pattern`.
    public func replacingWeights(of layer: String, with weights: Tensor, pattern: BitPattern) throws -> IntegerProgram {
        guard let index = stepIndex(ofLayer: layer), case let .dense(d) = steps[index] else {
            throw DatapathError(layer: layer, "is not a Convolution or InnerProduct of this program")
        }
        var node = d.node
        node.parameters[0] = weights
        let replaced = try Self.dense(node, input: d.input, inputFormat: d.inputFormat, inputShape: d.inputShape, outputShape: d.outputShape,
                                      plan: QuantizationPlan(rounding: .nearest, entries: [.init(layer: layer, weights: .pattern(pattern))]),
                                      formats: ActivationFormats(input: inputFormat, layers: [layer: d.format]), fusedReLU: d.fusedReLU,
                                      output: d.output)
        var copy = self
        copy.steps[index] = .dense(replaced)
        return copy
    }

    /// The deployable's statement of this datapath: formats, scales, integer biases, accumulator widths.
    public var contract: DatapathContract {
        DatapathContract(input: inputFormat, layers: steps.compactMap {
            switch $0 {
            case let .dense(d):
                return DatapathContract.Layer(name: d.layer, output: d.format, weightFraction: d.accumulatorFraction - d.inputFraction,
                                              accumulatorFraction: d.accumulatorFraction, accumulatorBits: Self.accumulatorBits(d.bound),
                                              bias: d.bias)
            case let .sum(s):
                return DatapathContract.Layer(name: s.layer, output: s.format, weightFraction: nil, accumulatorFraction: s.format.fraction,
                                              accumulatorBits: Self.accumulatorBits(s.bound), bias: nil)
            case let .normalization(n):
                return DatapathContract.Layer(name: n.layer, output: n.format, weightFraction: nil, accumulatorFraction: 2 * n.format.fraction,
                                              accumulatorBits: Self.accumulatorBits(n.bound), bias: nil,
                                              table: DatapathContract.Table(shift: n.tableShift, fraction: Self.lrnTableBits, values: n.table))
            default:
                return nil
            }
        })
    }

    /// Accumulator bits that hold every value of magnitude at most `bound`.
    static func accumulatorBits(_ bound: Int64) -> Int { 1 + (64 - UInt64(bound).leadingZeroBitCount) }

    /// The per-layer accumulator facts known before running: bound and width.
    public var requantizingLayers: [RequantizationStatistics] {
        steps.compactMap {
            switch $0 {
            case let .dense(d):
                return RequantizationStatistics(layer: d.layer, accumulation: .products, format: d.format, accumulatorFraction: d.accumulatorFraction, bound: d.bound,
                                                accumulatorBits: Self.accumulatorBits(d.bound), largestAccumulator: 0, saturated: 0, outputs: 0)
            case let .sum(s):
                return RequantizationStatistics(layer: s.layer, accumulation: .sum, format: s.format, accumulatorFraction: s.format.fraction, bound: s.bound,
                                                accumulatorBits: Self.accumulatorBits(s.bound), largestAccumulator: 0, saturated: 0, outputs: 0)
            case let .normalization(n):
                return RequantizationStatistics(layer: n.layer, accumulation: .squares, format: n.format, accumulatorFraction: 2 * n.format.fraction, bound: n.bound,
                                                accumulatorBits: Self.accumulatorBits(n.bound), largestAccumulator: 0, saturated: 0, outputs: 0)
            default:
                return nil
            }
        }
    }
}
