import BMQKit
import CaffeFormat
import Datasets
import Foundation
import TensorGraph
import Testing
import TestSupport

/// `bmq eval` with no data reads what the prototxt's TEST data layer names, as `caffe test`
/// does: each shared test set is written the way Caffe's convert tools write it, where the
/// prototxt says, and the count must be real Caffe's.
@Suite(.enabled(if: SharedData.shouldRun, "shared data not found; set BMQ_SHARED"))
struct CaffeDataSourceAgreementTests {
    @Test(arguments: CaffeAgreementTests.references)
    func theNetsOwnDataSourceGivesCaffesCount(_ reference: CaffeReference) throws {
        let root = try SharedData.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: root) }
        // A working directory deep enough for sources like "../../cifar10_test_lmdb".
        let workingDirectory = root.appendingPathComponent("caffe/examples/run")
        try FileManager.default.createDirectory(at: workingDirectory, withIntermediateDirectories: true)
        let graph = try CaffeFormat().readTopology(from: reference.netURL)
        let source = try #require(graph.dataSource, "\(reference.prototxt) names no TEST data source")
        guard case .database(let backend) = source.kind else { Issue.record("expected a Data layer"); return }
        // Absolute sources (the authors' machines) are given as data instead.
        let relative = !source.source.hasPrefix("/")
        let database = relative ? FileIO.resolve(source.source, against: workingDirectory) : root.appendingPathComponent("test_db")
        try FileManager.default.createDirectory(at: database.deletingLastPathComponent(), withIntermediateDirectories: true)
        let images = try DatasetReader.read(reference.dataURL)
        try DatasetWriter.write(images, as: backend == .lmdb ? .lmdb : .leveldb, to: database)

        var model = ModelSource(net: reference.netURL, weights: reference.weightsURL, meanFile: reference.meanFile)
        model.workingDirectory = workingDirectory
        let report = try Evaluation.run(try EvaluationRequest(model: model, data: relative ? nil : database))
        #expect(report.dataset == (backend == .lmdb ? .lmdb : .leveldb))
        #expect(report.result.total == reference.total)
        #expect(report.result.correct == reference.correct, "Caffe: \(reference.correct)/\(reference.total)")
    }

    /// An ImageData layer reading a list of PNG files scores what the same images score from the
    /// binary set; so does an LMDB of PNG-encoded Datums.
    @Test func pngImagesScoreAsTheBinarySet() throws {
        let root = try SharedData.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: root) }
        let lenet = try #require(CaffeAgreementTests.references.first { $0.folder == "lenet-caffe" && $0.weights.hasSuffix(".caffemodel") })
        let images = try DatasetReader.read(lenet.dataURL)
        try DatasetWriter.write(images, as: .imageList, to: root.appendingPathComponent("mnist_png"))
        var prototxt = try String(contentsOf: lenet.netURL, encoding: .utf8)
        // The TEST Data layer becomes an ImageData layer over the PNG list (gray, as MNIST is).
        let test = try #require(prototxt.range(of: "phase: TEST"))
        let type = try #require(prototxt.range(of: "type: \"Data\"", options: .backwards, range: prototxt.startIndex..<test.lowerBound))
        prototxt.replaceSubrange(type, with: "type: \"ImageData\"")
        let dataParam = try #require(prototxt.range(of: #"data_param \{[^}]*mnist_test_lmdb[^}]*\}"#, options: .regularExpression))
        prototxt.replaceSubrange(dataParam, with: """
            image_data_param { source: "mnist_png/list.txt" root_folder: "mnist_png/" batch_size: 100 is_color: false }
            """)
        let net = root.appendingPathComponent("lenet_imagedata.prototxt")
        try Data(prototxt.utf8).write(to: net)
        var model = ModelSource(net: net, weights: lenet.weightsURL)
        model.workingDirectory = root
        let fromPNG = try Evaluation.run(try EvaluationRequest(model: model, data: nil))
        #expect(fromPNG.dataset == .imageList)
        #expect(fromPNG.result.correct == lenet.correct && fromPNG.result.total == lenet.total)

        let quick = try #require(CaffeAgreementTests.references.first { $0.folder == "cifar10-quick-everpeace" })
        let encoded = root.appendingPathComponent("cifar_png_lmdb")
        try DatasetWriter.write(try DatasetReader.read(quick.dataURL), as: .lmdb, to: encoded, encoding: .png)
        let fromEncoded = try Evaluation.run(try EvaluationRequest(
            model: ModelSource(net: quick.netURL, weights: quick.weightsURL, meanFile: quick.meanFile), data: encoded))
        #expect(fromEncoded.result.correct == quick.correct)
    }

    /// A search with no image files calibrates on the TRAIN source and tests on the TEST source.
    @Test func searchCalibratesOnTheTrainingSource() throws {
        let root = try SharedData.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: root) }
        let lenet = try #require(CaffeAgreementTests.references.first { $0.folder == "lenet-caffe" })
        try FileManager.default.createDirectory(at: root.appendingPathComponent("examples/mnist"), withIntermediateDirectories: true)
        let training = try DatasetReader.read(SharedData.url("data/mnist/train-images-idx3-ubyte")).prefix(300)
        try DatasetWriter.write(training, as: .lmdb, to: root.appendingPathComponent("examples/mnist/mnist_train_lmdb"))
        try DatasetWriter.write(try DatasetReader.read(lenet.dataURL).prefix(400), as: .lmdb,
                                to: root.appendingPathComponent("examples/mnist/mnist_test_lmdb"))
        var model = ModelSource(net: lenet.netURL, weights: lenet.weightsURL)
        model.workingDirectory = root
        let report = try SearchPipeline.run(try SearchRequest(model: model, calibration: nil, bits: BitWidths(all: 4), layers: .convolutions,
                                                             compare: false))
        #expect(report.calibration.images == 300 && report.calibration.source.hasSuffix("mnist_train_lmdb"))
        #expect(report.test?.images == 400 && report.test?.source.hasSuffix("mnist_test_lmdb") == true)
        // The same search given the files scores the same.
        let given = try SearchPipeline.run(try SearchRequest(
            model: model, calibration: root.appendingPathComponent("examples/mnist/mnist_train_lmdb"),
            test: root.appendingPathComponent("examples/mnist/mnist_test_lmdb"), bits: BitWidths(all: 4), layers: .convolutions, compare: false))
        #expect(given.plan.entries.map(\.weights) == report.plan.entries.map(\.weights))
        #expect(given.comparison.map(\.test?.correct) == report.comparison.map(\.test?.correct))
        // A seed draws 100 of the 300 at random, and says so.
        let seeded = try SearchPipeline.run(try SearchRequest(model: model, calibration: nil, calibrationLimit: 100, calibrationSeed: 7,
                                                             bits: BitWidths(all: 4), layers: .convolutions, compare: false))
        #expect(seeded.calibration.images == 100 && seeded.calibration.seed == 7)
        #expect(SearchReportText.lines(seeded)[0].contains("drawn with seed 7"))
    }

    @Test func aMissingSourceSaysWhereItLooked() throws {
        let root = try SharedData.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: root) }
        let lenet = try #require(CaffeAgreementTests.references.first { $0.folder == "lenet-caffe" })
        var model = ModelSource(net: lenet.netURL, weights: lenet.weightsURL)
        model.workingDirectory = root
        let error = try #require(throws: RequestError.self) { try Evaluation.run(try EvaluationRequest(model: model, data: nil)) }
        let text = error.message(naming: \.label)
        #expect(text.contains("layer 'mnist' reads 'examples/mnist/mnist_test_lmdb'"))
        #expect(text.contains(root.appendingPathComponent("examples/mnist/mnist_test_lmdb").path))
    }
}
