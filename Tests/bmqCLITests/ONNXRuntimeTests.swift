import Foundation
import Testing
import TestSupport

/// bmq's ONNX files run in ONNX Runtime (installed from PyPI by scripts/onnxruntime-setup into
/// .build-onnx/venv) with exactly real Caffe's counts, and quantized models, written as exact
/// floats or as integer codes with `DequantizeLinear`, with exactly `bmq eval --plan`'s.
enum ONNXRuntime {
    static let python = SharedData.packageRoot.appendingPathComponent(".build-onnx/venv/bin/python").path
    static let counter = SharedData.packageRoot.appendingPathComponent("scripts/onnxruntime-count").path

    /// ONNX Runtime is installed, or the run is CI's (which installs it, so its absence fails there).
    static var ready: Bool { FileManager.default.isExecutableFile(atPath: python) || SharedData.isCI }
}

@Suite(.serialized, .enabled(if: SharedData.shouldRun && ONNXRuntime.ready, "needs ../shared and scripts/onnxruntime-setup"))
struct ONNXRuntimeTests {
    /// ONNX Runtime's correct-count of `model` on `data`.
    static func onnxRuntimeCount(_ model: String, data: URL) throws -> Int {
        let (python, counter) = (ONNXRuntime.python, ONNXRuntime.counter)
        let result = try CLI.runProgram(python, [counter, model, data.path])
        let fields = result.stdout.split(separator: " ")
        guard result.status == 0, let first = fields.first, let count = Int(first) else {
            throw CLI.Failure("onnxruntime-count failed: \(result.stdout)\(result.stderr)")
        }
        return count
    }

    static func bmqCount(_ arguments: [String]) throws -> Int {
        let result = try CLI.run(["eval"] + arguments + ["--json"])
        guard result.status == 0, let object = try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any],
              let correct = object["correct"] as? Int else { throw CLI.Failure("eval failed: \(result.stderr)") }
        return correct
    }

    @Test(arguments: CaffeReference.all())
    func caffeModelsKeepCaffesCountInOnnxRuntime(_ reference: CaffeReference) throws {
        let directory = try SharedData.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let onnx = directory.appendingPathComponent("model.onnx").path
        let source = ["--net", reference.netURL.path, "--weights", reference.weightsURL.path]
            + (reference.meanFile.map { ["--mean-file", $0.path] } ?? [])
        let convert = try CLI.run(["convert"] + source + ["--input-shape", reference.isMNIST ? "1,28,28" : "3,32,32", "-o", onnx])
        #expect(convert.status == 0, "\(convert.stderr)")
        #expect(try Self.onnxRuntimeCount(onnx, data: reference.dataURL) == reference.correct, "ONNX Runtime")
        #expect(try Self.bmqCount([onnx, "--data", reference.dataURL.path]) == reference.correct, "bmq eval of the .onnx")
    }

    /// A quantized plan as exact floats and as QDQ: ONNX Runtime counts what `bmq eval --plan` counts.
    @Test(arguments: ["lenet-caffe", "cifar10-quick-everpeace"])
    func quantizedModelsCountAsBmqDoes(_ folder: String) throws {
        let reference = try #require(CaffeReference.all().first { $0.folder == folder && $0.weights.hasSuffix(".caffemodel") })
        let directory = try SharedData.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let source = ["--net", reference.netURL.path, "--weights", reference.weightsURL.path]
            + (reference.meanFile.map { ["--mean-file", $0.path] } ?? [])
        let pattern = ["--pattern", "6_1_1_0", "--pattern", "conv1=7_2_1_2_0"]
        let expected = try Self.bmqCount(source + pattern + ["--data", reference.dataURL.path])
        for qdq in [false, true] {
            let onnx = directory.appendingPathComponent(qdq ? "qdq.onnx" : "float.onnx").path
            let convert = try CLI.run(["convert"] + source + pattern + (qdq ? ["--qdq"] : [])
                                      + ["--input-shape", reference.isMNIST ? "1,28,28" : "3,32,32", "-o", onnx])
            #expect(convert.status == 0, "\(convert.stderr)")
            #expect(try Self.onnxRuntimeCount(onnx, data: reference.dataURL) == expected, "ONNX Runtime, qdq \(qdq)")
            #expect(try Self.bmqCount([onnx, "--data", reference.dataURL.path]) == expected, "bmq eval of the .onnx, qdq \(qdq)")
        }
        // The QDQ file stores the integer codes, a quarter of the floats' bytes at int8.
        let sizes = try ["float.onnx", "qdq.onnx"].map {
            try FileManager.default.attributesOfItem(atPath: directory.appendingPathComponent($0).path)[.size] as? Int ?? 0
        }
        #expect(sizes[1] < sizes[0] / 2, "\(sizes)")
    }
}
