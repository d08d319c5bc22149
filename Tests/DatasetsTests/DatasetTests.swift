import Foundation
import TensorGraph
import Testing
import TestSupport
@testable import Datasets

@Suite struct DatasetTests {
    func temporary(_ name: String, _ bytes: [UInt8], in directory: URL) throws -> URL {
        let url = directory.appendingPathComponent(name)
        try Data(bytes).write(to: url)
        return url
    }

    func idxImages(count: Int, rows: Int, columns: Int) -> [UInt8] {
        var bytes: [UInt8] = [0, 0, 8, 3]
        for value in [count, rows, columns] { bytes += [0, 0, UInt8(value >> 8), UInt8(value & 0xFF)] }
        return bytes + (0..<(count * rows * columns)).map { UInt8($0 % 251) }
    }

    @Test func mnistImagesFindTheirLabelsAndAreScaled() throws {
        let directory = try SharedData.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let images = try temporary("t10k-images-idx3-ubyte", idxImages(count: 3, rows: 2, columns: 2), in: directory)
        _ = try temporary("t10k-labels-idx1-ubyte", [0, 0, 8, 1, 0, 0, 0, 3, 7, 2, 1], in: directory)
        let dataset = try DatasetReader.read(images)
        #expect(dataset.format == .mnist)
        #expect(dataset.labels == [7, 2, 1])
        #expect(dataset.imageShape == [1, 2, 2])
        let batch = dataset.batch(1..<3, preprocessing: Preprocessing(scale: 0.5))
        #expect(batch.shape == [2, 1, 2, 2])
        #expect(batch.data == [4, 5, 6, 7, 8, 9, 10, 11].map { Float($0) * 0.5 })
    }

    @Test func cifarRecordsAndLabelBytes() throws {
        let directory = try SharedData.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let image = [UInt8](repeating: 9, count: 3072)
        let ten = try temporary("c10.bin", [3] + image + [8] + image, in: directory)
        let hundred = try temporary("c100.bin", [11, 42] + image + [19, 99] + image + [0, 5] + image, in: directory)
        let a = try DatasetReader.read(ten)
        #expect(a.format == .cifar10 && a.labels == [3, 8] && a.imageShape == [3, 32, 32])
        let b = try DatasetReader.read(hundred)
        #expect(b.format == .cifar100 && b.labels == [42, 99, 5] && b.classCount == 100)
        // Per-pixel mean, then scale, as Caffe's data transformer does.
        let mean = Tensor(shape: [3, 32, 32], data: [Float](repeating: 1.5, count: 3072))
        #expect(a.batch(0..<1, preprocessing: Preprocessing(scale: 2, meanImage: mean)).data.allSatisfy { $0 == 15 })
    }

    @Test func gzipFilesAreInflated() throws {
        let directory = try SharedData.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let images = try temporary("train-images-idx3-ubyte", idxImages(count: 2, rows: 3, columns: 3), in: directory)
        _ = try temporary("train-labels-idx1-ubyte", [0, 0, 8, 1, 0, 0, 0, 2, 4, 5], in: directory)
        let gzip = Process()
        gzip.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        gzip.arguments = ["gzip", "-k", images.path]
        try gzip.run()
        gzip.waitUntilExit()
        try #require(gzip.terminationStatus == 0)
        let compressed = try DatasetReader.read(URL(fileURLWithPath: images.path + ".gz"))
        let raw = try DatasetReader.read(images)
        #expect(compressed.pixels == raw.pixels && compressed.labels == [4, 5])

        var truncated = try Data(contentsOf: URL(fileURLWithPath: images.path + ".gz"))
        truncated = truncated.prefix(truncated.count - 6)
        let cut = directory.appendingPathComponent("cut-images-idx3-ubyte.gz")
        try truncated.write(to: cut)
        #expect(throws: FormatError.self) { try DatasetReader.read(cut) }
    }

    @Test func badFilesAreRejectedNamingTheFile() throws {
        let directory = try SharedData.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let odd = try temporary("odd.bin", [UInt8](repeating: 1, count: 3075), in: directory)
        #expect { try DatasetReader.read(odd) } throws: { "\($0)".contains("odd.bin") }
        let short = try temporary("short-images-idx3-ubyte", Array(idxImages(count: 3, rows: 2, columns: 2).dropLast()), in: directory)
        #expect { try DatasetReader.read(short) } throws: { "\($0)".contains("IDX header") }
        let lonely = try temporary("lonely-images-idx3-ubyte", idxImages(count: 1, rows: 2, columns: 2), in: directory)
        #expect { try DatasetReader.read(lonely) } throws: { "\($0)".contains("labels") }
        #expect { try DatasetReader.read(directory.appendingPathComponent("missing.bin")) } throws: { "\($0)".contains("no such file") }
        let badLabel = try temporary("bad.bin", [10] + [UInt8](repeating: 0, count: 3072), in: directory)
        #expect { try DatasetReader.read(badLabel, format: .cifar10) } throws: { "\($0)".contains("label 10") }
    }
}

@Suite(.enabled(if: SharedData.shouldRun, "shared data not found; set BMQ_SHARED"))
struct SharedDatasetTests {
    @Test func sharedTestSetsAreDetected() throws {
        let mnist = try DatasetReader.read(SharedData.mnistTest)
        #expect(mnist.format == .mnist && mnist.count == 10_000 && mnist.imageShape == [1, 28, 28])
        #expect(Array(mnist.labels.prefix(2)) == [7, 2])
        let cifar = try DatasetReader.read(SharedData.cifar10Test)
        #expect(cifar.format == .cifar10 && cifar.count == 10_000)
        #expect(Array(cifar.labels.prefix(2)) == [3, 8])
        let fragment = try DatasetReader.read(SharedData.url("data/cifar100/test_first20.bin"))
        #expect(fragment.format == .cifar100 && fragment.count == 20)
    }
}
