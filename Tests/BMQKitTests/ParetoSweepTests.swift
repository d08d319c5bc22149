import BMQKit
import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif
import Quantization
import Testing
import TestSupport

@Suite struct ParetoSweepTests {
    static func point(_ series: String, _ bits: Double, _ test: Double, seconds: Double? = nil) -> ParetoPoint {
        ParetoPoint(series: series, averageBits: bits, calibration: SearchScore(loss: 0.01, agreement: 0.99, accuracy: test + 0.005),
                    testAccuracy: test, searchSeconds: seconds)
    }

    static let sweep = ParetoSweep(points: [
        point("masks", 2, 0.9783, seconds: 6.7), point("pow2", 2, 0.9783), point("max-abs", 2, 0.2046), point("mse", 2, 0.9816),
        point("masks", 3, 0.9895, seconds: 12.3), point("per-channel", 3, 0.9901), point("masks, budget", 2.14, 0.9893, seconds: 30.8),
    ], float: point("float", 32, 0.9904))

    @Test func csvHasARowPerPoint() {
        let lines = Self.sweep.csv.split(separator: "\n")
        #expect(lines.count == 1 + 1 + Self.sweep.points.count)
        #expect(lines[0] == "series,average_bits,adders_per_weight,calibration_kl,calibration_agreement,calibration_accuracy,test_accuracy,search_seconds")
        // The float model has no shift-add terms; a mask spends one per stored bit but the sign.
        #expect(lines[1].hasPrefix("\"float\",32.0000,,0.010000,") && lines[1].hasSuffix(",0.9904,"))
        #expect(lines.contains("\"masks, budget\",2.1400,1.1400,0.010000,0.9900,0.9943,0.9893,30.8"))
        #expect(lines.contains("\"masks\",3.0000,2.0000,0.010000,0.9900,0.9945,0.9895,12.3"))
    }

    /// The plot is well-formed SVG with every series in its legend; a baseline far below the
    /// search's points is marked at the bottom edge with its value instead of squashing the axis.
    @Test func svgIsWellFormedAndMarksOutliers() throws {
        let svg = Self.sweep.svg(title: "LeNet & co")
        let parser = XMLParser(data: Data(svg.utf8))
        #expect(parser.parse(), "\(parser.parserError.map { "\($0)" } ?? "")")
        for series in ["float 0.9904", "masks", "masks, budget", "pow2", "max-abs", "mse", "per-channel"] {
            #expect(svg.contains(">\(series)</text>"), "\(series)")
        }
        #expect(svg.contains("0.205 ↓") && svg.contains("LeNet &amp; co"))
        // The top axis counts shift-add terms: 2 stored bits are 1 term.
        #expect(svg.contains("shift-add terms per weight") && svg.contains("fill=\"#555\">1</text>"))
        // The y axis starts near the search's lowest point, not at the outlier.
        #expect(!svg.contains(">0.20</text>") && svg.contains(">0.97</text>"))
    }

    /// A small real sweep: uniform widths give every comparison row, and a budget's average stays within it.
    @Test(.enabled(if: SharedData.shouldRun, "needs ../shared")) func sweepRunsTheSearchAtEachWidth() throws {
        let lenet = SharedData.url("models/lenet-caffe")
        let request = try SearchRequest(
            model: ModelSource(net: lenet.appendingPathComponent("lenet_train_test.prototxt"),
                               weights: lenet.appendingPathComponent("lenet_iter_10000.caffemodel")),
            calibration: SharedData.url("data/mnist/train-images-idx3-ubyte"), calibrationLimit: 300, test: SharedData.mnistTest,
            testLimit: 500, bits: BitWidths(all: 3), layers: .convolutions)
        let sweep = try ParetoSweep.run(request, widths: [3, 4], budgets: [3.5])
        #expect(Set(sweep.points.map(\.series)) == ["masks", "pow2", "max-abs", "mse", "per-channel", "masks, budget"])
        #expect(sweep.points.filter { $0.series == "masks" }.map(\.averageBits) == [3, 4])
        let budget = try #require(sweep.points.first { $0.series == "masks, budget" })
        #expect(budget.averageBits <= 3.5 && budget.averageBits >= 2 && budget.searchSeconds != nil)
        #expect(sweep.float.testAccuracy != nil && sweep.points.allSatisfy { $0.testAccuracy != nil })
    }
}
