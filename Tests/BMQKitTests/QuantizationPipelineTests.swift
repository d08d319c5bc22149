import BMQKit
import Foundation
import Quantization
import TensorGraph
import Testing
import TestSupport

/// Quantized models written to disk evaluate exactly like the in-memory quantized model.
@Suite(.enabled(if: SharedData.shouldRun, "shared data not found; set BMQ_SHARED"))
struct QuantizationPipelineTests {
    static let lenet = SharedData.url("models/lenet-caffe")

    @Test(arguments: [
        (["5_2_0_1_0"], "conv", RoundingMode.maskAfter, "lenet_iter_10000.caffemodel"),
        (["conv1=X0.0XX", "conv2=X0.00XX", "ip1=mse:3", "ip2=per-channel:4"], nil, .nearest, "lenet_iter_10000.caffemodel.h5"),
    ] as [([String], String?, RoundingMode, String)])
    func writtenModelGivesTheSameCountAsThePlan(patterns: [String], layers: String?, rounding: RoundingMode, output: String) throws {
        let source = ModelSource(net: Self.lenet.appendingPathComponent("lenet_train_test.prototxt"),
                                 weights: Self.lenet.appendingPathComponent("lenet_iter_10000.caffemodel"))
        let plan = try PlanRequest(patterns: patterns, layers: layers, rounding: rounding)
        let inMemory = try Evaluation.run(try EvaluationRequest(model: source, data: SharedData.mnistTest, quantization: plan))
        let quantized = try #require(inMemory.quantized)
        #expect(quantized.correct < inMemory.result.correct)

        let directory = try SharedData.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let written = directory.appendingPathComponent(output)
        _ = try Conversion.run(try ConversionRequest(model: source, quantization: plan, output: written, imageShape: [1, 28, 28], requirePlan: true))
        var reread = source
        reread.weights = written
        let fromDisk = try Evaluation.run(try EvaluationRequest(model: reread, data: SharedData.mnistTest))
        #expect(fromDisk.result.correct == quantized.correct)
    }

    @Test func quantizeRefusesToOverwriteItsInput() throws {
        let source = ModelSource(net: Self.lenet.appendingPathComponent("lenet.prototxt"),
                                 weights: Self.lenet.appendingPathComponent("lenet_iter_10000.caffemodel"))
        #expect { try Conversion.run(try ConversionRequest(model: source, quantization: try PlanRequest(patterns: ["4_0_0"]), output: source.weights, requirePlan: true)) }
            throws: { "\($0)".contains("is an input") }
    }

    /// Plain 3- and 4-bit patterns collapse LeNet, the thesis's best masks recover it (SEED.md's tables).
    @Test func thesisFindingsHoldOnLeNet() throws {
        let source = ModelSource(net: Self.lenet.appendingPathComponent("lenet_train_test.prototxt"),
                                 weights: Self.lenet.appendingPathComponent("lenet_iter_10000.caffemodel"))
        func accuracy(_ patterns: [String]) throws -> Double {
            let report = try Evaluation.run(try EvaluationRequest(
                model: source, data: SharedData.mnistTest, limit: 2000, quantization: try PlanRequest(patterns: patterns, layers: patterns.count == 1 ? "conv" : nil)))
            return try #require(report.quantized).accuracy
        }
        #expect(try accuracy(["3_0_0"]) < 0.2)
        #expect(try accuracy(["4_0_0"]) < 0.4)
        #expect(try accuracy(["conv1=5_2_0_1_0", "conv2=6_3_0_1_2_0"]) > 0.95)
        #expect(try accuracy(["conv1=6_2_0_1_0", "conv2=7_3_0_1_2_0"]) > 0.97)
    }
}
