import ArgumentParser
import BMQKit
import Foundation

struct Export: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Export a packed model's tensors for hardware flows.",
        discussion: """
            c:          one C header with each tensor's packed words (uint32_t arrays) and its shape and pattern macros
            hex:        Verilog $readmemh files, one per tensor, one stored value per line
            coe:        Xilinx COE memory files, one per tensor
            caffemodel: the decoded weights, for Caffe
            c-reference: bmq_ref.c, a C99 program of the integer datapath that checks `bmq vectors` output
            onnx:       the network as an ONNX model (weights as floats); -o may name the .onnx file
            onnx-qdq:   the same with bit-pattern weights as integer codes and a power-of-two scale (DequantizeLinear)
            Bit orders are stated in formats/export.md.

            Example:
              bmq export lenet.bmq --to c -o build/
            """)

    @Argument(help: ArgumentHelp("A packed .bmq model.", valueName: "model.bmq"))
    var model: String

    @Option(help: ArgumentHelp("c, hex, coe, caffemodel, c-reference, onnx or onnx-qdq.", valueName: "format"))
    var to: HardwareExport

    @Option(name: .shortAndLong, help: ArgumentHelp("Folder to write into (created if needed); for onnx and onnx-qdq also a file name ending in .onnx.", valueName: "dir"))
    var output: String

    func run() throws {
        let files = try PackedExport.run(
            try ExportRequest(packed: URL(fileURLWithPath: model), target: to, directory: URL(fileURLWithPath: output)))
        for file in files { print("wrote \(file.path)") }
    }
}

extension HardwareExport: ExpressibleByArgument {}
