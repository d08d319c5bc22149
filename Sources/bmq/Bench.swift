import ArgumentParser
import BMQKit
import Foundation

struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Time inference over a dataset: repeated runs, minimum and median images/s.",
        discussion: "Use a release build. Machines drift: compare tools side by side, using minima.")

    @OptionGroup var model: ModelOptions
    @OptionGroup var dataOptions: DataOptions

    @Option(help: "Number of timed runs.")
    var runs: Int = 5

    @Option(help: "OpenBLAS threads for GEMM.")
    var blasThreads: Int?

    @Flag(help: "Also print the time spent in each layer.")
    var perLayer = false

    func run() throws {
        if let blasThreads { Pipelines.setBLASThreads(blasThreads) }
        let request = EvaluationRequest(
            model: try model.source, data: URL(fileURLWithPath: dataOptions.data), dataFormat: dataOptions.dataFormat,
            limit: dataOptions.limit, batchSize: dataOptions.batchSize)
        if perLayer {
            let layers = try Pipelines.profileLayers(request)
            let total = layers.reduce(0) { $0 + $1.seconds }
            for layer in layers {
                let share = total > 0 ? 100 * layer.seconds / total : 0
                print("\(layer.layer.padding(toLength: 16, withPad: " ", startingAt: 0)) \(layer.type.padding(toLength: 13, withPad: " ", startingAt: 0)) \(String(format: "%8.3f", layer.seconds)) s  \(String(format: "%5.1f", share))%")
            }
        }
        var times: [Double] = []
        var last: EvaluationReport?
        for run in 1...max(1, runs) {
            let report = try Pipelines.evaluate(request)
            times.append(report.result.seconds)
            print("run \(run): \(String(format: "%.3f", report.result.seconds)) s, \(String(format: "%.0f", report.result.imagesPerSecond)) images/s, \(report.result.correct)/\(report.result.total) correct")
            last = report
        }
        guard let last else { return }
        let sorted = times.sorted()
        let images = Double(last.result.total)
        print("min \(String(format: "%.3f", sorted[0])) s (\(String(format: "%.0f", images / sorted[0])) images/s), median \(String(format: "%.3f", sorted[sorted.count / 2])) s (\(String(format: "%.0f", images / sorted[sorted.count / 2])) images/s), batch \(dataOptions.batchSize)")
    }
}
