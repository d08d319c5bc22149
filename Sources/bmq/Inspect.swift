import ArgumentParser
import BMQKit
import Foundation
import TensorGraph
import Quantization

struct Inspect: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show a model's layers, shapes and weight statistics.",
        discussion: """
            FILE is a net definition (.prototxt), a weights file (.caffemodel), or one of each. \
            A weights file alone shows the topology stored in it; a prototxt alone shows shapes \
            without weights.

            Examples:
              bmq inspect lenet.prototxt lenet_iter_10000.caffemodel
              bmq inspect lenet_iter_10000.caffemodel --json
              bmq inspect lenet_train_test.prototxt --input-shape 1,28,28
              bmq inspect lenet.prototxt lenet_iter_10000.caffemodel --layers conv --pattern X0.0XX --svg plots/

            With --pattern or --plan, each quantized layer also shows a histogram of its weights with \
            the pattern's representable values marked under it (|), the share of weights that saturate \
            and that become zero, and the weight MSE.
            """)

    @Argument(help: ArgumentHelp("A .prototxt, a .caffemodel, or both.", valueName: "file"))
    var files: [String]

    @Option(help: ArgumentHelp("Image shape C,H,W for nets fed by a Data layer.", valueName: "c,h,w"))
    var inputShape: String?

    @OptionGroup var quantization: QuantizationOptions

    @Option(help: ArgumentHelp("Also write one SVG histogram per quantized layer into this folder.", valueName: "dir"))
    var svg: String?

    @Flag(help: "For a packed .bmq model: also check that every stored value decodes to a member of its pattern's set (CRCs are always checked).")
    var verify = false

    @Flag(help: "Print JSON instead of a table.")
    var json = false

    func validate() throws {
        guard (1...2).contains(files.count) else { throw ValidationError("give one or two files") }
    }

    func run() throws {
        if files.count == 1, Inspection.isPackedModel(URL(fileURLWithPath: files[0])) {
            return try inspectPacked(URL(fileURLWithPath: files[0]))
        }
        var net: URL?, weights: URL?
        for path in files {
            let url = URL(fileURLWithPath: path)
            if path.hasSuffix(".prototxt") || path.hasSuffix(".pt") {
                net = url
            } else {
                weights = url
            }
        }
        if files.count == 2, net == nil || weights == nil {
            throw ValidationError("give one net definition (.prototxt) and one weights file")
        }
        let shape = try inputShape.map(parseShape)
        let request = try commandLineRequest {
            try InspectionRequest(net: net, weights: weights, imageShape: shape, quantization: try quantization.request)
        }
        let inspection = try Inspection.model(request)
        if let svg {
            let folder = URL(fileURLWithPath: svg)
            try FileIO.createFolder(folder)
            for layer in inspection.layers {
                guard let view = layer.quantization else { continue }
                let picture = HistogramRendering.svg(view.histogram, title: "\(layer.name): \(view.scheme), \(view.rounding)")
                try FileIO.writeAtomically(Data(picture.utf8), to: folder.appendingPathComponent("\(layer.name).svg"))
            }
        }
        if json {
            try Terminal.printJSON(inspection)
        } else {
            print(InspectionTable.render(inspection))
        }
    }
}

extension Inspect {
    func inspectPacked(_ url: URL) throws {
        let inspection = try Inspection.packed(PackedInspectionRequest(file: url, verify: verify))
        if json { return try Terminal.printJSON(inspection) }
        print("packed model: \(inspection.network), \(inspection.layers) layers, \(inspection.fileBytes) bytes")
        let header = ["tensor", "shape", "encoding", "bits", "payload bytes", "vs float32"]
        let rows = inspection.tensors.map {
            [$0.name, InspectionTable.shapeText($0.shape), $0.encoding, "\($0.storedBits)", "\($0.payloadBytes)", String(format: "%.1fx", $0.compression)]
        }
        let widths = header.indices.map { column in ([header] + rows).map { $0[column].count }.max() ?? 0 }
        for row in [header] + rows {
            print(row.enumerated().map { $1.padding(toLength: widths[$0], withPad: " ", startingAt: 0) }.joined(separator: "  "))
        }
        let payload = inspection.tensors.reduce(0) { $0 + $1.payloadBytes }
        let float = inspection.tensors.reduce(0) { $0 + $1.shape.reduce(1, *) * 4 }
        print("total: \(payload) payload bytes for \(float) bytes of float32 (\(String(format: "%.1fx", Double(float) / Double(max(payload, 1)))) smaller); "
              + "\(inspection.fileBytes - payload) bytes of description and section headers")
        if let verified = inspection.verifiedValues { print("verified: every CRC matches and all \(verified) stored values are valid") }
        if let datapath = inspection.datapath {
            print("integer datapath (formats/datapath/SPEC.md \(datapath.specification)), input \(datapath.input):")
            let header = ["layer", "output", "weight F", "accumulator bits", "adders per weight", "LRN table"]
            let rows = datapath.layers.map {
                [$0.name, $0.output, $0.weightFraction.map(String.init) ?? "-", "\($0.accumulatorBits)", $0.addersPerWeight.map(String.init) ?? "-",
                 $0.tableEntries.map { "\($0) entries" } ?? "-"]
            }
            let widths = header.indices.map { column in ([header] + rows).map { $0[column].count }.max() ?? 0 }
            for row in [header] + rows {
                print("  " + row.enumerated().map { $1.padding(toLength: widths[$0], withPad: " ", startingAt: 0) }.joined(separator: "  "))
            }
        }
    }
}

/// The text form of an inspection.
enum InspectionTable {
    static func render(_ inspection: ModelInspection) -> String {
        var rows: [[String]] = [["layer", "type", "bottoms -> tops", "output", "params"]]
        var details: [Int: [String]] = [:]
        for layer in inspection.layers {
            let output = layer.outputShapes.map { $0.map(shapeText).joined(separator: ", ") } ?? "?"
            rows.append([layer.name, layer.type, "\(layer.bottoms.joined(separator: ",")) -> \(layer.tops.joined(separator: ","))",
                         output, layer.parameterCount == 0 ? "" : "\(layer.parameterCount)"])
            details[rows.count - 1] = layer.blobs.map { blob in
                let s = blob.statistics
                return "    \(blob.name.padding(toLength: 9, withPad: " ", startingAt: 0)) \(shapeText(blob.shape).padding(toLength: 12, withPad: " ", startingAt: 0)) "
                    + "min \(number(s.min))  max \(number(s.max))  mean \(number(Float(s.mean)))  std \(number(Float(s.std)))  |max| \(number(s.absMax))"
            } + quantizationLines(layer.quantization)
        }
        let widths = (0..<rows[0].count).map { column in rows.map { $0[column].count }.max() ?? 0 }
        var lines: [String] = []
        if !inspection.name.isEmpty { lines.append("net: \(inspection.name)") }
        for (name, shape) in inspection.inputs.sorted(by: { $0.key < $1.key }) {
            lines.append("input: \(name) \(shapeText(shape))")
        }
        for (index, row) in rows.enumerated() {
            let cells = row.enumerated().map { column, cell in
                column == row.count - 1 ? String(repeating: " ", count: widths[column] - cell.count) + cell
                    : cell.padding(toLength: widths[column], withPad: " ", startingAt: 0)
            }
            lines.append(cells.joined(separator: "  "))
            lines.append(contentsOf: details[index] ?? [])
        }
        let bytes = Double(inspection.parameterCount * 4) / 1_048_576
        lines.append("total: \(inspection.layers.count) layers, \(inspection.parameterCount) parameters (\(String(format: "%.2f", bytes)) MiB as float32)")
        lines.append(contentsOf: inspection.notes.map { "note: \($0)" })
        if inspection.needsInputShape { lines.append("note: pass --input-shape C,H,W to show output shapes") }
        return lines.joined(separator: "\n")
    }

    static func quantizationLines(_ view: ModelInspection.LayerQuantization?) -> [String] {
        guard let view else { return [] }
        let s = view.statistics
        return ["    quantized: \(view.scheme), \(view.rounding) rounding: \(percent(s.saturatedShare)) saturate, "
                + "\(percent(s.zeroedShare)) become zero, MSE \(String(format: "%.3g", s.meanSquaredError))"]
            + HistogramRendering.text(view.histogram).map { "      " + $0 }
    }

    static func shapeText(_ dims: [Int]) -> String { dims.map(String.init).joined(separator: "x") }

    static func number(_ value: Float) -> String { String(format: "%.4g", value) }
}
