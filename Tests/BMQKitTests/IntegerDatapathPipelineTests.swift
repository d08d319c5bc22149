import BMQKit
import Foundation
import Quantization
import TensorGraph
import TestSupport
import Testing

/// The integer datapath on the shared residual network: BatchNorm and Scale folded, Eltwise in
/// integers, formats chosen on training images.
@Suite(.enabled(if: SharedData.shouldRun, "needs ../shared")) struct IntegerDatapathPipelineTests {
    @Test func resNet20RunsInIntegersBesideItsFloatActivations() throws {
        let model = SharedData.url("models/resnet20-cifar10")
        let request = try EvaluationRequest(
            model: ModelSource(net: model.appendingPathComponent("res20_cifar_train_test.prototxt"),
                               weights: model.appendingPathComponent("ResNet_20.caffemodel"), meanFile: SharedData.meanFile),
            data: SharedData.cifar10Test, limit: 200, quantization: try PlanRequest(patterns: ["8_0_0"]), datapath: .integer,
            activationCalibration: try ActivationCalibration(data: SharedData.url("data/cifar10/data_batch_1.bin"), limit: 100,
                                                          bits: ActivationWidths(all: 8, perLayer: ["InnerProduct1": 12, "Data1": 10])))
        let report = try Evaluation.run(request)
        let integer = try #require(report.integer)
        let floatActivations = try #require(report.quantized)
        #expect(abs(integer.result.correct - floatActivations.correct) <= 6,
                "integer \(integer.result.correct) vs float activations \(floatActivations.correct) of 200")
        // 21 convolutions, 1 inner product and 9 residual sums each got a format, 8 bits wide but
        // for the two given their own width.
        #expect(integer.formats.layers.count == 31)
        #expect(integer.formats.layers.filter { $0.value.bits != 8 }.mapValues(\.bits) == ["InnerProduct1": 12])
        #expect(integer.formats.input.bits == 10)
        #expect(integer.layers.filter { $0.layer.hasPrefix("Eltwise") }.count == 9)
        for layer in integer.layers { #expect(layer.largestAccumulator <= layer.bound, "\(layer.layer)") }
        // The plan carries the formats it ran with.
        #expect(report.plan?.activations == integer.formats)
    }
}
