import ArgumentParser
import BMQKit
import Foundation

struct Eval: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Measure a model's top-1 accuracy on a dataset.",
        discussion: """
            Counts a prediction as correct the way Caffe's Accuracy layer does (a tie with \
            another class is wrong), so the correct-count is comparable with `caffe test`.

            Example:
              bmq eval --net lenet_train_test.prototxt --weights lenet_iter_10000.caffemodel \\
                       --data t10k-images-idx3-ubyte
            """)

    @OptionGroup var model: ModelOptions
    @OptionGroup var dataOptions: DataOptions

    @Flag(help: "Print one JSON object instead of text.")
    var json = false

    func run() throws {
        let request = EvaluationRequest(
            model: model.source, data: URL(fileURLWithPath: dataOptions.data), dataFormat: dataOptions.dataFormat,
            limit: dataOptions.limit, batchSize: dataOptions.batchSize)
        let progress = ProgressLine(label: "evaluating", enabled: !json)
        let report = try Pipelines.evaluate(request, progress: progress.update)
        progress.finish()
        for warning in report.model.warnings { Terminal.warn(warning) }
        let r = report.result
        if json {
            try Terminal.printJSON(r)
        } else {
            print("correct: \(r.correct) / \(r.total)")
            print("accuracy: \(String(format: "%.4f", r.accuracy))  (chance \(String(format: "%.4f", r.chanceLevel)), \(report.dataset.rawValue))")
            print("speed: \(String(format: "%.0f", r.imagesPerSecond)) images/s  (\(String(format: "%.2f", r.seconds)) s)")
        }
    }
}
