import Datasets
import Foundation
import Inference
import IntegerDatapath
import Quantization
import TensorGraph

/// Which arithmetic an evaluation runs.
public enum Datapath: String, Sendable, CaseIterable {
    /// float32 activations, as Caffe computes (weights quantized when a plan is given).
    case float
    /// The integer datapath of `formats/datapath/SPEC.md`: integer activations, weights and biases.
    case integer
}

/// Total bits of activation formats: one width for every tensor, and per-layer overrides (the
/// input by its name).
public struct ActivationWidths: Sendable, Equatable {
    /// The width of every tensor not named.
    public var all: Int
    /// Widths of named layers' outputs.
    public var perLayer: [String: Int]

    /// Every tensor `all` bits wide, except those in `perLayer`.
    public init(all: Int = 8, perLayer: [String: Int] = [:]) {
        self.all = all
        self.perLayer = perLayer
    }

    /// Parses `8`, `8,conv1=6`, or `conv1=6` (the rest 8).
    /// - Throws: `RequestError` naming a part that is not a width from 2 to 31.
    public init(parsing text: String) throws {
        self.init()
        var sawAll = false
        for part in text.split(separator: ",").map({ $0.trimmingCharacters(in: .whitespaces) }) {
            let pieces = part.split(separator: "=", maxSplits: 1).map(String.init)
            guard let bits = Int(pieces.last ?? ""), (2...31).contains(bits), pieces.count == 2 || !sawAll else {
                throw RequestError(.activationBits, "'\(part)' in \(.activationBits) is not B or LAYER=B with B from 2 to 31")
            }
            if pieces.count == 2 { perLayer[pieces[0]] = bits } else { all = bits; sawAll = true }
        }
    }

    /// The width of `layer`'s output.
    public func bits(of layer: String) -> Int { perLayer[layer] ?? all }
}

/// How activation formats are chosen when a plan does not carry them (or should not be used).
public struct ActivationCalibration: Sendable {
    /// The calibration images (never the test set).
    public var data: URL
    /// The calibration set's layout, when content detection should not decide.
    public var format: DatasetFormat?
    /// Use only the first calibration images.
    public var limit: Int?
    /// Total bits of the activation formats.
    public var bits: ActivationWidths

    /// Checks the request's values.
    /// - Throws: `RequestError` for a limit that is not positive.
    public init(data: URL, format: DatasetFormat? = nil, limit: Int? = 5000, bits: ActivationWidths = ActivationWidths()) throws {
        if let limit, limit <= 0 { throw RequestError(.calibrationLimit, "\(.calibrationLimit) must be positive") }
        self.data = data
        self.format = format
        self.limit = limit
        self.bits = bits
    }
}

/// What the integer datapath did on the evaluation data.
public struct IntegerEvaluationReport: Sendable {
    /// Accuracy of the integer network (the class is the lowest index among the largest scores).
    public var result: EvaluationResult
    /// The activation formats it ran with.
    public var formats: ActivationFormats
    /// Per Convolution or InnerProduct layer: format, accumulator bound and width, largest
    /// accumulator seen, saturated outputs.
    public var layers: [RequantizationStatistics]
    /// Input values clamped by the input format.
    public var saturatedInputs: Int
    /// Input values quantized.
    public var inputs: Int
}

/// How one activation tensor's calibration values spread against its format's range: counts of
/// magnitudes by power of two, as hls4ml's profiling plots show them.
public struct ActivationProfile: Sendable, Codable, Equatable {
    /// The layer whose output it is (the input's name for the input).
    public var layer: String
    /// The format chosen for it.
    public var format: String
    /// The power of two of the first bin: bin `i` counts magnitudes in [2^(lowestPower + i), 2^(lowestPower + i + 1)).
    public var lowestPower: Int
    /// Values per bin.
    public var counts: [Int]
    /// Values that are exactly 0.
    public var zeros: Int
    /// The smallest non-zero magnitude the format holds, as a power of two (its LSB).
    public var lsbPower: Int
    /// The largest magnitude the format holds.
    public var largestRepresentable: Double

    enum CodingKeys: String, CodingKey {
        case layer, format, counts, zeros
        case lowestPower = "lowest_power", lsbPower = "lsb_power", largestRepresentable = "largest_representable"
    }

    /// The power of two of the first bin of every profile.
    static let lowestBin = -24
    /// Bins per profile (magnitudes from 2^-24 to 2^16).
    static let binCount = 40

    /// The largest magnitude seen (what the format must hold); not part of the JSON.
    var largest = 0.0
    /// Whether a negative value was seen (the input's signedness); not part of the JSON.
    var negative = false

    init(layer: String) {
        self.layer = layer
        format = ""
        lowestPower = Self.lowestBin
        counts = [Int](repeating: 0, count: Self.binCount)
        zeros = 0
        lsbPower = 0
        largestRepresentable = 0
    }

    mutating func add(_ values: [Float]) {
        for value in values {
            let magnitude = abs(value)
            largest = max(largest, Double(magnitude))
            if value < 0 { negative = true }
            if magnitude == 0 { zeros += 1; continue }
            let bin = Int(magnitude.exponent) - lowestPower
            counts[min(max(bin, 0), counts.count - 1)] += 1
        }
    }

    /// The profile beside the format chosen for it.
    func with(_ format: FixedPointFormat) -> ActivationProfile {
        var copy = self
        copy.format = format.description
        copy.lsbPower = -format.fraction
        copy.largestRepresentable = format.value(format.largestMagnitude)
        return copy
    }
}

/// Chooses activation formats and runs networks in integers.
public enum IntegerDatapathRunner {
    /// Chooses every activation format on `calibration` images: for each tensor, the format of
    /// its width with the most fractional bits that holds its largest calibration value
    /// (`formats/datapath/SPEC.md`, section 3). One float pass also profiles every tensor's values
    /// by power of two against its format (the input first, then each format site in graph order).
    /// - Parameters:
    ///   - graph: the graph with its quantized weights.
    ///   - calibration: the calibration images.
    ///   - preprocessing: the model's preprocessing.
    ///   - bits: total bits of each format.
    ///   - batchSize: images per forward pass.
    /// - Throws: `DatapathError` naming a layer the datapath does not run, `RequestError` for a
    ///   width given to a layer that has no format.
    public static func chooseFormats(graph: Graph, calibration: Dataset, preprocessing: Preprocessing, bits: ActivationWidths,
                                     batchSize: Int = 100) throws -> (formats: ActivationFormats, profiles: [ActivationProfile]) {
        let sites = try IntegerProgram.formatSites(of: graph)
        let inputName = graph.inputs[0].name
        let named = Set(sites.map(\.layer) + [inputName])
        if let unknown = bits.perLayer.keys.sorted().first(where: { !named.contains($0) }) {
            throw RequestError(.activationBits, "\(.activationBits) names '\(unknown)', which has no activation format (formats belong to the input and to Convolution, InnerProduct and Eltwise layers)")
        }
        let network = try Network(graph: graph)
        var input = ActivationProfile(layer: inputName)
        var profiles = sites.map { ActivationProfile(layer: $0.layer) }
        let byNode = Dictionary(sites.enumerated().map { ($1.observedNode, $0) }, uniquingKeysWith: { a, _ in a })
        for range in calibration.batchRanges(size: batchSize) {
            let batch = calibration.batch(range, preprocessing: preprocessing)
            input.add(batch.data)
            _ = try network.forward(batch) { index, outputs in
                if let site = byNode[index] { profiles[site].add(outputs[0].data) }
            }
        }
        let inputFormat = FixedPointFormat.fitting(largest: input.largest, bits: bits.bits(of: inputName), signed: input.negative)
        let layerFormats = zip(sites, profiles).map { site, profile in
            FixedPointFormat.fitting(largest: profile.largest, bits: bits.bits(of: site.layer), signed: site.signed)
        }
        let formats = ActivationFormats(input: inputFormat, layers: Dictionary(uniqueKeysWithValues: zip(sites.map(\.layer), layerFormats)))
        return (formats, [input.with(inputFormat)] + zip(profiles, layerFormats).map { $0.with($1) })
    }

    /// Runs `graph` (quantized by `plan`) in integers over `dataset` and counts correct classes.
    /// - Parameters:
    ///   - graph: the graph with its quantized weights.
    ///   - plan: the plan that quantized it.
    ///   - formats: the activation formats.
    ///   - dataset: the evaluation images.
    ///   - preprocessing: the model's preprocessing, applied in float32 before the input is quantized.
    ///   - batchSize: images quantized and run at a time.
    /// - Throws: `DatapathError` naming a layer the datapath does not run.
    public static func evaluate(graph: Graph, plan: QuantizationPlan, formats: ActivationFormats, dataset: Dataset,
                                preprocessing: Preprocessing, batchSize: Int) throws -> IntegerEvaluationReport {
        let program = try IntegerProgram(graph: graph, plan: plan, formats: formats)
        let start = Date()
        var correct = 0, saturatedInputs = 0
        var layers = program.requantizingLayers
        for range in dataset.batchRanges(size: max(batchSize, 1)) {
            let batch = dataset.batch(range, preprocessing: preprocessing)
            let (inputs, saturated) = formats.input.codes(of: batch.data)
            saturatedInputs += saturated
            let run = try program.run(inputs, count: range.count)
            for (prediction, label) in zip(program.predictions(run.scores), dataset.labels[range]) where prediction == label { correct += 1 }
            for index in layers.indices { layers[index].merge(run.layers[index]) }
        }
        let seconds = Date().timeIntervalSince(start)
        let result = EvaluationResult(correct: correct, total: dataset.count,
                                      accuracy: dataset.count == 0 ? 0 : Double(correct) / Double(dataset.count),
                                      chanceLevel: dataset.chanceLevel, seconds: seconds,
                                      imagesPerSecond: seconds > 0 ? Double(dataset.count) / seconds : 0)
        return IntegerEvaluationReport(result: result, formats: formats, layers: layers, saturatedInputs: saturatedInputs,
                                       inputs: dataset.count * program.inputCount)
    }
}
