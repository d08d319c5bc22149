import Foundation

/// A model or weights file format that bmq can read and/or write.
///
/// Formats are plug-ins: each module provides one conforming type, and BMQKit lists
/// them in its registry. Detection is by content, never by file name alone.
public protocol ModelFormat: Sendable {
    /// Short identifier used on the command line (`caffe`, `packed`, ...).
    var identifier: String { get }
    /// File name endings this format usually has, for messages and output-name checks.
    var fileExtensions: [String] { get }
    /// Whether the first bytes of a file look like this format's weights or model file.
    func recognizes(header: [UInt8]) -> Bool
}

/// A format whose files hold parameter blobs by layer name (topology comes from elsewhere).
public protocol WeightsReading: ModelFormat {
    /// The blobs as the file stores them.
    /// - Throws: `FormatError` naming the file.
    func readWeights(from url: URL) throws -> WeightSet

    /// The blobs for `graph`'s layers in the graph's own layouts, for formats whose layouts
    /// differ (Keras kernels); `nameMap` maps a graph layer to the file's name for it.
    /// The default reads the file as stored and applies the name map.
    /// - Throws: `FormatError` naming the file, or `GraphError` naming the layer.
    func readWeights(from url: URL, for graph: Graph, nameMap: [String: String]) throws -> WeightSet
}

extension WeightsReading {

    public func readWeights(from url: URL, for graph: Graph, nameMap: [String: String]) throws -> WeightSet {
        try readWeights(from: url).renamed(nameMap)
    }
}

/// A format that can store a graph with its parameters.
public protocol ModelWriting: ModelFormat {
    /// Writes atomically: a temporary file in the same folder, renamed over `url` when complete.
    /// - Throws: `FormatError` naming the file.
    func write(_ graph: Graph, to url: URL) throws
}

/// A problem with a file's contents, always naming the file.
public struct FormatError: Error, Equatable, CustomStringConvertible {
    public var file: String
    /// 1-based line for text formats, when known.
    public var line: Int?
    public var message: String

    public init(file: String, line: Int? = nil, _ message: String) {
        self.file = file
        self.line = line
        self.message = message
    }

    public var description: String {
        if let line { return "\(file):\(line): \(message)" }
        return "\(file): \(message)"
    }
}

/// File helpers shared by every format.
public enum FileIO {
    /// Reads a whole file, with an error that names it.
    public static func read(_ url: URL) throws -> Data {
        do {
            return try Data(contentsOf: url)
        } catch {
            let reason = FileManager.default.fileExists(atPath: url.path) ? "cannot be read" : "no such file"
            throw FormatError(file: url.path, reason)
        }
    }

    /// Writes `data` to a temporary file beside `url`, then renames it into place,
    /// so a failure never leaves a half-written output.
    public static func writeAtomically(_ data: Data, to url: URL) throws {
        let directory = url.deletingLastPathComponent()
        let temporary = directory.appendingPathComponent(".\(url.lastPathComponent).\(UUID().uuidString).tmp")
        do {
            try data.write(to: temporary)
        } catch {
            try? FileManager.default.removeItem(at: temporary)
            throw FormatError(file: url.path, "cannot be written: \(error.localizedDescription)")
        }
        do {
            try rename(temporary, to: url)
        } catch {
            try? FileManager.default.removeItem(at: temporary)
            throw error
        }
    }

    /// Moves a finished temporary file over `url` with rename(2), atomic within one file system.
    public static func rename(_ temporary: URL, to url: URL) throws {
        guard Foundation.rename(temporary.path, url.path) == 0 else {
            throw FormatError(file: url.path, "cannot be written: \(String(cString: strerror(errno)))")
        }
    }
}
