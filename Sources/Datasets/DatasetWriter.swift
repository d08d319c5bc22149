import Foundation
import SwiftProtobuf
import TensorGraph

/// Writes labelled images the way Caffe's convert tools do, for Caffe's Data and ImageData layers.
public enum DatasetWriter {
    /// How a database stores each image.
    public enum Encoding: String, Sendable, CaseIterable {
        /// The values themselves (bytes in `data`, floats in `float_data`), as convert_mnist_data
        /// and convert_cifar_data store them.
        case raw
        /// A PNG file's bytes with `encoded` set, as convert_imageset --encoded stores them.
        case png
    }

    /// Writes `dataset` to a new `url`: an LMDB or LevelDB folder of Datum records keyed by
    /// their index (`%08d`), or (`imageList`) a folder of PNG files with a `list.txt` of
    /// `file label` lines. Nothing is left at `url` unless the whole dataset was written.
    /// - Parameters:
    ///   - dataset: the images; a three-channel image's channels are taken as blue, green, red
    ///     when encoded as PNG, so that Caffe reads back the same values.
    ///   - format: `.lmdb`, `.leveldb` or `.imageList`.
    ///   - url: the folder to create; it must not exist.
    ///   - encoding: how databases store each image.
    ///   - progress: called with the number of images written so far.
    /// - Throws: `FormatError` naming the output.
    public static func write(_ dataset: Dataset, as format: DatasetFormat, to url: URL, encoding: Encoding = .raw,
                             progress: ((Int) -> Void)? = nil) throws {
        try checkDestination(url)
        if case .floats = dataset.pixels, format == .imageList || encoding == .png {
            throw FormatError(file: url.path, "float images cannot be written as PNG")
        }
        let temporary = FileIO.temporaryName(for: url)
        TemporaryOutputs.register(temporary)
        defer { TemporaryOutputs.unregister(temporary) }
        let record = { (index: Int) throws -> Data in
            progress?(index)
            return try datum(dataset, index, encoding: encoding, file: url.path)
        }
        do {
            switch format {
            case .lmdb:
                try FileIO.createFolder(temporary)
                try KeyValueStore.writeLMDB(temporary, count: dataset.count, record: record)
            case .leveldb:
                try KeyValueStore.writeLevelDB(temporary, count: dataset.count, record: record)
            case .imageList:
                try FileIO.createFolder(temporary)
                var list = ""
                for index in 0..<dataset.count {
                    progress?(index)
                    let name = KeyValueStore.key(index) + ".png"
                    try ImageFiles.encodePNG(image(dataset, index), file: url.path).write(to: temporary.appendingPathComponent(name))
                    list += "\(name) \(dataset.labels[index])\n"
                }
                try Data(list.utf8).write(to: temporary.appendingPathComponent("list.txt"))
            case .mnist, .cifar10, .cifar100:
                throw FormatError(file: url.path, "bmq writes lmdb, leveldb and image-list datasets, not \(format.rawValue)")
            }
            try FileIO.rename(temporary, to: url)
        } catch {
            try? FileManager.default.removeItem(at: temporary)
            if let error = error as? FormatError { throw error }
            throw FormatError(file: url.path, "cannot be written: \(error.localizedDescription)")
        }
        progress?(dataset.count)
    }

    /// Throws unless `url` names a folder that does not exist yet and can be created.
    /// - Throws: `FormatError` naming the folder.
    public static func checkDestination(_ url: URL) throws {
        guard !FileManager.default.fileExists(atPath: url.path) else {
            throw FormatError(file: url.path, "exists already; give a new folder")
        }
        try FileIO.checkCreatableFolder(url)
    }

    /// Image `index` as bytes (the dataset must hold bytes).
    static func image(_ dataset: Dataset, _ index: Int) -> DecodedImage {
        guard case .bytes(let values) = dataset.pixels else { return DecodedImage(shape: dataset.imageShape, pixels: []) }
        let size = dataset.imageShape.count
        return DecodedImage(shape: dataset.imageShape, pixels: Array(values[(index * size)..<((index + 1) * size)]))
    }

    /// The serialized Datum of image `index`.
    static func datum(_ dataset: Dataset, _ index: Int, encoding: Encoding, file: String) throws -> Data {
        var datum = Caffe_Datum()
        datum.label = Int32(dataset.labels[index])
        if encoding == .png {
            datum.data = try ImageFiles.encodePNG(image(dataset, index), file: file)
            datum.encoded = true
            return try datum.serializedBytes()
        }
        datum.channels = Int32(dataset.imageShape[0])
        datum.height = Int32(dataset.imageShape[1])
        datum.width = Int32(dataset.imageShape[2])
        switch dataset.pixels {
        case .bytes: datum.data = Data(image(dataset, index).pixels)
        case .floats(let values):
            let size = dataset.imageShape.count
            datum.floatData = Array(values[(index * size)..<((index + 1) * size)])
        }
        return try datum.serializedBytes()
    }
}
