import Foundation
import Quantization

/// One configuration on the accuracy-versus-bits plot.
public struct ParetoPoint: Sendable, Codable, Equatable {
    /// The kind of configuration: `masks` (the search at a uniform width), `masks, budget` (the
    /// search under an average-bits budget), `pow2`, or a float-scale baseline (`max-abs`, `mse`, `per-channel`).
    public var series: String
    /// Stored bits per weight, averaged over the searched layers' weights.
    public var averageBits: Double
    /// The configuration's score on the calibration images.
    public var calibration: SearchScore
    /// Its accuracy on the test images, when a test set was given.
    public var testAccuracy: Double?
    /// Seconds its search took (the search's own points only: baselines come with the uniform search).
    public var searchSeconds: Double?

    /// Shift-add terms per weight (the `--budget adders=` quantity): every stored bit but the
    /// sign selects one shifted copy of the input, so a datapath without multipliers spends one
    /// adder input on it whatever the weight's value. Nil for the float model.
    public var addersPerWeight: Double? { series == "float" ? nil : averageBits - 1 }

    /// A point of `series` at `averageBits` bits per weight.
    public init(series: String, averageBits: Double, calibration: SearchScore, testAccuracy: Double?, searchSeconds: Double?) {
        self.series = series
        self.averageBits = averageBits
        self.calibration = calibration
        self.testAccuracy = testAccuracy
        self.searchSeconds = searchSeconds
    }

    enum CodingKeys: String, CodingKey {
        case series, calibration
        case averageBits = "average_bits", testAccuracy = "test_accuracy", searchSeconds = "search_seconds"
    }
}

/// The accuracy-versus-budget curve (`bmq search --pareto`): the search at uniform widths (with
/// the power-of-two and float-scale baselines at each) and under average-bits budgets between them.
public struct ParetoSweep: Sendable, Codable {
    /// Every configuration, in the order run.
    public var points: [ParetoPoint]
    /// The float model's calibration and test accuracy, the line every point is measured against.
    public var float: ParetoPoint

    /// A sweep's `points`, measured against the `float` model.
    public init(points: [ParetoPoint], float: ParetoPoint) {
        self.points = points
        self.float = float
    }

    /// Uniform widths swept.
    public static let uniformWidths = [2, 3, 4]
    /// Average-bits budgets swept between them.
    public static let budgets = [2.25, 2.5, 2.75, 3.25, 3.5, 3.75]

    /// Runs `base` once per uniform width (comparison rows included) and once per budget.
    /// - Throws: as ``SearchPipeline/run(_:progress:)``.
    public static func run(_ base: SearchRequest, widths: [Int] = uniformWidths, budgets: [Double] = budgets,
                           progress: ((String, Int, Int) -> Void)? = nil) throws -> ParetoSweep {
        var points: [ParetoPoint] = []
        var float: ParetoPoint?
        let total = widths.count + budgets.count
        for (index, width) in widths.enumerated() {
            progress?("uniform \(width) bits", index, total)
            var request = base
            (request.bits, request.averageBits, request.budget, request.compare) = (BitWidths(all: width), nil, nil, true)
            let report = try SearchPipeline.run(request)
            float = float ?? floatPoint(of: report)
            for row in report.comparison where row.name != "float" && row.name != "plain" {
                let series = row.name == "best" ? "masks" : row.name
                points.append(point(row, series: series, bits: Double(width), seconds: series == "masks" ? report.searchSeconds : nil))
            }
        }
        for (index, budget) in budgets.enumerated() {
            progress?("budget \(budget) bits", widths.count + index, total)
            var request = base
            (request.averageBits, request.budget, request.compare) = (budget, nil, false)
            let report = try SearchPipeline.run(request)
            float = float ?? floatPoint(of: report)
            guard let best = report.comparison.first(where: { $0.name == "best" }) else { continue }
            points.append(point(best, series: "masks, budget", bits: report.averageStoredBits, seconds: report.searchSeconds))
        }
        progress?("done", total, total)
        guard let float else { throw PlanError("the sweep ran no search") }
        return ParetoSweep(points: points, float: float)
    }

    /// The float model's row of a search's final table, as a point at 32 bits.
    static func floatPoint(of report: SearchReport) -> ParetoPoint? {
        report.comparison.first { $0.name == "float" }.map { point($0, series: "float", bits: 32, seconds: nil) }
    }

    static func point(_ row: SearchComparison, series: String, bits: Double, seconds: Double?) -> ParetoPoint {
        ParetoPoint(series: series, averageBits: bits, calibration: row.calibration, testAccuracy: row.test?.accuracy, searchSeconds: seconds)
    }

    /// One line per point: series, average bits, adders per weight, calibration KL, agreement and accuracy, test accuracy, search seconds.
    public var csv: String {
        var lines = ["series,average_bits,adders_per_weight,calibration_kl,calibration_agreement,calibration_accuracy,test_accuracy,search_seconds"]
        for point in [float] + points {
            let adders = point.addersPerWeight.map { String(format: "%.4f", $0) } ?? ""
            let test = point.testAccuracy.map { String(format: "%.4f", $0) } ?? ""
            let seconds = point.searchSeconds.map { String(format: "%.1f", $0) } ?? ""
            lines.append("\"\(point.series)\"," + String(format: "%.4f,", point.averageBits) + "\(adders),"
                         + String(format: "%.6f,%.4f,%.4f,", point.calibration.loss, point.calibration.agreement, point.calibration.accuracy)
                         + "\(test),\(seconds)")
        }
        return lines.joined(separator: "\n") + "\n"
    }

    /// Accuracy (test when measured, else calibration) against average stored bits (bottom axis)
    /// and shift-add terms per weight (top axis), one colour per series, the float model as a
    /// dashed line.
    public func svg(title: String) -> String {
        let (width, height) = (720.0, 440.0)
        let (left, right, top, bottom) = (64.0, 170.0, 64.0, 48.0)
        func accuracy(_ point: ParetoPoint) -> Double { point.testAccuracy ?? point.calibration.accuracy }
        let measured = points.contains { $0.testAccuracy != nil } ? "test accuracy" : "calibration accuracy"
        let bits = points.map(\.averageBits)
        let (xLow, xHigh) = ((bits.min() ?? 2).rounded(.down), max((bits.max() ?? 4).rounded(.up), (bits.min() ?? 2).rounded(.down) + 1))
        // The axis spans the search's own points and the float model; a baseline far below is marked at the bottom edge.
        let own = points.filter { $0.series.hasPrefix("masks") || $0.series == "pow2" }.map(accuracy) + [accuracy(float)]
        let yHigh = min(1, ((own.max() ?? 1) * 100).rounded(.up) / 100 + 0.005)
        let yLow = max(0, min(((own.min() ?? 0) - 0.01) * 100, (yHigh - 0.02) * 100).rounded(.down) / 100)
        let step = [0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2].first { (yHigh - yLow) / $0 <= 8 } ?? 0.2
        func x(_ value: Double) -> Double { left + (value - xLow) / (xHigh - xLow) * (width - left - right) }
        func y(_ value: Double) -> Double { top + (yHigh - min(max(value, yLow), yHigh)) / (yHigh - yLow) * (height - top - bottom) }
        let colours = ["masks": "#1f77b4", "masks, budget": "#d62728", "pow2": "#2ca02c", "max-abs": "#9467bd", "mse": "#8c564b",
                       "per-channel": "#e377c2"]
        var svg = """
            <svg xmlns="http://www.w3.org/2000/svg" width="\(Int(width))" height="\(Int(height))" font-family="sans-serif" font-size="12">
            <rect width="100%" height="100%" fill="white"/>
            <text x="\(left)" y="22" font-size="14">\(Self.escape(title))</text>

            """
        for tick in stride(from: (yLow / step).rounded(.up) * step, through: yHigh + 1e-9, by: step) {
            svg += "<line x1=\"\(left)\" x2=\"\(width - right)\" y1=\"\(y(tick))\" y2=\"\(y(tick))\" stroke=\"#eee\"/>"
            svg += "<text x=\"\(left - 6)\" y=\"\(y(tick) + 4)\" text-anchor=\"end\">\(String(format: step < 0.01 ? "%.3f" : "%.2f", tick))</text>\n"
        }
        for tick in stride(from: xLow, through: xHigh, by: 0.5) {
            svg += "<line x1=\"\(x(tick))\" x2=\"\(x(tick))\" y1=\"\(top)\" y2=\"\(height - bottom)\" stroke=\"#eee\"/>"
            svg += "<text x=\"\(x(tick))\" y=\"\(height - bottom + 16)\" text-anchor=\"middle\">\(String(format: "%g", tick))</text>\n"
            // The top axis: the same positions as shift-add terms.
            svg += "<line x1=\"\(x(tick))\" x2=\"\(x(tick))\" y1=\"\(top - 4)\" y2=\"\(top)\" stroke=\"#999\"/>"
            svg += "<text x=\"\(x(tick))\" y=\"\(top - 8)\" text-anchor=\"middle\" fill=\"#555\">\(String(format: "%g", tick - 1))</text>\n"
        }
        svg += "<text x=\"\((left + width - right) / 2)\" y=\"\(top - 24)\" text-anchor=\"middle\" fill=\"#555\">"
            + "shift-add terms per weight (adders; the stored bits but the sign)</text>\n"
        svg += "<text x=\"\((left + width - right) / 2)\" y=\"\(height - 10)\" text-anchor=\"middle\">stored bits per weight (average)</text>\n"
        svg += "<text transform=\"translate(16 \((top + height - bottom) / 2)) rotate(-90)\" text-anchor=\"middle\">\(measured)</text>\n"
        svg += "<line x1=\"\(left)\" x2=\"\(width - right)\" y1=\"\(y(accuracy(float)))\" y2=\"\(y(accuracy(float)))\" stroke=\"black\" stroke-dasharray=\"5 4\"/>\n"
        // Baselines first, the search's own points last (on top); the legend lists the search first.
        var series = ["masks", "masks, budget"]
        for point in points where !series.contains(point.series) { series.append(point.series) }
        var legend = [("float " + String(format: "%.4f", accuracy(float)), "black")]
        var outliersAt: [Double: Int] = [:]
        for name in series.reversed() {
            let members = points.filter { $0.series == name }.sorted { $0.averageBits < $1.averageBits }
            guard !members.isEmpty else { continue }
            let colour = colours[name] ?? "#7f7f7f"
            // The search's points (uniform and budget) form one curve, power-of-two another; baselines are marks.
            if name == "masks, budget" || name == "pow2" {
                let path = (name == "pow2" ? members : points.filter { $0.series.hasPrefix("masks") })
                    .sorted { $0.averageBits < $1.averageBits }.map { "\(x($0.averageBits)),\(y(accuracy($0)))" }.joined(separator: " ")
                svg += "<polyline points=\"\(path)\" fill=\"none\" stroke=\"\(colour)\" stroke-width=\"1.5\"/>\n"
            }
            for point in members {
                if accuracy(point) < yLow {
                    // Below the axis: the value, stacked above the bottom edge at its width.
                    let stacked = outliersAt[point.averageBits, default: 0]
                    outliersAt[point.averageBits] = stacked + 1
                    svg += "<text x=\"\(x(point.averageBits) + 7)\" y=\"\(y(yLow) - 4 - Double(stacked) * 14)\" fill=\"\(colour)\">"
                        + "\(String(format: "%.3f", accuracy(point))) ↓</text>"
                }
                svg += "<circle cx=\"\(x(point.averageBits))\" cy=\"\(y(accuracy(point)))\" r=\"\(name == "masks" ? 5 : 4)\" fill=\"\(colour)\" stroke=\"white\">"
                svg += "<title>\(Self.escape(name)): \(String(format: "%.2f", point.averageBits)) bits, \(String(format: "%.4f", accuracy(point)))</title></circle>\n"
            }
        }
        for name in series where points.contains(where: { $0.series == name }) { legend.append((name, colours[name] ?? "#7f7f7f")) }
        for (index, (name, colour)) in legend.enumerated() {
            let row = top + 8 + Double(index) * 18
            svg += "<rect x=\"\(width - right + 16)\" y=\"\(row - 8)\" width=\"10\" height=\"10\" fill=\"\(colour)\"/>"
            svg += "<text x=\"\(width - right + 32)\" y=\"\(row + 1)\">\(Self.escape(name))</text>\n"
        }
        return svg + "</svg>\n"
    }

    static func escape(_ text: String) -> String { HistogramRendering.escape(text) }
}
