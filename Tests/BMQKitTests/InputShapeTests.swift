@testable import BMQKit
import CaffeFormat
import Datasets
import Foundation
import TensorGraph
import Testing
import TestSupport

/// A train_test net's image shape without --input-shape: from its data source, else from the weights.
@Suite struct InputShapeTests {
    /// conv 3x3 (no padding, 2 outputs) then an inner product over 2x3x3 values: only 1x5x5 images fit.
    static func weights(in folder: URL, ipInputs: Int = 18) throws -> URL {
        let conv = Node(name: "conv", op: .convolution(ConvolutionAttributes(numOutput: 2, kernel: Size2(square: 3))),
                        inputs: ["data"], outputs: ["conv"], parameters: [Tensor(shape: [2, 1, 3, 3], data: .init(repeating: 0.1, count: 18)), Tensor(zeros: [2])])
        let ip = Node(name: "ip", op: .innerProduct(InnerProductAttributes(numOutput: 3)), inputs: ["conv"], outputs: ["ip"],
                      parameters: [Tensor(shape: [3, ipInputs], data: .init(repeating: 0.01, count: 3 * ipInputs)), Tensor(zeros: [3])])
        let graph = Graph(name: "tiny", inputs: [GraphInput(name: "data", shape: [1, 1, 5, 5])], nodes: [conv, ip], output: "ip")
        let url = folder.appendingPathComponent("tiny.caffemodel")
        try CaffeFormat().write(graph, to: url)
        return url
    }

    static func net(in folder: URL, crop: Int = 0, pooling: String = "") throws -> URL {
        let url = folder.appendingPathComponent("tiny_train_test.prototxt")
        try Data("""
            layer { name: "images" type: "Data" top: "data" top: "label" include { phase: TEST }
                    transform_param { crop_size: \(crop) } data_param { source: "tiny_lmdb" backend: LMDB batch_size: 4 } }
            layer { name: "conv" type: "Convolution" bottom: "data" top: "conv" convolution_param { num_output: 2 kernel_size: 3 } }
            \(pooling)
            layer { name: "ip" type: "InnerProduct" bottom: "conv" top: "ip" inner_product_param { num_output: 3 } }
            """.utf8).write(to: url)
        return url
    }

    @Test func theWeightsPinDownTheOnlySizeThatFits() throws {
        let folder = try SharedData.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: folder) }
        var source = ModelSource(net: try Self.net(in: folder), weights: try Self.weights(in: folder))
        source.workingDirectory = folder
        #expect(try ModelLoader.load(source).graph.inputs[0].shape == [4, 1, 5, 5])
    }

    @Test func theDataSourcesFirstImageGivesTheShape() throws {
        let folder = try SharedData.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: folder) }
        // 1x7x7 images cropped to 5: the shape comes from the source, cut as the layer cuts.
        let images = Dataset(format: .mnist, imageShape: [1, 7, 7], pixels: .bytes([UInt8](repeating: 3, count: 98)), labels: [0, 1],
                             classCount: 3, source: "memory")
        try DatasetWriter.write(images, as: .lmdb, to: folder.appendingPathComponent("tiny_lmdb"))
        var source = ModelSource(net: try Self.net(in: folder, crop: 5), weights: try Self.weights(in: folder))
        source.workingDirectory = folder
        #expect(try ModelLoader.load(source).graph.inputs[0].shape == [4, 1, 5, 5])
        let report = try Evaluation.run(try EvaluationRequest(model: source, data: nil))
        #expect(report.result.total == 2 && report.dataset == .lmdb)
    }

    /// With crop_size, the mean image (the full 7x7 images' mean) is subtracted at the crop's
    /// position, as Caffe's transformer indexes it.
    @Test func theMeanImageIsCutWhereTheImagesAre() throws {
        let folder = try SharedData.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: folder) }
        // A 1x1x7x7 BlobProto (num 1, channels 2, height 3, width 4, packed data 5) holding 0...48.
        func varint(_ value: Int) -> [UInt8] { value < 0x80 ? [UInt8(value)] : [UInt8(value & 0x7F) | 0x80, UInt8(value >> 7)] }
        let floats = (0..<49).flatMap { withUnsafeBytes(of: Float($0).bitPattern.littleEndian, Array.init) }
        let blob: [UInt8] = [0x08, 1, 0x10, 1, 0x18, 7, 0x20, 7, 0x2A] + varint(floats.count) + floats
        try Data(blob).write(to: folder.appendingPathComponent("mean.binaryproto"))
        let net = try Self.net(in: folder, crop: 5)
        var text = try String(contentsOf: net, encoding: .utf8)
        text = text.replacingOccurrences(of: "crop_size: 5 }", with: "crop_size: 5 mean_file: \"mean.binaryproto\" }")
        try Data(text.utf8).write(to: net)
        var source = ModelSource(net: net, weights: try Self.weights(in: folder))
        source.workingDirectory = folder
        let mean = try #require(try ModelLoader.load(source).graph.preprocessing?.meanImage)
        // Rows and columns 1...5 of 0...6: offset (7 - 5) / 2 = 1.
        #expect(mean.shape == [1, 5, 5])
        #expect(mean.data == (1...5).flatMap { row in (1...5).map { Float(row * 7 + $0) } })
    }

    @Test func whenManySizesFitTheErrorNamesTheOption() throws {
        let folder = try SharedData.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: folder) }
        // A global pooling layer makes every size from 3 up fit; the graph the weights came from had 1x5x5.
        let pooling = #"layer { name: "pool" type: "Pooling" bottom: "conv" top: "conv" pooling_param { pool: AVE global_pooling: true } }"#
        var source = ModelSource(net: try Self.net(in: folder, pooling: pooling), weights: try Self.weights(in: folder, ipInputs: 2))
        source.workingDirectory = folder
        let error = try #require(throws: RequestError.self) { try ModelLoader.load(source) }
        #expect(error.field == .inputShape)
        #expect(error.message(naming: \.label).contains("the weights fit many sizes"))
        // No size fits weights made for another net: the same error, with no sizes offered.
        source.weights = try Self.weights(in: folder, ipInputs: 7)
        let none = try #require(throws: RequestError.self) { try ModelLoader.load(source) }
        #expect(none.field == .inputShape && !none.message(naming: \.label).contains("fit"))
    }

    /// Calibration images from the TRAIN phase's source are cut as the TEST phase cuts: the
    /// quantized net is the TEST one, and TRAIN's crop is a random augmentation.
    @Test func calibrationImagesAreCutAsTheTestPhaseCuts() throws {
        let folder = try SharedData.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: folder) }
        let images = Dataset(format: .mnist, imageShape: [1, 7, 7], pixels: .bytes([UInt8](repeating: 3, count: 98)), labels: [0, 1],
                             classCount: 3, source: "memory")
        try DatasetWriter.write(images, as: .lmdb, to: folder.appendingPathComponent("tiny_lmdb"))
        let net = try Self.net(in: folder, crop: 5)
        let train = """
            layer { name: "images" type: "Data" top: "data" top: "label" include { phase: TRAIN }
                    transform_param { crop_size: 3 mirror: true } data_param { source: "tiny_lmdb" backend: LMDB batch_size: 4 } }

            """
        try Data((train + String(contentsOf: net, encoding: .utf8)).utf8).write(to: net)
        var source = ModelSource(net: net, weights: try Self.weights(in: folder))
        source.workingDirectory = folder
        let topology = try ModelLoader.topology(of: source)
        #expect(topology?.trainingDataSource?.cropSize == 3)
        let calibration = try Evaluation.images(nil, format: nil, formatField: .calibrationFormat, model: source, topology: topology,
                                                limit: nil, training: true)
        #expect(calibration.imageShape == [1, 5, 5] && calibration.count == 2)
    }
}
