import BMQKit
import Datasets
import Foundation
@testable import IntegerDatapath
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

    /// The fast arithmetics (the CPU's byte dot products, the engine's float kernels where the
    /// bound makes them exact) and the integer loops agree on every score and statistic: cifar10_full (MAX and AVE pooling, LRN),
    /// ResNet-20 (strided convolutions, residual sums) and LeNet (a single input channel, rows of eight, two inner products
    /// in a row), 5-bit weights, 8-bit activations.
    @Test(arguments: [
        ("models/cifar10-full-everpeace/cifar10_full_train_test.prototxt", "models/cifar10-full-everpeace/cifar10_full_iter_70000.caffemodel"),
        ("models/resnet20-cifar10/res20_cifar_train_test.prototxt", "models/resnet20-cifar10/ResNet_20.caffemodel"),
        ("models/lenet-caffe/lenet_train_test.prototxt", "models/lenet-caffe/lenet_iter_10000.caffemodel"),
    ])
    func bothArithmeticsGiveTheSameIntegers(net: String, weights: String) throws {
        let mnist = net.contains("lenet")
        let model = try ModelLoader.load(ModelSource(net: SharedData.url(net), weights: SharedData.url(weights), meanFile: mnist ? nil : SharedData.meanFile),
                                        imageShape: mnist ? [1, 28, 28] : [3, 32, 32])
        let plan = try #require(try PlanRequest(patterns: ["6_0_0"]).plan(for: model.graph))
        let (graph, _) = try QuantizePass.apply(plan, to: model.graph.foldingBatchNorm())
        let preprocessing = model.graph.preprocessing ?? .identity
        let calibration = try DatasetReader.read(SharedData.url(mnist ? "data/mnist/train-images-idx3-ubyte" : "data/cifar10/data_batch_1.bin")).prefix(50)
        let formats = try IntegerDatapathRunner.chooseFormats(graph: graph, calibration: calibration, preprocessing: preprocessing,
                                                              bits: ActivationWidths(all: 8)).formats
        let program = try IntegerProgram(graph: graph, plan: plan, formats: formats)
        let images = try DatasetReader.read(mnist ? SharedData.mnistTest : SharedData.cifar10Test).prefix(40)
        let inputs = images.batch(0..<images.count, preprocessing: preprocessing).data.map { Int32(formats.input.quantize($0)) }
        let exactInFloat = program.steps.filter { if case let .dense(d) = $0 { d.exactInFloat != nil } else { false } }
        #expect(!exactInFloat.isEmpty, "no layer takes the float kernels")
        let integer = try program.run(inputs, count: images.count, arithmetic: .integer)
        let first = Array(inputs[0..<program.inputCount])
        let reference = program.trace(first, arithmetic: .integer)
        for arithmetic in [.fastest, .floatKernels] + DotProductUnit.available.map(IntegerProgram.Arithmetic.dotProducts) {
            let fast = try program.run(inputs, count: images.count, arithmetic: arithmetic)
            #expect(fast.scores == integer.scores, "\(arithmetic)")
            #expect(fast.layers == integer.layers, "\(arithmetic)")
            #expect(program.trace(first, arithmetic: arithmetic) == reference, "\(arithmetic)")
        }
    }
}
