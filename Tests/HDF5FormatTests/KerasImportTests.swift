import CaffeFormat
import Foundation
import TensorGraph
import Testing
import TestSupport
@testable import HDF5Format

/// The Keras-style fixture (made by Tests/Fixtures/keras/make_keras_lenet.py with h5py from the
/// LeNet snapshot) imports back to the LeNet caffemodel's weights, bit for bit.
@Suite struct KerasImportTests {
    static let fixture = SharedData.packageRoot.appendingPathComponent("Tests/Fixtures/keras/lenet_keras.h5")
    static let example = SharedData.packageRoot.appendingPathComponent("examples/lenet-mnist")

    func lenet() throws -> Graph {
        try CaffeFormat().readNet(from: Self.example.appendingPathComponent("lenet.prototxt"))
    }

    @Test func importEqualsTheCaffemodel() throws {
        let net = try lenet()
        let imported = try HDF5WeightsFormat().readWeights(from: Self.fixture, for: net, nameMap: ["ip1": "dense_1", "ip2": "dense_2"])
        let (fromKeras, _) = try net.attachingWeights(imported)
        let (fromCaffe, _) = try net.attachingWeights(CaffeFormat().readWeights(from: Self.example.appendingPathComponent("lenet_iter_10000.caffemodel")))
        for (a, b) in zip(fromKeras.nodes, fromCaffe.nodes) {
            #expect(a.parameters.count == b.parameters.count)
            #expect(zip(a.parameters, b.parameters).allSatisfy { $0.isBitIdentical(to: $1) }, "layer \(a.name)")
        }
    }

    @Test func storedLayoutIsShownAsIs() throws {
        let stored = try HDF5WeightsFormat().readWeights(from: Self.fixture)
        #expect(stored.layers.map(\.name) == ["conv1", "pool1", "conv2", "pool2", "flatten", "dense_1", "dense_2"])
        #expect(stored.layer(named: "conv1")?.blobs.map(\.shape) == [[5, 5, 1, 20], [20]])
        #expect(stored.layer(named: "dense_1")?.blobs.first?.shape == [800, 500])
    }

    @Test func unmappedLayersAreNamed() throws {
        #expect { try HDF5WeightsFormat().readWeights(from: Self.fixture, for: lenet(), nameMap: [:]) } throws: { error in
            "\(error)".contains("layer 'ip1'") && "\(error)".contains("dense_1") && "\(error)".contains("--map")
        }
    }

    @Test func permuteAndFlattenOrder() {
        // A (2, 3) matrix transposed.
        let t = KerasWeights.permute(Tensor(shape: [2, 3], data: [1, 2, 3, 4, 5, 6]), order: [1, 0])
        #expect(t.shape == [3, 2] && t.data == [1, 4, 2, 5, 3, 6])
        // Rows in (h, w, c) order for C=2, H=1, W=2: (w0c0, w0c1, w1c0, w1c1) → (c0w0, c0w1, c1w0, c1w1).
        let rows = KerasWeights.channelsFirstRows(Tensor(shape: [4, 1], data: [10, 11, 20, 21]), channels: 2, height: 1, width: 2)
        #expect(rows.data == [10, 20, 11, 21])
    }
}
