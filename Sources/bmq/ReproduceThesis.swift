import ArgumentParser
import BMQKit
import Foundation

struct ReproduceThesis: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "reproduce-thesis",
        abstract: "Run every configuration of the thesis's LeNet tables and compare with its figures.",
        discussion: """
            Quantizes the conv layers only, as the thesis did, with each published pattern (or pair \
            of patterns for conv1/conv2), in both rounding modes, and beside a per-layer max-abs float \
            scale at the same stored bits. Prints the thesis figure next to ours.

            Example:
              bmq reproduce-thesis --net lenet_train_test.prototxt --weights lenet_iter_10000.caffemodel \\
                                   --data t10k-images-idx3-ubyte --markdown
            """)

    @OptionGroup var model: ModelOptions
    @OptionGroup var dataOptions: DataOptions

    @Flag(help: "Print JSON.")
    var json = false

    @Flag(help: "Print a Markdown table.")
    var markdown = false

    func run() throws {
        let request = try commandLineRequest { try EvaluationRequest(
            model: try model.source, data: dataOptions.dataURL, dataFormat: dataOptions.dataFormat,
            limit: dataOptions.limit, batchSize: dataOptions.batchSize) }
        let progress = ProgressLine(label: "configurations", enabled: !json)
        let report = try ThesisReproduction.run(request, progress: progress.update)
        progress.finish()
        if json {
            try Terminal.printJSON(report)
            return
        }
        let header = ["table", "conv1", "conv2", "bits", "thesis", "mask-after", "nearest", "float max-abs"]
        let rows = report.rows.map { row in
            [row.table, row.patterns[0], row.patterns.count > 1 ? row.patterns[1] : row.patterns[0], "\(row.storedBits)",
             row.published.map { String(format: "%.3f", $0) } ?? (row.note ?? "-"),
             String(format: "%.4f", row.maskAfter), String(format: "%.4f", row.nearest), String(format: "%.4f", row.floatBaseline)]
        }
        let summary = "float accuracy \(String(format: "%.4f", report.floatAccuracy)) on \(report.total) images, "
            + "chance \(String(format: "%.3f", report.chanceLevel)); conv layers \(report.convLayers.joined(separator: ", "))"
        if markdown {
            print("| " + header.joined(separator: " | ") + " |")
            print("|" + String(repeating: "---|", count: header.count))
            for row in rows { print("| " + row.map { $0.contains("_") ? "`\($0)`" : $0 }.joined(separator: " | ") + " |") }
            print("\n\(summary)")
        } else {
            let widths = header.indices.map { column in ([header] + rows).map { $0[column].count }.max() ?? 0 }
            for row in [header] + rows {
                print(row.enumerated().map { $1.padding(toLength: widths[$0], withPad: " ", startingAt: 0) }.joined(separator: "  "))
            }
            print(summary)
        }
    }
}
