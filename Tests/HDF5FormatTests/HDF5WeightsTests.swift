import CaffeFormat
import Foundation
import TensorGraph
import Testing
import TestSupport
@testable import HDF5Format

@Suite struct CaffeHDF5Tests {
    let format = HDF5WeightsFormat()

    /// A small net definition with one convolution and one inner product.
    static let prototxt = """
        input: "data"
        input_shape { dim: 1 dim: 1 dim: 4 dim: 4 }
        layer { name: "conv" type: "Convolution" bottom: "data" top: "conv" convolution_param { num_output: 2 kernel_size: 3 } }
        layer { name: "relu" type: "ReLU" bottom: "conv" top: "conv" }
        layer { name: "ip" type: "InnerProduct" bottom: "conv" top: "ip" inner_product_param { num_output: 3 } }
        """

    func net() throws -> Graph { try CaffeFormat().readNet(text: Self.prototxt) }

    /// Writes a Caffe-layout file whose datasets are given per layer as (dims, values, storage).
    func writeFile(_ url: URL, _ layers: [(String, [([Int], HDF5Group.StorageType)])]) throws {
        let file = try HDF5File(creating: url.path)
        let data = try file.root.createGroup("data")
        for (name, blobs) in layers {
            let group = try data.createGroup(name)
            for (index, (dims, storage)) in blobs.enumerated() {
                let count = dims.reduce(1, *)
                try group.writeFloats(String(index), dims: dims, values: (0..<count).map { Float($0) * 0.25 }, storage: storage)
            }
        }
        try file.flush()
    }

    static let goodLayers: [(String, [([Int], HDF5Group.StorageType)])] = [
        ("conv", [([2, 1, 3, 3], .float32), ([2], .float32)]),
        ("relu", []),
        ("ip", [([3, 8], .float32), ([3], .float32)]),
    ]

    @Test func writeThenReadIsIdentical() throws {
        let directory = try SharedData.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let source = directory.appendingPathComponent("a.h5")
        try writeFile(source, Self.goodLayers)
        let (graph, _) = try net().attachingWeights(format.readWeights(from: source))
        let copy = directory.appendingPathComponent("b.caffemodel.h5")
        try format.write(graph, to: copy)
        let (reread, _) = try net().attachingWeights(format.readWeights(from: copy))
        #expect(reread == graph)
        // Layers without parameters still get their (empty) group, as Caffe writes them.
        #expect(try format.readWeights(from: copy).layers.map(\.name).sorted() == ["conv", "ip", "relu"])
    }

    @Test func float64IsConvertedAndIntegersRefused() throws {
        let directory = try SharedData.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let doubles = directory.appendingPathComponent("f64.h5")
        try writeFile(doubles, [("conv", [([2, 1, 3, 3], .float64), ([2], .float64)]), ("ip", [([3, 8], .float32), ([3], .float32)])])
        let (graph, _) = try net().attachingWeights(format.readWeights(from: doubles))
        #expect(graph.node(named: "conv")?.parameters[0].data[4] == 1.0)
        let integers = directory.appendingPathComponent("i32.h5")
        try writeFile(integers, [("conv", [([2, 1, 3, 3], .int32), ([2], .float32)])])
        #expect { try format.readWeights(from: integers) } throws: { error in
            "\(error)".contains("/data/conv/0") && "\(error)".contains("integers") && "\(error)".contains("i32.h5")
        }
    }

    @Test func missingExtraAndMisshapenLayers() throws {
        let directory = try SharedData.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let missing = directory.appendingPathComponent("missing.h5")
        try writeFile(missing, [("conv", [([2, 1, 3, 3], .float32), ([2], .float32)])])
        #expect { try net().attachingWeights(format.readWeights(from: missing)) } throws: { "\($0)".contains("layer 'ip'") }

        let extra = directory.appendingPathComponent("extra.h5")
        try writeFile(extra, Self.goodLayers + [("old_fc", [([4, 4], .float32)])])
        let (_, report) = try net().attachingWeights(format.readWeights(from: extra))
        #expect(report.unusedLayers == ["old_fc"])

        let wrong = directory.appendingPathComponent("wrong.h5")
        try writeFile(wrong, [("conv", [([2, 1, 5, 5], .float32), ([2], .float32)]), ("ip", [([3, 8], .float32), ([3], .float32)])])
        #expect { try net().attachingWeights(format.readWeights(from: wrong)) } throws: {
            "\($0)" == "layer 'conv': weights has shape 2x1x5x5, the net needs 2x1x3x3"
        }
    }

    @Test func brokenFilesGiveCleanErrors() throws {
        let directory = try SharedData.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let text = directory.appendingPathComponent("text.h5")
        try Data("not hdf5 at all".utf8).write(to: text)
        #expect { try format.readWeights(from: text) } throws: { "\($0)".contains("not an HDF5 file") }
        let empty = directory.appendingPathComponent("empty.h5")
        try Data().write(to: empty)
        #expect { try format.readWeights(from: empty) } throws: { "\($0)".contains("empty") }

        let good = directory.appendingPathComponent("good.h5")
        try writeFile(good, Self.goodLayers)
        let bytes = try Data(contentsOf: good)
        let cut = directory.appendingPathComponent("cut.h5")
        // Every truncation either fails with a message naming the file or reads blobs that then fail to attach.
        for length in stride(from: 8, to: bytes.count, by: max(1, bytes.count / 97)) {
            try bytes.prefix(length).write(to: cut)
            do {
                _ = try net().attachingWeights(format.readWeights(from: cut))
                Issue.record("a \(length)-byte prefix of \(bytes.count) was accepted")
            } catch let error as FormatError {
                #expect(error.file == cut.path)
                #expect(!error.message.contains("HDF5-DIAG"))
            } catch is GraphError {}
        }
    }
}

@Suite(.enabled(if: SharedData.shouldRun, "shared data not found; set BMQ_SHARED"))
struct SharedHDF5Tests {
    /// The lenet-caffe snapshot holds the same weights as its binary caffemodel, bit for bit.
    @Test func snapshotEqualsTheCaffemodel() throws {
        let folder = SharedData.url("models/lenet-caffe")
        let fromH5 = try HDF5WeightsFormat().readWeights(from: folder.appendingPathComponent("lenet_iter_10000.caffemodel.h5"))
        let fromBinary = try CaffeFormat().readWeights(from: folder.appendingPathComponent("lenet_iter_10000.caffemodel"))
        for layer in fromH5.layers where !layer.blobs.isEmpty {
            let other = try #require(fromBinary.layer(named: layer.name))
            #expect(zip(layer.blobs, other.blobs).allSatisfy { $0.isBitIdentical(to: $1) }, "layer \(layer.name)")
        }
    }

    /// caffemodel → h5 → caffemodel → h5 keeps every weight bit for bit.
    @Test func caffemodelAndH5ConvertBothWays() throws {
        let folder = SharedData.url("models/cifar10-quick-everpeace")
        let net = try CaffeFormat().readNet(from: folder.appendingPathComponent("cifar10_quick.prototxt"))
        let (original, _) = try net.attachingWeights(CaffeFormat().readWeights(from: folder.appendingPathComponent("cifar10_quick_iter_5000.caffemodel")))
        let directory = try SharedData.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let h5a = directory.appendingPathComponent("a.caffemodel.h5"), model = directory.appendingPathComponent("b.caffemodel")
        let h5b = directory.appendingPathComponent("c.caffemodel.h5")
        try HDF5WeightsFormat().write(original, to: h5a)
        let (first, _) = try net.attachingWeights(HDF5WeightsFormat().readWeights(from: h5a))
        try CaffeFormat().write(first, to: model)
        let (second, _) = try net.attachingWeights(CaffeFormat().readWeights(from: model))
        try HDF5WeightsFormat().write(second, to: h5b)
        let (third, _) = try net.attachingWeights(HDF5WeightsFormat().readWeights(from: h5b))
        for graph in [first, second, third] {
            for (a, b) in zip(original.nodes, graph.nodes) {
                #expect(zip(a.parameters, b.parameters).allSatisfy { $0.isBitIdentical(to: $1) }, "layer \(a.name)")
            }
        }
    }
}
