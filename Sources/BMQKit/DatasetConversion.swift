import Datasets
import Foundation
import TensorGraph

/// How a stored image database encodes each image (re-exported for callers of BMQKit).
public typealias DatasetEncoding = Datasets.DatasetWriter.Encoding

/// What `bmq dataset` converts: a labelled image set into one of Caffe's data sources.
public struct DatasetConversionRequest: Sendable {
    /// The images to read (any dataset bmq reads).
    public var input: URL
    /// The input's format, when content detection should not decide.
    public var inputFormat: DatasetFormat?
    /// Convert only the first `limit` images.
    public var limit: Int?
    /// `.lmdb`, `.leveldb` or `.imageList`.
    public var outputFormat: DatasetFormat
    /// The folder to create.
    public var output: URL
    /// How a database stores each image.
    public var encoding: DatasetEncoding

    /// Checks the request's values.
    /// - Throws: `RequestError` for an output format bmq does not write, a PNG encoding of a
    ///   list (always PNG), or a limit that is not positive.
    public init(input: URL, inputFormat: DatasetFormat? = nil, limit: Int? = nil, outputFormat: DatasetFormat, output: URL,
                encoding: DatasetEncoding = .raw) throws {
        guard [.lmdb, .leveldb, .imageList].contains(outputFormat) else {
            throw RequestError(.to, "\(.to) \(outputFormat.rawValue): bmq writes lmdb, leveldb or image-list")
        }
        if let limit, limit <= 0 { throw RequestError(.limit, "\(.limit) must be positive") }
        self.input = input
        self.inputFormat = inputFormat
        self.limit = limit
        self.outputFormat = outputFormat
        self.output = output
        self.encoding = encoding
    }
}

/// Converts image sets into Caffe's data sources.
public enum DatasetConversion {
    /// Reads the input and writes it as the request asks; returns the number of images written.
    /// - Throws: `RequestError` or `FormatError` naming the option or file at fault.
    public static func run(_ request: DatasetConversionRequest, progress: ((Int, Int) -> Void)? = nil) throws -> Int {
        // Refuse a bad output before reading a large input.
        try DatasetWriter.checkDestination(request.output)
        let dataset = try Evaluation.readDataset(request.input, format: request.inputFormat, formatField: .dataFormat).prefix(request.limit)
        try DatasetWriter.write(dataset, as: request.outputFormat, to: request.output, encoding: request.encoding) {
            progress?($0, dataset.count)
        }
        return dataset.count
    }
}
