import BMQKit
import CaffeFormat
import Foundation
import Inference
import TensorGraph
import Testing
import TestSupport

/// Every layer's output against Caffe's own, for the first two test images of each model.
@Suite(.enabled(if: SharedData.shouldRun, "shared data not found; set BMQ_SHARED"))
struct ActivationTests {
    struct Index: Decodable {
        struct Entry: Decodable {
            var file: String
            var layer_index: Int
            var layer_name: String
            var shape: [Int]
        }
        var weights: String
        var files: [Entry]
    }

    static let models = ["lenet-caffe", "lenet-everpeace", "cifar10-quick-everpeace", "cifar10-full-everpeace", "resnet20-cifar10"]

    static func readFloats(_ url: URL) throws -> [Float] {
        let data = try Data(contentsOf: url)
        return data.withUnsafeBytes { Array($0.bindMemory(to: Float.self)) }
    }

    @Test(arguments: models)
    func everyLayerMatchesCaffe(_ model: String) throws {
        let folder = SharedData.url("reference/activations/\(model)")
        let index = try JSONDecoder().decode(Index.self, from: Data(contentsOf: folder.appendingPathComponent("index.json")))
        let weightsName = URL(fileURLWithPath: index.weights).lastPathComponent
        let graph = try ModelLoader.load(ModelSource(
            net: folder.appendingPathComponent("deploy_b2.prototxt"),
            weights: SharedData.url("models/\(model)/\(weightsName)"))).graph
        let network = try Network(graph: graph)
        let input = try Self.readFloats(folder.appendingPathComponent("00_input.f32"))
        var outputs: [Int: [Tensor]] = [:]
        _ = try network.forward(Tensor(shape: graph.inputs[0].shape, data: input)) { index, tensors in outputs[index + 1] = tensors }

        var compared = 0
        for entry in index.files where entry.layer_index > 0 {
            let expected = try Self.readFloats(folder.appendingPathComponent(entry.file))
            let node = graph.nodes[entry.layer_index - 1]
            try #require(node.name == entry.layer_name, "layer order differs from Caffe's at \(entry.file)")
            let actual = try #require(outputs[entry.layer_index]?.first)
            try #require(actual.shape.dims == entry.shape, "\(entry.file): shape \(actual.shape) vs Caffe's \(entry.shape)")
            let scale = max(1, expected.map { abs($0) }.max() ?? 1)
            let worst = zip(actual.data, expected).map { abs($0 - $1) }.max() ?? 0
            #expect(worst <= 2e-5 * scale, "\(entry.file): max difference \(worst) (values up to \(scale))")
            compared += 1
        }
        #expect(compared == index.files.count - 1)
    }
}
