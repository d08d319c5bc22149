import Foundation

/// Locates the shared models, datasets and Caffe references the data-hungry tests use.
///
/// The folder is `$BMQ_SHARED`, or `../shared` beside the package. Without it such tests are
/// skipped with a message, except under CI (`CI=true`), where they run and fail on the missing files.
public enum SharedData {
    public static let packageRoot: URL = {
        var url = URL(fileURLWithPath: #filePath)
        for _ in 0..<3 { url.deleteLastPathComponent() }
        return url
    }()

    public static let root: URL = {
        if let path = ProcessInfo.processInfo.environment["BMQ_SHARED"], !path.isEmpty {
            return URL(fileURLWithPath: path)
        }
        return packageRoot.deletingLastPathComponent().appendingPathComponent("shared")
    }()

    public static var isCI: Bool { ProcessInfo.processInfo.environment["CI"] == "true" }

    /// True when the shared folder is present, or when running under CI (where absence must fail).
    public static var shouldRun: Bool {
        FileManager.default.fileExists(atPath: root.appendingPathComponent("models").path) || isCI
    }

    public static func url(_ relative: String) -> URL { root.appendingPathComponent(relative) }

    public static var meanFile: URL { url("data/cifar10/mean.binaryproto") }
    public static var mnistTest: URL { url("data/mnist/t10k-images-idx3-ubyte") }
    public static var cifar10Test: URL { url("data/cifar10/test_batch.bin") }

    /// A fresh temporary directory, removed by the caller.
    public static func temporaryDirectory() throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("bmq-tests-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }
}

/// A row of `reference/caffe-accuracy.md`: what real Caffe measured for one shared model.
public struct CaffeReference: Sendable, CustomStringConvertible {
    public var folder: String
    public var weights: String
    public var prototxt: String
    public var testSet: String
    public var correct: Int
    public var total: Int

    public var description: String { "\(folder)/\(weights)" }

    public var netURL: URL { SharedData.url("models/\(folder)/\(prototxt)") }
    public var weightsURL: URL { SharedData.url("models/\(folder)/\(weights)") }
    public var isMNIST: Bool { testSet.contains("MNIST") }
    public var dataURL: URL { isMNIST ? SharedData.mnistTest : SharedData.cifar10Test }
    /// CIFAR models subtract the shared mean image (the prototxts name the authors' own paths).
    public var meanFile: URL? { isMNIST ? nil : SharedData.meanFile }

    /// Parses the reference table; an empty list when the file is absent.
    public static func all() -> [CaffeReference] {
        guard let text = try? String(contentsOf: SharedData.url("reference/caffe-accuracy.md"), encoding: .utf8) else { return [] }
        return text.split(separator: "\n").compactMap { line -> CaffeReference? in
            let cells = line.split(separator: "|", omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespaces) }
            guard cells.count >= 9, cells[2].contains("caffemodel") else { return nil }
            let counts = cells[7].split(separator: "/").map { Int($0.trimmingCharacters(in: .whitespaces)) }
            guard counts.count == 2, let correct = counts[0], let total = counts[1] else { return nil }
            return CaffeReference(folder: cells[1], weights: cells[2], prototxt: cells[3], testSet: cells[4], correct: correct, total: total)
        }
    }
}
