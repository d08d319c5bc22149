import BMQKit
import CaffeFormat
import Foundation
import TensorGraph
import Testing
import TestSupport

/// caffemodel → graph → caffemodel → graph keeps the graph and every weight bit for bit.
@Suite(.enabled(if: SharedData.shouldRun, "shared data not found; set BMQ_SHARED"))
struct CaffeRoundTripTests {
    static let references = CaffeReference.all().filter { !$0.weights.hasSuffix(".h5") }

    @Test(arguments: references)
    func writeThenReadIsIdentical(_ reference: CaffeReference) throws {
        let imageShape: Shape = reference.isMNIST ? [1, 28, 28] : [3, 32, 32]
        let original = try ModelLoader.load(
            ModelSource(net: reference.netURL, weights: reference.weightsURL, meanFile: reference.meanFile),
            imageShape: imageShape).graph
        let directory = try SharedData.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let written = directory.appendingPathComponent("model.caffemodel")
        try CaffeFormat().write(original, to: written)

        // Read back with the original prototxt, as Caffe would load it.
        let reread = try ModelLoader.load(
            ModelSource(net: reference.netURL, weights: written, meanFile: reference.meanFile), imageShape: imageShape).graph
        #expect(reread.nodes.map(\.name) == original.nodes.map(\.name))
        for (a, b) in zip(original.nodes, reread.nodes) {
            #expect(a.op == b.op, "layer \(a.name)")
            #expect(a.parameters.count == b.parameters.count, "layer \(a.name)")
            for (x, y) in zip(a.parameters, b.parameters) {
                #expect(x.isBitIdentical(to: y), "layer \(a.name) blob differs")
            }
        }

        // The written file is self-describing: its own layer definitions rebuild the same graph.
        let standalone = try CaffeFormat().readModelDefinition(from: written)
        #expect(standalone.nodes.map(\.op) == original.nodes.map(\.op))
        #expect(standalone.inputs == original.inputs)
        let (attached, _) = try standalone.attachingWeights(try CaffeFormat().readWeights(from: written))
        #expect(attached.nodes == original.nodes)
    }
}
