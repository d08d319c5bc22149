import Foundation

/// A model or weights file format that bmq can read and/or write.
///
/// Formats are plug-ins: each module provides one conforming type that adopts the roles it
/// plays (the protocols below), and BMQKit's `FormatRegistry` lists them in one place and
/// hands a use case the reader or writer for its role. Detection is by content (a file's
/// first bytes), never by file name alone; output formats are chosen by file name.
public protocol ModelFormat: Sendable {
    /// Short identifier used on the command line and in messages (`caffe`, `packed`, ...).
    var identifier: String { get }
    /// File name endings this format writes, for choosing an output format and for messages.
    var fileExtensions: [String] { get }
    /// Whether a file starting with `header` (its first 64 bytes at most) is this format's
    /// weights or model file.
    func recognizes(header: [UInt8]) -> Bool
}

/// Reads a network definition without weights (a Caffe `.prototxt`).
public protocol TopologyReading: ModelFormat {
    /// Whether a file starting with `header` looks like this format's network definition.
    func recognizesTopology(header: [UInt8]) -> Bool
    /// The network, its parameters still empty.
    /// - Throws: `FormatError` naming the file (and the line, for text formats).
    func readTopology(from url: URL) throws -> Graph
    /// The line that defines layer `name`, for text formats, so that errors can point at it.
    func line(ofLayer name: String, in url: URL) -> Int?
}

extension TopologyReading {
    /// Binary formats have no lines.
    public func line(ofLayer name: String, in url: URL) -> Int? { nil }
}

/// Reads parameter blobs by layer name; the topology comes from elsewhere.
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
    /// Reads the file as stored and renames its layers by `nameMap`.
    public func readWeights(from url: URL, for graph: Graph, nameMap: [String: String]) throws -> WeightSet {
        try readWeights(from: url).renamed(nameMap)
    }
}

/// A weights file that also records the network it was saved from (a `.caffemodel`), so it can
/// be shown without a separate definition.
public protocol RecordedTopologyReading: WeightsReading {
    /// The stored blobs and, decoded from the same read, the recorded network (or why it
    /// cannot be built).
    /// - Throws: `FormatError` naming the file when it cannot be decoded at all.
    func readRecordedModel(from url: URL) throws -> (weights: WeightSet, topology: Result<Graph, any Error>)
}

/// Reads a self-describing model: network, weights and preprocessing in one file (`.bmq`).
public protocol ModelReading: ModelFormat {
    /// The runnable graph with its parameters and preprocessing.
    /// - Throws: `FormatError` naming the file and the part at fault.
    func readModel(from url: URL) throws -> Graph
}

/// Reads a mean image that preprocessing subtracts (Caffe's `.binaryproto`).
public protocol MeanImageReading: Sendable {
    /// The mean as a C x H x W tensor.
    /// - Throws: `FormatError` naming the file.
    func readMeanImage(from url: URL) throws -> Tensor
}

/// Stores a graph with its parameters.
public protocol ModelWriting: ModelFormat {
    /// Writes atomically: a temporary file in the same folder, renamed over `url` when complete.
    /// - Throws: `FormatError` naming the file.
    func write(_ graph: Graph, to url: URL) throws
}

