import Foundation
import SwiftProtobuf
import TensorGraph

/// Reads the test images a Caffe net definition names: the Datum records of a Data layer's
/// LMDB or LevelDB, or the image files of an ImageData layer's list, transformed as Caffe's
/// TEST phase does (centre crop; the mean and scale stay with the model's preprocessing).
public enum CaffeDataSources {
    /// The images `description` names (the first `limit`, or all), with `source` (and an image
    /// list's root folder) resolved against `workingDirectory` as Caffe resolves them against its own.
    /// - Throws: `FormatError` naming the database, list line or image at fault.
    public static func read(_ description: DataSourceDescription, workingDirectory: URL, limit: Int? = nil) throws -> Dataset {
        let url = location(of: description, workingDirectory: workingDirectory)
        let dataset: Dataset
        switch description.kind {
        case .database(let backend):
            let mode: ImageColorMode = description.forceColor ? .color : description.forceGray ? .gray : .asStored
            dataset = try readDatabase(url, backend: backend, encodedImages: mode, limit: limit)
        case .imageList(let rootFolder, let newHeight, let newWidth, let isColor):
            let size = newHeight > 0 && newWidth > 0 ? (newHeight, newWidth) : nil
            dataset = try readImageList(url, rootFolder: rootFolder, base: workingDirectory, resize: size, mode: isColor ? .color : .gray,
                                        limit: limit)
        }
        return description.cropSize > 0 ? try dataset.centreCropped(to: description.cropSize) : dataset
    }

    /// The database or list `description` names, as Caffe opens it from `workingDirectory`.
    public static func location(of description: DataSourceDescription, workingDirectory: URL) -> URL {
        FileIO.resolve(description.source, against: workingDirectory)
    }

    /// The Datums in the database at `url` in key order, the first `limit` or all. Encoded
    /// records are decoded as `encodedImages` says.
    /// - Throws: `FormatError` naming the database and the record at fault.
    public static func readDatabase(_ url: URL, backend: DataSourceDescription.Backend, encodedImages: ImageColorMode = .asStored,
                                    limit: Int? = nil) throws -> Dataset {
        guard FileManager.default.fileExists(atPath: url.path) else {
            throw FormatError(file: url.path, "no such \(backend == .lmdb ? "LMDB" : "LevelDB") folder")
        }
        var images = ImageCollector(file: url.path)
        let each: (UnsafeRawBufferPointer) throws -> Void = { record in
            let index = images.labels.count
            let (shape, values, label) = try decodeDatum(record, record: index, file: url.path, encodedImages: encodedImages)
            try images.add(shape, values, label: label, at: "record \(index)")
        }
        switch backend {
        case .lmdb: try KeyValueStore.readLMDB(url, limit: limit, each)
        case .leveldb: try KeyValueStore.readLevelDB(url, limit: limit, each)
        }
        return try images.dataset(format: backend == .lmdb ? .lmdb : .leveldb)
    }

    /// One serialized Datum as an image shape, its values and its label; an encoded record's
    /// image is decoded as `encodedImages` says.
    /// - Throws: `FormatError` naming `file` and the record.
    public static func decodeDatum(_ bytes: UnsafeRawBufferPointer, record index: Int, file: String,
                                   encodedImages: ImageColorMode) throws -> (Shape, PixelValues, Int) {
        let datum: Caffe_Datum
        do {
            datum = try Caffe_Datum(serializedBytes: Data(bytes))
        } catch {
            throw FormatError(file: file, "record \(index) is not a Caffe Datum (\(error))")
        }
        if datum.encoded {
            let image = try datum.data.withUnsafeBytes { try ImageFiles.decode($0, mode: encodedImages, file: "\(file): record \(index)") }
            return (image.shape, .bytes(image.pixels), Int(datum.label))
        }
        let shape: Shape = [Int(datum.channels), Int(datum.height), Int(datum.width)]
        guard shape.dims.allSatisfy({ $0 > 0 && $0 <= 1 << 16 }) else {
            throw FormatError(file: file, "record \(index) has an invalid image shape \(shape)")
        }
        let values: PixelValues = datum.floatData.isEmpty ? .bytes([UInt8](datum.data)) : .floats(datum.floatData)
        guard values.count == shape.count else {
            throw FormatError(file: file, "record \(index) holds \(values.count) values for a \(shape) image")
        }
        return (shape, values, Int(datum.label))
    }

    /// The images an ImageData list names (`path label` per line; the path is everything before
    /// the last space, appended to `rootFolder` as a string, as Caffe does), resized to `resize`
    /// (height, width) when given.
    /// - Parameters:
    ///   - url: the list file.
    ///   - rootFolder: the prefix of every listed path.
    ///   - base: where relative paths start: Caffe's working directory for a list a net names;
    ///     the list's own folder (the default) for a list given on its own.
    ///   - resize: the height and width every image is resized to, if any.
    ///   - mode: colour (blue, green, red) or gray.
    ///   - limit: read only the first `limit` images.
    /// - Throws: `FormatError` naming the list's line, or the image, at fault.
    public static func readImageList(_ url: URL, rootFolder: String = "", base: URL? = nil, resize: (Int, Int)? = nil,
                                     mode: ImageColorMode = .color, limit: Int? = nil) throws -> Dataset {
        let entries = try imageListEntries(url).prefix(limit ?? Int.max)
        var images = ImageCollector(file: url.path)
        for entry in entries {
            let imageURL = FileIO.resolve(rootFolder + entry.path, against: base ?? url.deletingLastPathComponent())
            let place = "line \(entry.line) ('\(entry.path)')"
            guard FileManager.default.fileExists(atPath: imageURL.path) else {
                throw FormatError(file: url.path, "\(place): no image at \(imageURL.path)")
            }
            var image = try ImageFiles.read(imageURL, mode: mode)
            if let (height, width) = resize { image = ImageFiles.resized(image, height: height, width: width) }
            try images.add(image.shape, .bytes(image.pixels), label: entry.label, at: place)
        }
        return try images.dataset(format: .imageList)
    }

    /// One line of an image list.
    struct ImageListEntry {
        var line: Int
        var path: String
        var label: Int
    }

    /// The list's non-blank lines as paths and labels.
    static func imageListEntries(_ url: URL) throws -> [ImageListEntry] {
        let data = try FileIO.read(url)
        guard let text = String(data: data, encoding: .utf8) else {
            throw FormatError(file: url.path, "is not a text file of image paths and labels")
        }
        var entries: [ImageListEntry] = []
        for (number, rawLine) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = rawLine.trimmingCharacters(in: .whitespacesAndNewlines)
            if line.isEmpty { continue }
            guard let (path, label) = pathAndLabel(line), label >= 0 else {
                throw FormatError(file: url.path, "line \(number + 1): expected 'image-path label' (a label of 0 or more after the last space), found '\(line.prefix(80))'")
            }
            entries.append(ImageListEntry(line: number + 1, path: path, label: label))
        }
        guard !entries.isEmpty else { throw FormatError(file: url.path, "lists no images") }
        return entries
    }

    /// Whether `data` reads as an image list: text whose first non-blank line ends in a label.
    static func looksLikeImageList(_ data: Data) -> Bool {
        guard let text = String(data: data.prefix(4096), encoding: .utf8),
              let first = text.split(whereSeparator: \.isNewline).first(where: { !$0.allSatisfy(\.isWhitespace) }) else { return false }
        return pathAndLabel(first.trimmingCharacters(in: .whitespaces)) != nil
    }

    /// A list line split as Caffe splits it: the path before the last space (or tab), the label after.
    static func pathAndLabel(_ line: String) -> (String, Int)? {
        guard let space = line.lastIndex(where: { $0 == " " || $0 == "\t" }), let label = Int(line[line.index(after: space)...]) else { return nil }
        return (line[..<space].trimmingCharacters(in: .whitespaces), label)
    }
}

/// Gathers images of one shape into a dataset.
struct ImageCollector {
    let file: String
    var shape: Shape?
    var bytes: [UInt8] = []
    var floats: [Float] = []
    var labels: [Int] = []

    init(file: String) { self.file = file }

    mutating func add(_ imageShape: Shape, _ values: PixelValues, label: Int, at place: String) throws {
        if let shape, shape != imageShape {
            throw FormatError(file: file, "\(place) is a \(imageShape) image, but the first is \(shape); every image must have the same size")
        }
        guard label >= 0 else { throw FormatError(file: file, "\(place) has the negative label \(label)") }
        switch values {
        case .bytes(let values):
            guard floats.isEmpty else { throw FormatError(file: file, "\(place) holds bytes, earlier records floats") }
            bytes += values
        case .floats(let values):
            guard bytes.isEmpty else { throw FormatError(file: file, "\(place) holds floats, earlier records bytes") }
            floats += values
        }
        shape = imageShape
        labels.append(label)
    }

    func dataset(format: DatasetFormat) throws -> Dataset {
        guard let shape, let largest = labels.max() else { throw FormatError(file: file, "holds no images") }
        return Dataset(format: format, imageShape: shape, pixels: floats.isEmpty ? .bytes(bytes) : .floats(floats), labels: labels,
                       classCount: max(2, largest + 1), source: file)
    }
}
