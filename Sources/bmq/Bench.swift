import ArgumentParser
import BMQKit
import Foundation

extension ConvolutionMethod: ExpressibleByArgument {}

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

    @Option(parsing: .upToNextOption,
            help: ArgumentHelp("Convolution method(s): direct (register kernels, the default where the CPU has AVX2 and FMA) or gemm (im2col + OpenBLAS, as Caffe). Give both to time them side by side, interleaved run by run.", valueName: "method"))
    var convolution: [ConvolutionMethod] = []

    func run() throws {
        var request = try commandLineRequest { try EvaluationRequest(
            model: try model.source, data: URL(fileURLWithPath: dataOptions.data), dataFormat: dataOptions.dataFormat,
            limit: dataOptions.limit, batchSize: dataOptions.batchSize) }
        let methods = (convolution.isEmpty ? [ConvolutionMethod.preferred] : convolution)
            .map { EngineOptions(convolution: $0, blasThreads: blasThreads ?? 1) }
        if perLayer {
            request.engine = methods[0]
            let layers = try Pipelines.profileLayers(request)
            let total = layers.reduce(0) { $0 + $1.seconds }
            for layer in layers {
                let share = total > 0 ? 100 * layer.seconds / total : 0
                print("\(layer.layer.padding(toLength: 16, withPad: " ", startingAt: 0)) \(layer.type.padding(toLength: 13, withPad: " ", startingAt: 0)) \(String(format: "%8.3f", layer.seconds)) s  \(String(format: "%5.1f", share))%")
            }
        }
        var times = [[Double]](repeating: [], count: methods.count)
        var images = 0
        for run in 1...max(1, runs) {
            for (index, method) in methods.enumerated() {
                request.engine = method
                let report = try Pipelines.evaluate(request)
                times[index].append(report.result.seconds)
                images = report.result.total
                print("run \(run) \(method.convolution.rawValue): \(String(format: "%.3f", report.result.seconds)) s, \(String(format: "%.0f", report.result.imagesPerSecond)) images/s, \(report.result.correct)/\(report.result.total) correct")
            }
        }
        for (method, runTimes) in zip(methods, times) {
            let sorted = runTimes.sorted()
            let (fastest, median) = (sorted[0], sorted[sorted.count / 2])
            print("\(method.convolution.rawValue): min \(String(format: "%.3f", fastest)) s (\(String(format: "%.0f", Double(images) / fastest)) images/s), median \(String(format: "%.3f", median)) s (\(String(format: "%.0f", Double(images) / median)) images/s), batch \(dataOptions.batchSize)")
        }
    }
}
