import Foundation
import Quantization

/// Terminal and SVG pictures of a weight histogram with its representable values marked underneath.
public enum HistogramRendering {
    /// A few lines of block characters, a marker line (`|` at representable values) and an axis.
    public static func text(_ histogram: WeightHistogram, height: Int = 6) -> [String] {
        let blocks: [Character] = [" ", "▁", "▂", "▃", "▄", "▅", "▆", "▇", "█"]
        let top = max(1, histogram.counts.max() ?? 1)
        var lines: [String] = []
        for row in (0..<height).reversed() {
            let line = histogram.counts.map { count -> Character in
                let eighths = Int((Double(count) / Double(top) * Double(height * 8)).rounded()) - row * 8
                return blocks[max(0, min(8, eighths))]
            }
            lines.append(String(line))
        }
        var marks = [Character](repeating: " ", count: histogram.counts.count)
        for value in histogram.representable { marks[histogram.bin(of: value)] = "|" }
        lines.append(String(marks))
        let left = String(format: "%.3g", histogram.lower), right = String(format: "%.3g", histogram.upper)
        let width = histogram.counts.count
        let middle = max(1, width / 2 - left.count)
        lines.append(left + String(repeating: " ", count: middle) + "0" + String(repeating: " ", count: max(1, width - left.count - middle - 1 - right.count)) + right)
        return lines
    }

    /// A standalone SVG: bars for the weights, red ticks under the axis for representable values.
    public static func svg(_ histogram: WeightHistogram, title: String) -> String {
        let width = 640.0, plotHeight = 240.0, left = 50.0, top = 30.0, barWidth = (width - 2 * left) / Double(histogram.counts.count)
        let most = Double(max(1, histogram.counts.max() ?? 1))
        func x(_ value: Double) -> Double { left + (value - histogram.lower) / (histogram.upper - histogram.lower) * (width - 2 * left) }
        var svg = """
            <svg xmlns="http://www.w3.org/2000/svg" width="\(Int(width))" height="\(Int(top + plotHeight + 70))" font-family="sans-serif" font-size="12">
            <rect width="100%" height="100%" fill="white"/>
            <text x="\(left)" y="18" font-size="14">\(escape(title))</text>

            """
        for (index, count) in histogram.counts.enumerated() where count > 0 {
            let h = Double(count) / most * plotHeight
            svg += String(format: "<rect x=\"%.2f\" y=\"%.2f\" width=\"%.2f\" height=\"%.2f\" fill=\"#4a7ab5\"><title>%d</title></rect>\n",
                          left + Double(index) * barWidth, top + plotHeight - h, max(0.5, barWidth - 0.5), h, count)
        }
        let axis = top + plotHeight
        svg += String(format: "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"black\"/>\n", left, axis, width - left, axis)
        for value in histogram.representable {
            svg += String(format: "<line x1=\"%.2f\" y1=\"%.1f\" x2=\"%.2f\" y2=\"%.1f\" stroke=\"#c0392b\" stroke-width=\"2\"><title>%g</title></line>\n",
                          x(value), axis + 4, x(value), axis + 18, value)
        }
        for value in [histogram.lower, 0, histogram.upper] {
            svg += String(format: "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">%.3g</text>\n", x(value), axis + 34, value)
        }
        svg += "<text x=\"\(left)\" y=\"\(Int(axis + 56))\" fill=\"#c0392b\">red ticks: representable values</text>\n</svg>\n"
        return svg
    }

    static func escape(_ text: String) -> String {
        text.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;").replacingOccurrences(of: ">", with: "&gt;")
    }
}
