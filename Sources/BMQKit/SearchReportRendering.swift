import Foundation
import Quantization
import TensorGraph

/// The search report as terminal text.
public enum SearchReportText {
    /// Candidates shown per layer.
    static let shown = 5

    /// The report as lines of text for a terminal.
    public static func lines(_ report: SearchReport) -> [String] {
        var lines = ["searched \(report.layers.count) layer\(report.layers.count == 1 ? "" : "s") on \(report.calibration.images) calibration images "
            + "(\(report.calibration.format)\(report.calibration.seed.map { ", drawn with seed \($0)" } ?? "")); \(report.family.rawValue) candidates, \(report.strategy.rawValue) strategy, \(report.rounding.rawValue) rounding"
            + (report.plan.compensation.map { " with \($0.method)" } ?? "")]
        for layer in report.layers {
            lines.append("")
            lines.append("\(layer.layer) (\(layer.storedBits) bits): \(summary(layer, report))")
            lines.append("    " + pad("candidate", 28) + pad("weight err", 12) + pad("output err", 12) + pad("KL", 10) + "agreement")
            for candidate in layer.candidates.prefix(shown) {
                let mark = candidate.scheme == layer.chosen ? "  * " : "    "
                lines.append(mark + pad(schemeName(candidate.scheme), 28) + pad(String(format: "%.3g", candidate.weightError), 12)
                             + pad(candidate.outputError.map { String(format: "%.3g", $0) } ?? "-", 12)
                             + pad(candidate.alone.map { String(format: "%.4f", $0.loss) } ?? "-", 10)
                             + (candidate.alone.map { String(format: "%.4f", $0.agreement) } ?? "-"))
            }
            if !layer.candidates.prefix(shown).contains(where: { $0.scheme == layer.chosen }) {
                lines.append("  * " + schemeName(layer.chosen) + " (chosen with the other layers quantized)")
            }
            if let histogram = report.histograms[layer.layer] {
                lines += HistogramRendering.text(histogram, height: 4).map { "    " + $0 }
            }
        }
        lines.append("")
        let testing = report.test.map { " | test (\($0.images) images)" } ?? ""
        lines.append(pad("configuration", 14) + pad("calib KL", 10) + pad("agreement", 11) + pad("accuracy", 10) + testing)
        for row in report.comparison {
            var line = pad(row.name, 14) + pad(String(format: "%.4f", row.calibration.loss), 10)
                + pad(String(format: "%.4f", row.calibration.agreement), 11) + pad(String(format: "%.4f", row.calibration.accuracy), 10)
            if let test = row.test { line += " | \(String(format: "%.4f", test.accuracy)) (\(test.correct))" }
            lines.append(line + "   " + row.note)
        }
        if let integer = report.integer {
            lines.append("")
            lines.append("integer datapath (formats/datapath/SPEC.md), \(integer.activationBits)-bit activations chosen on the calibration images; "
                         + "input \(integer.inputFormat)")
            for layer in integer.layers {
                lines.append("    " + pad(layer.name, 14) + pad("output \(layer.format)", 14) + pad("accumulator \(layer.accumulatorBits) bits", 22)
                             + String(format: "%.2f%% saturated", 100 * layer.saturated))
            }
            if let refinement = integer.refinement {
                lines.append(String(format: "integer objective: calibration KL %.4f -> %.4f, accuracy %.4f -> %.4f in %d integer evaluations (%.1f s); ",
                                    refinement.start.loss, refinement.result.loss, refinement.start.accuracy, refinement.result.accuracy,
                                    refinement.evaluations, refinement.seconds)
                             + (refinement.changed.isEmpty ? "no layer changed" : "changed " + refinement.changed.joined(separator: ", ")))
            }
            var line = pad("best, integer", 14) + pad("", 21) + pad(String(format: "%.4f", integer.calibration.accuracy), 10)
            if let test = integer.test { line += " | \(String(format: "%.4f", test.accuracy)) (\(test.correct))" }
            lines.append(line + "   the search's choice run in integers")
        }
        lines.append("")
        lines.append(String(format: "weights searched: %d stored bits (%.1f KiB, %.3f per weight), %d shift-add terms",
                            report.storedBits, Double(report.storedBits) / 8192, report.averageStoredBits, report.shiftAddTerms))
        lines.append(String(format: "search: %.1f s, %d network evaluations; whole command %.1f s", report.searchSeconds, report.evaluations, report.totalSeconds))
        return lines
    }

    static func summary(_ layer: LayerSearchResult, _ report: SearchReport) -> String {
        if report.family == .floatScale { return "\(layer.candidates.count) float-scale baselines, chose \(schemeName(layer.chosen))" }
        return "\(layer.expressible) labels within \(report.maxWidth) bits; \(layer.distinctSets) distinct value sets reach the weights; "
            + "chose \(schemeName(layer.chosen))"
    }

    /// A scheme's label with its picture when it has one.
    static func schemeName(_ text: String) -> String {
        (try? LayerScheme(parsing: text)).map { scheme in
            if case let .pattern(pattern) = scheme, let picture = pattern.picture { return "\(text) \(picture)" }
            return text
        } ?? text
    }

    static func pad(_ text: String, _ width: Int) -> String {
        text.count >= width ? text + " " : text + String(repeating: " ", count: width - text.count)
    }
}

/// The search report as an HTML page with SVG plots (histograms and per-layer sensitivity).
public enum SearchReportPage {
    /// Writes `index.html` (SVG inline) into `folder`, creating it; the page is written atomically.
    /// - Throws: `FormatError` when the folder cannot be created or written.
    public static func write(_ report: SearchReport, to folder: URL) throws {
        try FileIO.createFolder(folder)
        try FileIO.writeAtomically(Data(html(report).utf8), to: folder.appendingPathComponent("index.html"))
    }

    static func escape(_ text: String) -> String { HistogramRendering.escape(text) }

    /// The report as one self-contained HTML page with inline SVG plots.
    public static func html(_ report: SearchReport) -> String {
        var page = """
            <!DOCTYPE html>
            <html lang="en"><head><meta charset="utf-8"><title>bmq search: \(escape(report.model))</title>
            <style>
            body { font-family: sans-serif; margin: 2em; max-width: 1100px; color: #222; }
            table { border-collapse: collapse; margin: 0.5em 0 1.5em; }
            th, td { border: 1px solid #ccc; padding: 3px 8px; text-align: right; }
            th:first-child, td:first-child, td.text { text-align: left; }
            tr.chosen { background: #e8f4e8; font-weight: bold; }
            code { font-size: 0.95em; }
            .plots { display: flex; flex-wrap: wrap; gap: 1em; }
            </style></head><body>
            <h1>Bit-mask pattern search</h1>
            <p>Model <code>\(escape(report.model))</code>. Chosen on \(report.calibration.images) calibration images
            (<code>\(escape(report.calibration.source))</code>\(report.calibration.seed.map { ", drawn at random with seed \($0)" } ?? "")); \(report.test.map { "tested on \($0.images) images (<code>\(escape($0.source))</code>)" } ?? "no test set given").
            Candidates: \(report.family.rawValue), labels up to \(report.maxWidth) bits; strategy \(report.strategy.rawValue); \(report.rounding.rawValue) rounding\(report.plan.compensation.map { " with \($0.method) on \($0.images) images" } ?? "").
            Objective: mean KL divergence of the quantized model's class probabilities from the float model's (lower is better).</p>
            <h2>Final table</h2>
            <table><tr><th>configuration</th><th>calibration KL</th><th>agreement with float</th><th>calibration accuracy</th><th>test accuracy</th><th>test correct</th><th>schemes</th></tr>

            """
        for row in report.comparison {
            let schemes = report.plan.entries.compactMap { entry in row.schemes[entry.layer].map { "\(entry.layer)=\($0)" } }.joined(separator: " ")
            page += "<tr\(row.name == "best" ? " class=\"chosen\"" : "")><td>\(escape(row.name))</td>"
                + String(format: "<td>%.4f</td><td>%.4f</td><td>%.4f</td>", row.calibration.loss, row.calibration.agreement, row.calibration.accuracy)
                + "<td>\(row.test.map { String(format: "%.4f", $0.accuracy) } ?? "–")</td><td>\(row.test.map { "\($0.correct) / \($0.total)" } ?? "–")</td>"
                + "<td class=\"text\"><code>\(escape(schemes.isEmpty ? row.note : schemes))</code></td></tr>\n"
        }
        page += "</table>\n"
        for layer in report.layers {
            page += "<h2>\(escape(layer.layer)): \(layer.storedBits) stored bits, chose <code>\(escape(SearchReportText.schemeName(layer.chosen)))</code></h2>\n"
            page += "<p>\(escape(SearchReportText.summary(layer, report))).</p>\n<div class=\"plots\">\n"
            if let histogram = report.histograms[layer.layer] {
                page += HistogramRendering.svg(histogram, title: "\(layer.layer) weights and the values of \(layer.chosen)")
            }
            page += sensitivitySVG(layer) + "</div>\n"
            page += "<table><tr><th>candidate</th><th>picture</th><th>weight error</th><th>output error</th><th>KL (this layer alone)</th><th>agreement</th></tr>\n"
            for candidate in layer.candidates.prefix(12) {
                let picture = (try? BitPattern(parsing: candidate.scheme))?.picture ?? ""
                page += "<tr\(candidate.scheme == layer.chosen ? " class=\"chosen\"" : "")><td><code>\(escape(candidate.scheme))</code></td>"
                    + "<td class=\"text\"><code>\(escape(picture))</code></td>" + String(format: "<td>%.3g</td>", candidate.weightError)
                    + "<td>\(candidate.outputError.map { String(format: "%.3g", $0) } ?? "–")</td>"
                    + "<td>\(candidate.alone.map { String(format: "%.4f", $0.loss) } ?? "–")</td>"
                    + "<td>\(candidate.alone.map { String(format: "%.4f", $0.agreement) } ?? "–")</td></tr>\n"
            }
            page += "</table>\n"
        }
        if let integer = report.integer { page += integerSection(integer) }
        page += String(format: "<p>Weights searched: %d stored bits (%.1f KiB, %.3f per weight), %d shift-add terms.</p>\n",
                       report.storedBits, Double(report.storedBits) / 8192, report.averageStoredBits, report.shiftAddTerms)
        page += String(format: "<p>Search %.1f s, %d network evaluations; whole run %.1f s.</p>\n</body></html>\n",
                       report.searchSeconds, report.evaluations, report.totalSeconds)
        return page
    }

    /// The integer datapath: formats, accumulators, saturation, and each activation's profile.
    static func integerSection(_ integer: IntegerSearchResult) -> String {
        var html = "<h2 id=\"integer\">Integer datapath, \(integer.activationBits)-bit activations</h2>\n"
            + "<p>Formats chosen on the calibration images (<code>formats/datapath/SPEC.md</code>); input <code>\(escape(integer.inputFormat))</code>. "
            + String(format: "Calibration accuracy %.4f", integer.calibration.accuracy)
            + (integer.test.map { String(format: ", test accuracy %.4f (%d / %d)", $0.accuracy, $0.correct, $0.total) } ?? "") + ".</p>\n"
            + (integer.refinement.map { refinement in
                String(format: "<p>Integer objective: the float search's choice refined on the integer datapath, calibration KL %.4f → %.4f, "
                       + "accuracy %.4f → %.4f (%d integer evaluations, %.1f s); ", refinement.start.loss, refinement.result.loss,
                       refinement.start.accuracy, refinement.result.accuracy, refinement.evaluations, refinement.seconds)
                    + (refinement.changed.isEmpty ? "no layer changed" : "changed " + refinement.changed.map(escape).joined(separator: ", ")) + ".</p>\n"
            } ?? "")
            + "<table><tr><th>layer</th><th>output format</th><th>accumulator bits</th><th>saturated (calibration)</th><th>saturated (test)</th></tr>\n"
        for layer in integer.layers {
            html += "<tr><td>\(escape(layer.name))</td><td><code>\(escape(layer.format))</code></td><td>\(layer.accumulatorBits)</td>"
                + String(format: "<td>%.3f%%</td><td>%.3f%%</td></tr>\n", 100 * layer.calibrationSaturated, 100 * layer.saturated)
        }
        html += "</table>\n<p>Each activation's calibration values by magnitude (powers of two) against the range its format holds "
            + "(shaded: from the LSB to the largest value; bars left of it round to zero or lose precision, bars right of it saturate).</p>\n"
            + "<div class=\"plots\">\n"
        for profile in integer.profiles { html += profileSVG(profile) }
        return html + "</div>\n"
    }

    /// One activation's magnitudes by power of two, with the format's range shaded.
    static func profileSVG(_ profile: ActivationProfile) -> String {
        let used = profile.counts.indices.filter { profile.counts[$0] > 0 }
        let topPower = Int(log2(max(profile.largestRepresentable, 1e-30)).rounded(.up))
        let first = min(used.first.map { $0 + profile.lowestPower } ?? profile.lsbPower, profile.lsbPower) - 1
        let last = max(used.last.map { $0 + profile.lowestPower } ?? topPower, topPower) + 1
        let (left, width, top, height) = (40.0, 300.0, 26.0, 90.0)
        let span = Double(max(last - first, 1))
        func x(_ power: Double) -> Double { left + (power - Double(first)) / span * width }
        let largest = Double(profile.counts.max() ?? 1)
        var svg = "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"\(Int(left + width + 20))\" height=\"\(Int(top + height + 30))\" "
            + "font-family=\"sans-serif\" font-size=\"11\">\n<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n"
            + "<text x=\"6\" y=\"16\" font-size=\"13\">\(escape(profile.layer)) <tspan fill=\"#555\">\(escape(profile.format))</tspan></text>\n"
        let bandStart = x(Double(profile.lsbPower)), bandEnd = x(log2(max(profile.largestRepresentable, 1e-30)))
        svg += String(format: "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"#dcefdc\"/>\n",
                      bandStart, top, max(1, bandEnd - bandStart), height)
        for (index, count) in profile.counts.enumerated() where count > 0 {
            let power = Double(index + profile.lowestPower)
            let barHeight = max(1, (log10(Double(count)) + 1) / (log10(largest) + 1) * height)
            svg += String(format: "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"#4a7ab5\"/>\n",
                          x(power) + 0.5, top + height - barHeight, max(1, x(power + 1) - x(power) - 1), barHeight)
        }
        for power in stride(from: first, through: last, by: max(1, (last - first) / 6)) {
            svg += String(format: "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">2^%d</text>\n", x(Double(power)), top + height + 14, power)
        }
        return svg + "</svg>\n"
    }

    /// Horizontal bars: each shortlisted candidate's KL with only this layer quantized.
    static func sensitivitySVG(_ layer: LayerSearchResult) -> String {
        let scored = layer.candidates.compactMap { candidate in candidate.alone.map { (scheme: candidate.scheme, loss: $0.loss) } }
        let rowHeight = 20.0, left = 150.0, width = 420.0, top = 30.0
        let height = top + Double(scored.count) * rowHeight + 30
        let largest = max(scored.map(\.loss).max() ?? 0, 1e-9)
        var svg = "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"\(Int(left + width + 80))\" height=\"\(Int(height))\" font-family=\"sans-serif\" font-size=\"12\">\n"
            + "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n"
            + "<text x=\"10\" y=\"18\" font-size=\"14\">\(escape(layer.layer)): KL with only this layer quantized</text>\n"
        for (index, candidate) in scored.enumerated() {
            let y = top + Double(index) * rowHeight
            let loss = candidate.loss
            let barWidth = max(1, loss / largest * width)
            let color = candidate.scheme == layer.chosen ? "#2e8b57" : "#4a7ab5"
            svg += String(format: "<text x=\"%.0f\" y=\"%.1f\" text-anchor=\"end\">", left - 6, y + 14) + escape(candidate.scheme) + "</text>"
            svg += String(format: "<rect x=\"%.0f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" ", left, y + 3, barWidth, rowHeight - 6) + "fill=\"\(color)\"/>"
            svg += String(format: "<text x=\"%.1f\" y=\"%.1f\">%.4f</text>\n", left + barWidth + 4, y + 14, loss)
        }
        return svg + "</svg>\n"
    }
}
