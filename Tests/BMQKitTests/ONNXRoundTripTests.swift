import BMQKit
import Foundation
import Quantization
import TensorGraph
import Testing
import TestSupport

/// Weights survive ONNX in both directions bit for bit: third-party ONNX → bmq → ONNX, every
/// shared Caffe model → ONNX → bmq (and on to a .caffemodel), and quantized weights written as
/// integer codes (`DequantizeLinear`) → bmq.
@Suite(.enabled(if: SharedData.shouldRun, "needs ../shared")) struct ONNXRoundTripTests {
    /// Every parameter of every layer of `b` equals `a`'s, bit for bit; BatchNorm is compared as
    /// the mean and variance it applies (ONNX stores them divided by Caffe's factor).
    static func expectSameWeights(_ a: Graph, _ b: Graph, _ context: String) {
        func effective(_ node: Node) -> [[UInt32]] {
            guard case .batchNorm = node.op, node.parameters.count == 3 else { return node.parameters.map { $0.data.map(\.bitPattern) } }
            let factor = node.parameters[2].data.first ?? 1
            let divide: Float = factor == 0 ? 0 : 1 / factor
            return node.parameters.prefix(2).map { $0.data.map { ($0 * divide).bitPattern } }
        }
        let weighted = a.nodes.filter { !$0.parameters.isEmpty }
        #expect(weighted.map(\.name) == b.nodes.filter { !$0.parameters.isEmpty }.map(\.name), "\(context): layers")
        for node in weighted {
            guard let other = b.node(named: node.name) else { continue }
            #expect(effective(node) == effective(other), "\(context): layer \(node.name)")
        }
    }

    @Test(arguments: ["onnx-pcelis-mnist-cnn/mnist_cnn.onnx", "onnx-verivital-convnet-maxpool/Convnet_maxpool.onnx",
                      "onnx-vnncomp-cifar10-resnet2b/resnet_2b.onnx"])
    func thirdPartyModelsRoundTrip(_ path: String) throws {
        let directory = try SharedData.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let original = try ModelLoader.load(ModelSource(net: nil, weights: SharedData.url("models/" + path))).graph
        let written = directory.appendingPathComponent("again.onnx")
        _ = try Conversion.write(original, plan: nil, to: written)
        let again = try ModelLoader.load(ModelSource(net: nil, weights: written)).graph
        Self.expectSameWeights(original, again, path)
        #expect(again.nodes.map(\.op) == original.nodes.map(\.op))
    }

    @Test(arguments: CaffeReference.all())
    func caffeModelsRoundTrip(_ reference: CaffeReference) throws {
        let directory = try SharedData.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let original = try ModelLoader.load(ModelSource(net: reference.netURL, weights: reference.weightsURL, meanFile: reference.meanFile),
                                            imageShape: reference.isMNIST ? [1, 28, 28] : [3, 32, 32]).graph
        let onnx = directory.appendingPathComponent("model.onnx")
        _ = try Conversion.write(original, plan: nil, to: onnx)
        let imported = try ModelLoader.load(ModelSource(net: nil, weights: onnx)).graph
        Self.expectSameWeights(original, imported, reference.description)
        // The preprocessing travels as the model's first nodes.
        #expect(imported.preprocessing?.scale == original.preprocessing?.scale)
        #expect(imported.preprocessing?.meanImage?.data == original.preprocessing?.meanImage?.data)
        // And on to Caffe: the .caffemodel written from the imported graph holds the same weights.
        let caffemodel = directory.appendingPathComponent("back.caffemodel")
        _ = try Conversion.write(imported, plan: nil, to: caffemodel)
        let back = try ModelLoader.load(ModelSource(net: reference.netURL, weights: caffemodel, meanFile: reference.meanFile),
                                        imageShape: reference.isMNIST ? [1, 28, 28] : [3, 32, 32]).graph
        Self.expectSameWeights(original, back, reference.description + " back in Caffe")
    }

    /// Bit-pattern weights written as int8/int32 codes and a power-of-two scale read back as the
    /// very floats the plan produced.
    @Test func integerCodesReadBackExactly() throws {
        let directory = try SharedData.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let model = SharedData.url("models/lenet-caffe")
        let graph = try ModelLoader.load(ModelSource(net: model.appendingPathComponent("lenet_train_test.prototxt"),
                                                     weights: model.appendingPathComponent("lenet_iter_10000.caffemodel")),
                                         imageShape: [1, 28, 28]).graph
        // conv1's codes fit in int8; ip1's 10-bit pattern needs int32.
        let plan = try #require(try PlanRequest(patterns: ["5_1_1_0", "ip1=10_6_0_1_2_3_4_5_0"]).plan(for: graph))
        let onnx = directory.appendingPathComponent("qdq.onnx")
        _ = try Conversion.write(graph, plan: plan, to: onnx, integerWeights: true)
        let (quantized, _) = try QuantizePass.apply(plan, to: graph)
        let imported = try ModelLoader.load(ModelSource(net: nil, weights: onnx)).graph
        Self.expectSameWeights(quantized, imported, "QDQ")
        let text = try String(decoding: Data(contentsOf: onnx), as: UTF8.self)
        #expect(text.contains("DequantizeLinear"))
    }
}
