import CaffeFormat
import Datasets
import Foundation
import ONNXFormat
import PackedFormat
import Quantization
import TensorGraph
import Testing
import TestSupport

/// Every input the fuzzers kept (Tests/Fixtures/fuzz/<target>, see scripts/fuzz) and every seed
/// goes through the reader its target fuzzes: each must be read or refused with an error, never
/// crash. The same calls as the targets in Fuzz/Sources.
@Suite struct FuzzRegressionTests {
    static let root = SharedData.packageRoot

    static func inputs(_ target: String) -> [URL] {
        ["Tests/Fixtures/fuzz/\(target)", "Fuzz/seeds/\(target)"].flatMap { folder -> [URL] in
            let url = root.appendingPathComponent(folder)
            return ((try? FileManager.default.contentsOfDirectory(at: url, includingPropertiesForKeys: nil)) ?? []).sorted { $0.path < $1.path }
        }
    }

    /// Reads `input` under `name` (readers tell some formats by the file name) in a fresh folder.
    static func read(_ input: URL, as name: String, _ body: (URL, Data) throws -> Void) throws {
        let folder = try SharedData.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: folder) }
        let data = try Data(contentsOf: input)
        let url = folder.appendingPathComponent(name)
        try data.write(to: url)
        do { try body(url, data) } catch is FormatError {} catch is GraphError {} catch is PlanError {} catch is UnrecognizedDataset {}
    }

    static func checkShapes(_ graph: Graph) { _ = try? ShapeInference.infer(graph, checkParameters: true) }

    @Test func seedsArePresent() {
        for target in ["fuzz-caffemodel", "fuzz-prototxt", "fuzz-packed", "fuzz-plan", "fuzz-dataset", "fuzz-onnx"] {
            #expect(!Self.inputs(target).isEmpty, "\(target) has no seeds or kept inputs")
        }
    }

    @Test func keptInputsAreReadOrRefused() throws {
        for input in Self.inputs("fuzz-caffemodel") {
            try Self.read(input, as: "model.caffemodel") { url, _ in
                let (_, topology) = try CaffeFormat().readRecordedModel(from: url)
                if case .success(let graph) = topology { Self.checkShapes(graph) }
            }
        }
        for input in Self.inputs("fuzz-prototxt") {
            try Self.read(input, as: "net.prototxt") { url, _ in Self.checkShapes(try CaffeFormat().readNet(from: url)) }
        }
        for input in Self.inputs("fuzz-packed") {
            try Self.read(input, as: "model.bmq") { url, _ in Self.checkShapes(try PackedFormat().readQuantizedModel(from: url).graph) }
        }
        for input in Self.inputs("fuzz-plan") {
            try Self.read(input, as: "plan.json") { url, data in
                _ = JSONSyntax.firstError(in: data)
                _ = try QuantizationPlan.read(from: url)
            }
        }
        for input in Self.inputs("fuzz-onnx") {
            try Self.read(input, as: "model.onnx") { url, _ in Self.checkShapes(try ONNXFormat().readModel(from: url)) }
        }
        for input in Self.inputs("fuzz-dataset") {
            try Self.read(input, as: "t10k-images-idx3-ubyte") { url, _ in
                let dataset = try DatasetReader.read(url)
                _ = dataset.batch(0..<min(dataset.count, 2), preprocessing: .identity)
            }
            try Self.read(input, as: "list.txt") { url, _ in _ = try CaffeDataSources.readImageList(url, limit: 4) }
            try Self.read(input, as: "record") { _, data in
                try data.withUnsafeBytes { bytes in
                    do { _ = try CaffeDataSources.decodeDatum(bytes, record: 0, file: "record", encodedImages: .asStored) } catch is FormatError {}
                    _ = try ImageFiles.decode(bytes, mode: .gray, file: "record")
                }
            }
        }
    }
}
