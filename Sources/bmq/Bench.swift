import ArgumentParser
import BMQKit
import Foundation

extension ConvolutionMethod: ExpressibleByArgument {}
extension ImageSplit: ExpressibleByArgument {}

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

    @Option(help: ArgumentHelp("With fewer images per batch than cores (--batch-size 1): measured (the default: eight timed passes each way, then the one with the lower mean, tried again every 1,000 passes), always (each layer split across the cores) or never (one core).", valueName: "way"))
    var imageSplit: ImageSplit = .measured

    @Option(parsing: .upToNextOption,
            help: ArgumentHelp("Convolution method(s): winograd (Winograd F(4x4,3x3) / F(4x4,5x5) for stride-1 layers where it pays, the direct kernel elsewhere; the default where the CPU has AVX2 and FMA), direct (register kernels only) or gemm (im2col + OpenBLAS, as Caffe). Give several to time them side by side, interleaved run by run.", valueName: "method"))
    var convolution: [ConvolutionMethod] = []

    @Option(parsing: .upToNextOption,
            help: ArgumentHelp("float (the engine, float32 activations), integer (the integer datapath of a packed model that records it, or whose formats --calibration chooses), or both, timed side by side.", valueName: "kind"))
    var datapath: [Datapath] = []

    @OptionGroup var calibration: ActivationCalibrationOptions

    func run() throws {
        var evaluation = try commandLineRequest { try EvaluationRequest(
            model: try model.source, data: dataOptions.dataURL, dataFormat: dataOptions.dataFormat,
            limit: dataOptions.limit, batchSize: dataOptions.batchSize,
            datapath: datapath.contains(.integer) ? .integer : .float, activationCalibration: try calibration.request) }
        let engines = (convolution.isEmpty ? [ConvolutionMethod.preferred] : convolution)
            .map { EngineOptions(convolution: $0, blasThreads: blasThreads ?? 1, imageSplit: imageSplit) }
        let request = try BenchmarkRequest(evaluation: evaluation, runs: runs, engines: engines, datapaths: datapath.isEmpty ? [.float] : datapath)
        if perLayer {
            evaluation.engine = engines[0]
            let layers = try Evaluation.profileLayers(evaluation)
            let total = layers.reduce(0) { $0 + $1.seconds }
            for layer in layers {
                let share = total > 0 ? 100 * layer.seconds / total : 0
                print("\(layer.layer.padding(toLength: 16, withPad: " ", startingAt: 0)) \(layer.type.padding(toLength: 13, withPad: " ", startingAt: 0)) \(String(format: "%8.3f", layer.seconds)) s  \(String(format: "%5.1f", share))%")
            }
        }
        let report = try Benchmark.run(request) { run in
            let r = run.result
            print("run \(run.round) \(run.subject.label): \(String(format: "%.3f", r.seconds)) s, \(String(format: "%.0f", r.imagesPerSecond)) images/s, \(r.correct)/\(r.total) correct"
                  + (r.latency.map { ", median \(milliseconds($0.median)) per image" } ?? ""))
        }
        for summary in report.summaries {
            let images = Double(summary.images)
            print("\(summary.subject.label): min \(String(format: "%.3f", summary.fastest)) s (\(String(format: "%.0f", images / summary.fastest)) images/s), median \(String(format: "%.3f", summary.median)) s (\(String(format: "%.0f", images / summary.median)) images/s), batch \(dataOptions.batchSize)")
            if let latency = summary.latency {
                print("\(summary.subject.label) latency, one image at a time (median run): median \(milliseconds(latency.median)), "
                      + "p90 \(milliseconds(latency.p90)), p99 \(milliseconds(latency.p99)), fastest \(milliseconds(latency.fastest))")
            }
        }
        if let first = report.summaries.first, report.summaries.count > 1 {
            for (summary, speedup) in zip(report.summaries, report.speedups).dropFirst() {
                print("\(summary.subject.label): \(String(format: "%.2f", speedup))x \(first.subject.label)'s images/s (medians of \(runs) interleaved runs)")
            }
        }
    }
}

/// Seconds as milliseconds for a latency line.
func milliseconds(_ seconds: Double) -> String { String(format: "%.3f ms", seconds * 1000) }
