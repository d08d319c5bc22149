import BMQKit
import Foundation
import Testing
import TestSupport

/// The third-party ONNX models in ../shared/models/onnx-*: bmq's count on the test set equals
/// ONNX Runtime's, as each SOURCE.txt records it, with the preprocessing it states
/// (`x / 255`, then per channel `(x - mean) / std` where given, as `--mean-value 255 mean`
/// and `--scale 1 / (255 std)`).
@Suite(.enabled(if: SharedData.shouldRun, "needs ../shared")) struct ONNXModelTests {
    struct Model: Sendable, CustomStringConvertible {
        var folder: String
        var file: String
        var description: String { folder }
    }

    static let models = [
        Model(folder: "onnx-pcelis-mnist-cnn", file: "mnist_cnn.onnx"),
        Model(folder: "onnx-verivital-convnet-maxpool", file: "Convnet_maxpool.onnx"),
        Model(folder: "onnx-vnncomp-cifar10-resnet2b", file: "resnet_2b.onnx"),
    ]

    /// The numbers after `label (` in `text`, e.g. `mean (0.4914, 0.4822, 0.4465)`.
    static func numbers(after label: String, in text: String) -> [Double]? {
        guard let start = text.range(of: label + " (") else { return nil }
        let rest = text[start.upperBound...]
        guard let end = rest.firstIndex(of: ")") else { return nil }
        return rest[..<end].split(separator: ",").compactMap { Double($0.trimmingCharacters(in: .whitespaces)) }
    }

    @Test(arguments: models)
    func countsEqualOnnxRuntimes(_ model: Model) throws {
        let folder = SharedData.url("models/\(model.folder)")
        let source = try String(contentsOf: folder.appendingPathComponent("SOURCE.txt"), encoding: .utf8)
        let reference = try #require(source.firstMatch(of: /ONNX Runtime [0-9.]+ \(CPU\) gives ([0-9]+) \/ 10000/), "no ONNX Runtime count")
        let expected = try #require(Int(reference.1))
        let isCIFAR = source.contains("cifar10")
        var scale: [Float] = [Float(1.0 / 255)]
        var mean: [Float]?
        if let means = Self.numbers(after: "mean", in: source), let stds = Self.numbers(after: "std", in: source) {
            mean = means.map { Float($0 * 255) }
            scale = stds.map { Float(1 / (255 * $0)) }
        }
        let report = try Evaluation.run(try EvaluationRequest(
            model: ModelSource(net: nil, weights: folder.appendingPathComponent(model.file), scale: scale, meanValues: mean),
            data: isCIFAR ? SharedData.cifar10Test : SharedData.mnistTest))
        #expect(report.result.total == 10000)
        #expect(report.result.correct == expected, "bmq \(report.result.correct), ONNX Runtime \(expected)")
    }
}
