import ArgumentParser
import BMQKit
import Foundation
import Quantization

struct Eval: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Measure a model's top-1 accuracy on a dataset, float or quantized.",
        discussion: """
            Counts a prediction as correct the way Caffe's Accuracy layer does (a tie with \
            another class is wrong), so the correct-count is comparable with `caffe test`. \
            With --plan or --pattern the quantized model is measured too, beside the float one.

            Examples:
              bmq eval --net lenet_train_test.prototxt --weights lenet_iter_10000.caffemodel \\
                       --data t10k-images-idx3-ubyte
              bmq eval ... --layers conv --pattern conv1=X0.0XX --pattern conv2=X0.00XX
            """)

    @OptionGroup var model: ModelOptions
    @OptionGroup var dataOptions: DataOptions
    @OptionGroup var quantization: QuantizationOptions

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
    }

    func run() throws {
        let request = try commandLineRequest { try EvaluationRequest(
            model: try model.source, data: URL(fileURLWithPath: dataOptions.data), dataFormat: dataOptions.dataFormat,
            limit: dataOptions.limit, batchSize: dataOptions.batchSize, quantization: quantization.request) }
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
                layers: report.quantized == nil ? nil : report.layers))
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
    }
}

/// One line per quantized layer: scheme, width, and what quantizing did to its weights.
func layerLine(_ layer: LayerQuantizationReport) -> String {
    "  \(layer.layer): \(layer.scheme), \(layer.storedBits) bits, \(layer.weightCount) weights, \(percent(layer.weights.saturatedShare)) saturated, "
        + "\(percent(layer.weights.zeroedShare)) zeroed, MSE \(String(format: "%.3g", layer.weights.meanSquaredError))"
}

func fixed(_ value: Double) -> String { String(format: "%.4f", value) }
func percent(_ share: Double) -> String { String(format: "%.1f%%", 100 * share) }
