import ArgumentParser
import BMQKit
import Foundation
import Quantization
import TensorGraph

struct Eval: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Measure a model's top-1 accuracy on a dataset, float or quantized.",
        discussion: """
            Counts a prediction as correct the way Caffe's Accuracy layer does (a tie with \
            another class is wrong), so the correct-count is comparable with `caffe test`. \
            With --plan or --pattern the quantized model is measured too, beside the float one.

            Examples:
              bmq eval --net lenet_train_test.prototxt \\
                       --weights lenet_iter_10000.caffemodel --data t10k-images-idx3-ubyte
              bmq eval ... --layers conv --pattern conv1=X0.0XX --pattern conv2=X0.00XX
              bmq eval ... --plan plan.json --datapath integer
              bmq eval ... --plan plan.json --datapath integer \\
                       --calibration train-images-idx3-ubyte --activation-bits 8 \\
                       --save-plan plan-int8.json

            With --datapath integer the quantized model also runs as formats/datapath/SPEC.md \
            defines it: integer activations, weights, biases and accumulators. Activation formats \
            come from the plan (version 2), or are chosen on --calibration images (never the test \
            set): each tensor gets the most fractional bits that hold its largest calibration value.
            """)

    @OptionGroup var model: ModelOptions
    @OptionGroup var dataOptions: DataOptions
    @OptionGroup var quantization: QuantizationOptions

    @Option(help: ArgumentHelp("float (float32 activations, as Caffe) or integer (also run the integer datapath).", valueName: "kind"))
    var datapath: Datapath = .float

    @OptionGroup var calibration: ActivationCalibrationOptions

    @Option(help: ArgumentHelp("Write the plan with the activation formats it ran with (version 2).", valueName: "plan.json"))
    var savePlan: String?

    @Flag(help: "Print one JSON object instead of text.")
    var json = false

    struct Output: Encodable {
        var correct: Int
        var total: Int
        var accuracy: Double
        var chance_level: Double
        var images_per_second: Double
        var seconds: Double
        var float: EvaluationResult?
        var plan: QuantizationPlan?
        var layers: [LayerQuantizationReport]?
        var integer: IntegerOutput?
    }

    struct IntegerOutput: Encodable {
        struct Layer: Encodable {
            var name: String
            var format: String
            var accumulates: String
            var accumulator_bits: Int
            var accumulator_bound: Int64
            var largest_accumulator: Int64
            var saturated: Int
            var outputs: Int
        }

        var correct: Int
        var total: Int
        var accuracy: Double
        var images_per_second: Double
        var input_format: String
        var saturated_inputs: Int
        var layers: [Layer]
    }

    func validate() throws {
        if savePlan != nil, datapath != .integer { throw ValidationError("--save-plan writes the formats of --datapath integer") }
    }

    func run() throws {
        let request = try commandLineRequest { try EvaluationRequest(
            model: try model.source, data: dataOptions.dataURL, dataFormat: dataOptions.dataFormat,
            limit: dataOptions.limit, batchSize: dataOptions.batchSize, quantization: quantization.request, datapath: datapath,
            activationCalibration: try calibration.request) }
        // Refuse an unwritable plan name before the evaluation runs.
        if let savePlan { try FileIO.checkWritable(URL(fileURLWithPath: savePlan)) }
        let progress = ProgressLine(label: "evaluating", enabled: !json)
        let report = try Evaluation.run(request, progress: progress.update)
        progress.finish()
        for warning in report.model.warnings { Terminal.warn(warning) }
        // The headline figures are the quantized model's when a plan was given.
        let headline = report.quantized ?? report.result
        if json {
            try Terminal.printJSON(Output(
                correct: headline.correct, total: headline.total, accuracy: headline.accuracy, chance_level: headline.chanceLevel,
                images_per_second: headline.imagesPerSecond, seconds: headline.seconds,
                float: report.quantized == nil ? nil : report.result, plan: report.plan,
                layers: report.quantized == nil ? nil : report.layers,
                integer: report.integer.map { integer in
                    IntegerOutput(
                        correct: integer.result.correct, total: integer.result.total, accuracy: integer.result.accuracy,
                        images_per_second: integer.result.imagesPerSecond, input_format: integer.formats.input.description,
                        saturated_inputs: integer.saturatedInputs,
                        layers: integer.layers.map {
                            .init(name: $0.layer, format: $0.format.description, accumulates: $0.accumulation.rawValue, accumulator_bits: $0.accumulatorBits,
                                  accumulator_bound: $0.bound, largest_accumulator: $0.largestAccumulator, saturated: $0.saturated,
                                  outputs: $0.outputs)
                        })
                }))
            try savePlanIfAsked(report)
            return
        }
        if let quantized = report.quantized, let plan = report.plan {
            print("plan (\(plan.rounding.rawValue) rounding):")
            for layer in report.layers {
                print(layerLine(layer))
            }
            if plan.entries.contains(where: { if case .floatScale = $0.weights { true } else { false } }) {
                print("  note: float-scale baselines need a float multiplier per layer or channel; they are not hardware shift-friendly")
            }
            print("float:     \(report.result.correct) / \(report.result.total)  accuracy \(fixed(report.result.accuracy))")
            print("quantized: \(quantized.correct) / \(quantized.total)  accuracy \(fixed(quantized.accuracy))")
            print("chance \(fixed(quantized.chanceLevel)) (\(report.dataset.rawValue)), speed \(String(format: "%.0f", quantized.imagesPerSecond)) images/s")
        } else {
            let r = report.result
            print("correct: \(r.correct) / \(r.total)")
            print("accuracy: \(fixed(r.accuracy))  (chance \(fixed(r.chanceLevel)), \(report.dataset.rawValue))")
            print("speed: \(String(format: "%.0f", r.imagesPerSecond)) images/s  (\(String(format: "%.2f", r.seconds)) s)")
        }
        if let integer = report.integer {
            print("integer datapath (formats/datapath/SPEC.md), input \(integer.formats.input), "
                  + "\(percent(Double(integer.saturatedInputs) / Double(max(integer.inputs, 1)))) of inputs saturated:")
            for layer in integer.layers {
                print("  \(layer.layer): output \(layer.format), \(layer.accumulation.rawValue) \(layer.accumulatorBits) bits (bound \(layer.bound), "
                      + "largest seen \(layer.largestAccumulator)), \(percent(Double(layer.saturated) / Double(max(layer.outputs, 1)))) saturated")
            }
            let r = integer.result
            print("integer:   \(r.correct) / \(r.total)  accuracy \(fixed(r.accuracy))  (\(String(format: "%.0f", r.imagesPerSecond)) images/s)")
        }
        try savePlanIfAsked(report)
    }

    func savePlanIfAsked(_ report: EvaluationReport) throws {
        guard let savePlan, let plan = report.plan else { return }
        try plan.write(to: URL(fileURLWithPath: savePlan))
        if !json { print("wrote \(savePlan)") }
    }
}

extension Datapath: ExpressibleByArgument {}

/// One line per quantized layer: scheme, width, and what quantizing did to its weights.
func layerLine(_ layer: LayerQuantizationReport) -> String {
    "  \(layer.layer): \(layer.scheme), \(layer.storedBits) bits, \(layer.weightCount) weights, \(percent(layer.weights.saturatedShare)) saturated, "
        + "\(percent(layer.weights.zeroedShare)) zeroed, MSE \(String(format: "%.3g", layer.weights.meanSquaredError))"
}

func fixed(_ value: Double) -> String { String(format: "%.4f", value) }
func percent(_ share: Double) -> String { String(format: "%.1f%%", 100 * share) }

/// Where the integer datapath's activation formats come from when the plan has none.
struct ActivationCalibrationOptions: ParsableArguments {
    @Option(help: ArgumentHelp("Calibration images that choose the integer datapath's activation formats (instead of the plan's).", valueName: "path"))
    var calibration: String?

    @Option(help: ArgumentHelp("Override content detection of the calibration images: mnist, cifar10, cifar100, lmdb, leveldb or image-list.", valueName: "format"))
    var calibrationFormat: DatasetFormat?

    @Option(parsing: .unconditional, help: "Use only the first N calibration images.")
    var calibrationLimit: Int = 5000

    @Option(help: ArgumentHelp("Total bits of the activation formats chosen on --calibration: B for every tensor, LAYER=B per layer, or both (8,conv1=6).", valueName: "bits"))
    var activationBits: String = "8"

    /// The calibration request, when calibration images are given.
    var request: ActivationCalibration? {
        get throws {
            try calibration.map {
                try ActivationCalibration(data: URL(fileURLWithPath: $0), format: calibrationFormat, limit: calibrationLimit,
                                          bits: try ActivationWidths(parsing: activationBits))
            }
        }
    }
}
