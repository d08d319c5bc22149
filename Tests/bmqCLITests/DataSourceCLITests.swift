import Foundation
import Testing
import TestSupport

/// Caffe's data sources from the command line: made by `bmq dataset`, read by `bmq eval` from
/// where the prototxt says, relative to the working directory as `caffe test` reads them.
@Suite(.enabled(if: SharedData.shouldRun, "needs ../shared")) struct DataSourceCLITests {
    static let lenet = SharedData.url("models/lenet-caffe")

    @Test func evalWithNoDataReadsThePrototxtsSource() throws {
        let folder = try SharedData.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: folder) }
        let net = Self.lenet.appendingPathComponent("lenet_train_test.prototxt").path
        let weights = Self.lenet.appendingPathComponent("lenet_iter_10000.caffemodel").path
        // Before the source exists: where it looked, and the way out.
        let missing = try CLI.run(["eval", "--net", net, "--weights", weights], in: folder)
        #expect(missing.status == 64 && missing.stderr.contains("\(folder.path)/examples/mnist/mnist_test_lmdb") && missing.stderr.contains("--data"),
                "\(missing.stderr)")
        let made = try CLI.run(["dataset", SharedData.mnistTest.path, "--to", "lmdb", "-o", "examples/mnist/mnist_test_lmdb", "--limit", "500"],
                               in: folder)
        #expect(made.status != 0 && made.stderr.contains("does not exist"), "the parent folder is missing: \(made.stderr)")
        try FileManager.default.createDirectory(at: folder.appendingPathComponent("examples/mnist"), withIntermediateDirectories: true)
        let written = try CLI.run(["dataset", SharedData.mnistTest.path, "--to", "lmdb", "-o", "examples/mnist/mnist_test_lmdb", "--limit", "500"],
                                  in: folder)
        #expect(written.status == 0 && written.stdout.contains("wrote 500 images"), "\(written.stderr)")
        let again = try CLI.run(["dataset", SharedData.mnistTest.path, "--to", "lmdb", "-o", "examples/mnist/mnist_test_lmdb"], in: folder)
        #expect(again.status != 0 && again.stderr.contains("exists already"))
        let eval = try CLI.run(["eval", "--net", net, "--weights", weights], in: folder)
        #expect(eval.status == 0 && eval.stdout.contains("/ 500") && eval.stdout.contains("lmdb"), "\(eval.stderr)")
        // The same images given as --data, and quantize finding the image shape from the source.
        let given = try CLI.run(["eval", "--net", net, "--weights", weights, "--data", "examples/mnist/mnist_test_lmdb"], in: folder)
        #expect(given.stdout.split(separator: "\n").first == eval.stdout.split(separator: "\n").first)
        let quantized = try CLI.run(["quantize", "--net", net, "--weights", weights, "--pattern", "5_2_0_1_0", "-o", "lenet.bmq"], in: folder)
        #expect(quantized.status == 0, "\(quantized.stderr)")
        let inspect = try CLI.run(["inspect", net], in: folder)
        #expect(inspect.stdout.contains("data 100x1x28x28"), "\(inspect.stdout)")
    }

    @Test func datasetRefusesWhatItCannotWrite() throws {
        let folder = try SharedData.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: folder) }
        let wrongFormat = try CLI.run(["dataset", SharedData.mnistTest.path, "--to", "mnist", "-o", "out"], in: folder)
        #expect(wrongFormat.status == 64 && wrongFormat.stderr.contains("--to mnist"), "\(wrongFormat.stderr)")
        let badEncoding = try CLI.run(["dataset", SharedData.mnistTest.path, "--to", "lmdb", "--encoding", "gif", "-o", "out"], in: folder)
        #expect(badEncoding.status == 64)
        let notData = try CLI.run(["dataset", Self.lenet.appendingPathComponent("lenet.prototxt").path, "--to", "lmdb", "-o", "out"], in: folder)
        #expect(notData.status == 64 && notData.stderr.contains("--data-format"), "\(notData.stderr)")
        #expect(try FileManager.default.contentsOfDirectory(atPath: folder.path).isEmpty)
    }

    /// An interrupted command leaves none of its half-written output behind.
    @Test func anInterruptedWriteLeavesNothing() throws {
        let folder = try SharedData.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: folder) }
        let process = Process()
        process.executableURL = CLI.binary
        process.arguments = ["dataset", SharedData.cifar10Test.path, "--to", "image-list", "-o", folder.appendingPathComponent("pngs").path]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        // Wait until the PNGs are being written, then interrupt.
        let deadline = Date().addingTimeInterval(20)
        while process.isRunning, Date() < deadline,
              (try FileManager.default.contentsOfDirectory(atPath: folder.path)).allSatisfy({ !$0.hasPrefix(".pngs.") }) {
            usleep(20_000)
        }
        usleep(200_000)
        let interrupted = process.isRunning
        process.terminate()
        process.waitUntilExit()
        #expect(interrupted, "the conversion ended before it could be interrupted")
        #expect(process.terminationStatus == 128 + SIGTERM)
        #expect(try FileManager.default.contentsOfDirectory(atPath: folder.path).isEmpty)
    }
}
