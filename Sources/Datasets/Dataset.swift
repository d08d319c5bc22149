import Foundation
import TensorGraph

/// The labelled image sets bmq reads.
public enum DatasetFormat: String, Sendable, CaseIterable {
    case mnist
    case cifar10
    case cifar100
    /// A folder holding an LMDB database of Caffe Datum records.
    case lmdb
    /// A folder holding a LevelDB database of Caffe Datum records.
    case leveldb
    /// A text file of `image-path label` lines (Caffe's ImageData list), PNG or JPEG images.
    case imageList = "image-list"
}

/// Image values as stored: bytes, or floats (a Datum's `float_data`).
public enum PixelValues: Sendable, Equatable {
    case bytes([UInt8])
    case floats([Float])

    /// The number of values.
    public var count: Int {
        switch self {
        case .bytes(let values): values.count
        case .floats(let values): values.count
        }
    }

    /// The values of `ranges`, one after another.
    func gathering(_ ranges: [Range<Int>]) -> PixelValues {
        func gather<Value>(_ values: [Value]) -> [Value] {
            var picked: [Value] = []
            picked.reserveCapacity(ranges.reduce(0) { $0 + $1.count })
            for range in ranges { picked.append(contentsOf: values[range]) }
            return picked
        }
        switch self {
        case .bytes(let values): return .bytes(gather(values))
        case .floats(let values): return .floats(gather(values))
        }
    }
}

/// Labelled images, kept as stored (usually 8-bit) until a batch is preprocessed.
public struct Dataset: Sendable {
    /// Where the images came from.
    public var format: DatasetFormat
    /// Channels x height x width of one image.
    public var imageShape: Shape
    /// All images' values, one image after another, each channel-major (C x H x W).
    public var pixels: PixelValues
    /// Each image's class.
    public var labels: [Int]
    /// Classes the labels are drawn from (at least the largest label + 1).
    public var classCount: Int
    /// The file or folder read, for messages.
    public var source: String

    /// A dataset of `labels.count` images of `imageShape` held in `pixels`.
    public init(format: DatasetFormat, imageShape: Shape, pixels: PixelValues, labels: [Int], classCount: Int, source: String) {
        self.format = format
        self.imageShape = imageShape
        self.pixels = pixels
        self.labels = labels
        self.classCount = classCount
        self.source = source
    }

    /// The number of images.
    public var count: Int { labels.count }
    /// The accuracy of guessing one class for every image, on balanced data.
    public var chanceLevel: Double { 1 / Double(classCount) }

    /// The first `limit` images (or all).
    public func prefix(_ limit: Int?) -> Dataset {
        guard let limit, limit < count else { return self }
        var copy = self
        copy.labels = Array(labels.prefix(limit))
        copy.pixels = pixels.gathering([0..<(limit * imageShape.count)])
        return copy
    }

    /// The images at `indices`, in that order.
    public func subset(_ indices: [Int]) -> Dataset {
        let size = imageShape.count
        var copy = self
        copy.pixels = pixels.gathering(indices.map { ($0 * size)..<(($0 + 1) * size) })
        copy.labels = indices.map { labels[$0] }
        return copy
    }

    /// `count` images drawn without replacement by a generator seeded with `seed` (the same
    /// seed always draws the same images), kept in the dataset's order; all when `count` is not smaller.
    public func randomSubset(count: Int, seed: UInt64) -> Dataset {
        guard count < self.count else { return self }
        var generator = SplitMix64(seed: seed)
        var order = Array(0..<self.count)
        for index in 0..<count {
            let pick = index + Int(generator.next() % UInt64(self.count - index))
            order.swapAt(index, pick)
        }
        return subset(order[0..<count].sorted())
    }

    /// Every image cut to its central `size` x `size` square, as Caffe's TEST phase crops
    /// (offsets `(height - size) / 2` and `(width - size) / 2`, rounded down).
    /// - Throws: `FormatError` when the images are smaller than `size`.
    public func centreCropped(to size: Int) throws -> Dataset {
        let (channels, height, width) = (imageShape[0], imageShape[1], imageShape[2])
        guard size > 0, size <= height, size <= width else {
            throw FormatError(file: source, "cannot crop \(height)x\(width) images to \(size)x\(size)")
        }
        if size == height, size == width { return self }
        var copy = self
        copy.pixels = pixels.gathering(imageShape.centreCropRows(images: count, height: size, width: size))
        copy.imageShape = [channels, size, size]
        return copy
    }

    /// Consecutive ranges of `size` images (the last may be shorter) covering the dataset.
    public func batchRanges(size: Int) -> [Range<Int>] {
        stride(from: 0, to: count, by: max(1, size)).map { $0..<Swift.min($0 + max(1, size), count) }
    }

    /// Images `range` as a float batch, preprocessed as `(pixel - mean) * scale` (per channel
    /// when the preprocessing has one scale per channel).
    public func batch(_ range: Range<Int>, preprocessing: Preprocessing) -> Tensor {
        let size = imageShape.count
        let channels = imageShape[0]
        let plane = size / channels
        let mean = preprocessing.meanImage?.data
        let meanValues = preprocessing.meanValues
        let scales = (0..<channels).map { preprocessing.scale(ofChannel: $0) }
        // One plane at a time with its scale and mean fixed, so that the loops vectorise; each value
        // is still (pixel - mean) * scale in Float.
        func transform<Value>(_ values: [Value], _ float: (Value) -> Float) -> [Float] {
            [Float](unsafeUninitializedCapacity: range.count * size) { data, initialized in
                values.withUnsafeBufferPointer { src in
                    for (slot, image) in range.enumerated() {
                        for c in 0..<channels {
                            let from = src.baseAddress! + image * size + c * plane, to = data.baseAddress! + slot * size + c * plane
                            let scale = scales[c]
                            if let mean {
                                mean.withUnsafeBufferPointer { mean in
                                    let m = mean.baseAddress! + c * plane
                                    for i in 0..<plane { to[i] = (float(from[i]) - m[i]) * scale }
                                }
                            } else if !meanValues.isEmpty {
                                let m = meanValues[meanValues.count == 1 ? 0 : c]
                                for i in 0..<plane { to[i] = (float(from[i]) - m) * scale }
                            } else {
                                for i in 0..<plane { to[i] = float(from[i]) * scale }
                            }
                        }
                    }
                }
                initialized = range.count * size
            }
        }
        let data: [Float]
        switch pixels {
        case .bytes(let values): data = transform(values) { Float($0) }
        case .floats(let values): data = transform(values) { $0 }
        }
        return Tensor(shape: Shape([range.count] + imageShape.dims), data: data)
    }
}

/// A file whose content is no dataset format bmq detects; naming the format may still read it.
public struct UnrecognizedDataset: Error, CustomStringConvertible {
    /// The file.
    public var file: String
    public var description: String {
        "\(file): not a dataset bmq knows: expected MNIST IDX images, CIFAR-10/100 binary records, an LMDB or LevelDB folder of Caffe Datums, or an image list"
    }
}

/// Reads datasets and tells their kind from the content.
public enum DatasetReader {
    /// Reads `url`, detecting the format unless `format` is given. For MNIST the labels file
    /// is found beside the images file (`...-images-idx3-ubyte` → `...-labels-idx1-ubyte`). A
    /// folder is an LMDB (`data.mdb`) or LevelDB (`CURRENT`) of Caffe Datum records; a text file
    /// of `path label` lines is an image list, its relative paths starting from its own folder.
    /// - Throws: `UnrecognizedDataset` when the content does not tell the format, `FormatError`
    ///   naming the file for anything else.
    public static func read(_ url: URL, format: DatasetFormat? = nil) throws -> Dataset {
        var isFolder: ObjCBool = false
        let exists = FileManager.default.fileExists(atPath: url.path, isDirectory: &isFolder)
        if isFolder.boolValue || format == .lmdb || format == .leveldb {
            guard exists else { throw FormatError(file: url.path, "no such folder") }
            guard let backend = format.flatMap(backend(of:)) ?? detectDatabase(url) else {
                throw isFolder.boolValue ? UnrecognizedDataset(file: url.path) : FormatError(file: url.path, "is a file, not a database folder")
            }
            return try CaffeDataSources.readDatabase(url, backend: backend)
        }
        var data = try FileIO.read(url)
        if Gzip.isGzip(data) { data = try Gzip.decompress(data, file: url.path) }
        guard let kind = format ?? detect(data) ?? (CaffeDataSources.looksLikeImageList(data) ? .imageList : nil) else {
            throw UnrecognizedDataset(file: url.path)
        }
        switch kind {
        case .mnist: return try readMNIST(images: data, url: url)
        case .cifar10: return try readCIFAR(data, url: url, labelBytes: 1, classes: 10, format: .cifar10)
        case .cifar100: return try readCIFAR(data, url: url, labelBytes: 2, classes: 100, format: .cifar100)
        case .imageList: return try CaffeDataSources.readImageList(url)
        case .lmdb, .leveldb: throw FormatError(file: url.path, "is a file, not a database folder")
        }
    }

    static func backend(of format: DatasetFormat) -> DataSourceDescription.Backend? {
        switch format {
        case .lmdb: .lmdb
        case .leveldb: .leveldb
        default: nil
        }
    }

    /// LMDB by its `data.mdb`, LevelDB by its `CURRENT` file.
    static func detectDatabase(_ folder: URL) -> DataSourceDescription.Backend? {
        let has = { FileManager.default.fileExists(atPath: folder.appendingPathComponent($0).path) }
        return has("data.mdb") ? .lmdb : has("CURRENT") ? .leveldb : nil
    }

    static let cifarImageBytes = 3 * 32 * 32

    /// MNIST by its IDX magic; CIFAR by a record size that divides the file and labels in range.
    public static func detect(_ data: Data) -> DatasetFormat? {
        let bytes = [UInt8](data.prefix(4))
        if bytes == [0, 0, 8, 3] { return .mnist }
        let record10 = 1 + cifarImageBytes, record100 = 2 + cifarImageBytes
        let fits10 = !data.isEmpty && data.count % record10 == 0
        let fits100 = !data.isEmpty && data.count % record100 == 0
        func labelsValid(record: Int, offset: Int, classes: Int) -> Bool {
            stride(from: offset, to: data.count, by: record).allSatisfy { Int(data[data.startIndex + $0]) < classes }
        }
        if fits10, labelsValid(record: record10, offset: 0, classes: 10) { return .cifar10 }
        if fits100, labelsValid(record: record100, offset: 0, classes: 20), labelsValid(record: record100, offset: 1, classes: 100) {
            return .cifar100
        }
        return nil
    }

    static func readBigEndian(_ data: Data, at offset: Int) -> Int {
        let b = data.startIndex + offset
        return Int(data[b]) << 24 | Int(data[b + 1]) << 16 | Int(data[b + 2]) << 8 | Int(data[b + 3])
    }

    static func readMNIST(images data: Data, url: URL) throws -> Dataset {
        guard data.count >= 16, [UInt8](data.prefix(4)) == [0, 0, 8, 3] else {
            throw FormatError(file: url.path, "not an MNIST images file (IDX magic 0x00000803 expected)")
        }
        let count = readBigEndian(data, at: 4), rows = readBigEndian(data, at: 8), columns = readBigEndian(data, at: 12)
        // Sizes are checked before they are multiplied: a corrupt header holds any 32-bit values.
        let sane = rows > 0 && columns > 0 && rows <= 4096 && columns <= 4096
        let (pixels, overflow) = count.multipliedReportingOverflow(by: sane ? rows * columns : 0)
        guard sane, !overflow, data.count - 16 == pixels else {
            throw FormatError(file: url.path, "IDX header says \(count) images of \(rows)x\(columns), but the file holds \(data.count - 16) pixel bytes")
        }
        let labelsURL = try mnistLabelsURL(for: url)
        var labelData = try FileIO.read(labelsURL)
        if Gzip.isGzip(labelData) { labelData = try Gzip.decompress(labelData, file: labelsURL.path) }
        guard labelData.count >= 8, [UInt8](labelData.prefix(4)) == [0, 0, 8, 1] else {
            throw FormatError(file: labelsURL.path, "not an MNIST labels file (IDX magic 0x00000801 expected)")
        }
        let labelCount = readBigEndian(labelData, at: 4)
        guard labelCount == count, labelData.count - 8 == count else {
            throw FormatError(file: labelsURL.path, "holds \(labelData.count - 8) labels (header: \(labelCount)) for \(count) images")
        }
        let labels = labelData.dropFirst(8).map { Int($0) }
        if let bad = labels.firstIndex(where: { $0 > 9 }) {
            throw FormatError(file: labelsURL.path, "label \(labels[bad]) of image \(bad) is not a digit")
        }
        return Dataset(format: .mnist, imageShape: [1, rows, columns], pixels: .bytes([UInt8](data.dropFirst(16))),
                       labels: labels, classCount: 10, source: url.path)
    }

    /// The labels file beside an MNIST images file.
    static func mnistLabelsURL(for images: URL) throws -> URL {
        let name = images.lastPathComponent
        for (from, to) in [("images-idx3-ubyte", "labels-idx1-ubyte"), ("images.idx3-ubyte", "labels.idx1-ubyte"), ("images", "labels")]
        where name.contains(from) {
            let labels = name.replacingOccurrences(of: from, with: to)
            let plain = labels.hasSuffix(".gz") ? String(labels.dropLast(3)) : labels
            // Either file may be gzipped independently of the other.
            for candidate in [labels, plain, plain + ".gz"] {
                let url = images.deletingLastPathComponent().appendingPathComponent(candidate)
                if FileManager.default.fileExists(atPath: url.path) { return url }
            }
            throw FormatError(file: images.path, "the labels file \(plain) is not beside it")
        }
        throw FormatError(file: images.path, "cannot tell the labels file's name: expected a name containing 'images-idx3-ubyte'")
    }

    static func readCIFAR(_ data: Data, url: URL, labelBytes: Int, classes: Int, format: DatasetFormat) throws -> Dataset {
        let record = labelBytes + cifarImageBytes
        guard !data.isEmpty, data.count % record == 0 else {
            throw FormatError(file: url.path, "\(data.count) bytes is not a whole number of \(record)-byte \(format.rawValue) records")
        }
        let count = data.count / record
        var pixels = [UInt8](repeating: 0, count: count * cifarImageBytes)
        var labels = [Int](repeating: 0, count: count)
        try data.withUnsafeBytes { (raw: UnsafeRawBufferPointer) in
            for i in 0..<count {
                // CIFAR-100 records start with the coarse then the fine label; the fine one is the class.
                let label = Int(raw[i * record + labelBytes - 1])
                guard label < classes else {
                    throw FormatError(file: url.path, "record \(i) has label \(label), outside 0..<\(classes)")
                }
                labels[i] = label
                pixels.withUnsafeMutableBytes { dst in
                    dst.baseAddress!.advanced(by: i * cifarImageBytes)
                        .copyMemory(from: raw.baseAddress!.advanced(by: i * record + labelBytes), byteCount: cifarImageBytes)
                }
            }
        }
        return Dataset(format: format, imageShape: [3, 32, 32], pixels: .bytes(pixels), labels: labels, classCount: classes, source: url.path)
    }
}
