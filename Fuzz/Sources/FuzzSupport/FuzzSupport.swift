import Foundation
import TensorGraph

/// Hands the fuzzer's bytes to a reader as a file, as the command-line tool reads them.
public enum FuzzInput {
    /// A file of this process in memory-backed /dev/shm (or the temporary folder), rewritten for each input.
    static let folder: URL = {
        let shared = URL(fileURLWithPath: "/dev/shm")
        let base = FileManager.default.fileExists(atPath: shared.path) ? shared : FileManager.default.temporaryDirectory
        let folder = base.appendingPathComponent("bmq-fuzz-\(getpid())")
        try? FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        return folder
    }()

    /// Writes the input to `name` in this process's folder and gives its URL to `body`; errors
    /// thrown by `body` are the expected outcome for malformed input and are ignored.
    public static func withFile(_ start: UnsafeRawPointer, _ count: Int, named name: String, _ body: (URL) throws -> Void) {
        let url = folder.appendingPathComponent(name)
        let data = Data(bytes: start, count: count)
        guard (try? data.write(to: url)) != nil else { return }
        do { try body(url) } catch {}
    }

    /// Shape inference over a graph a reader accepted: what `inspect --verify` and the engine run next.
    public static func checkShapes(_ graph: Graph) {
        _ = try? ShapeInference.infer(graph, checkParameters: true)
    }
}
