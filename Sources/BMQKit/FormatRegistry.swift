import CaffeFormat
import HDF5Format
import PackedFormat
import Foundation
import TensorGraph

/// The built-in format plug-ins, in one explicit list.
public enum FormatRegistry {
    public static let weightsReaders: [any WeightsReading] = [CaffeFormat(), HDF5WeightsFormat(), PackedFormat()]
    public static let writers: [any ModelWriting] = [CaffeFormat(), HDF5WeightsFormat(), PackedFormat()]

    /// The reader whose format recognizes the file's first bytes.
    /// - Throws: `FormatError` naming the file when no format does.
    public static func weightsReader(for url: URL) throws -> any WeightsReading {
        let header = try FileIO.read(url).prefix(64)
        guard !header.isEmpty else { throw FormatError(file: url.path, "the file is empty: expected a weights file") }
        if let reader = weightsReaders.first(where: { $0.recognizes(header: [UInt8](header)) }) { return reader }
        let known = weightsReaders.map(\.identifier).joined(separator: ", ")
        throw FormatError(file: url.path, "not a weights file bmq recognizes (known: \(known))")
    }

    /// The writer for an output path, chosen by its extension.
    public static func writer(for url: URL) throws -> any ModelWriting {
        let name = url.lastPathComponent.lowercased()
        if let writer = writers.first(where: { $0.fileExtensions.contains { name.hasSuffix("." + $0) } }) { return writer }
        let known = writers.flatMap(\.fileExtensions).map { "." + $0 }.joined(separator: ", ")
        throw FormatError(file: url.path, "cannot tell the output format from the name (known endings: \(known))")
    }
}
