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
        let report = try Benchmark.timeQuantization(try QuantizationTimingRequest(
            model: try model.source, quantization: try quantization.request, runs: runs, imageShape: try inputShape.map(parseShape)))
        let sorted = report.seconds.sorted()
        guard !sorted.isEmpty else { return }
        print("quantized \(report.weights) weights: min \(String(format: "%.2f", sorted[0] * 1000)) ms, "
              + "median \(String(format: "%.2f", sorted[sorted.count / 2] * 1000)) ms over \(report.seconds.count) runs")
    }
}
