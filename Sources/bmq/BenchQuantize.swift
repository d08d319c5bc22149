import ArgumentParser
import BMQKit
import Foundation

struct BenchQuantize: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench-quantize",
        abstract: "Time the quantize pass alone on a model's weights (release build).")

    @OptionGroup var model: ModelOptions
    @OptionGroup var quantization: QuantizationOptions

    @Option(help: "Number of timed runs.")
    var runs: Int = 20

    @Option(help: ArgumentHelp("Image shape C,H,W for nets fed by a Data layer.", valueName: "c,h,w"))
    var inputShape: String?

    func run() throws {
        let plan = try quantization.request
        try commandLineRequest { try plan.requireQuantization() }
        let (weights, seconds) = try Pipelines.timeQuantization(
            model: try model.source, plan: plan, runs: runs, imageShape: try inputShape.map(parseShape))
        let sorted = seconds.sorted()
        print("quantized \(weights) weights: min \(String(format: "%.2f", sorted[0] * 1000)) ms, "
              + "median \(String(format: "%.2f", sorted[sorted.count / 2] * 1000)) ms over \(seconds.count) runs")
    }
}
