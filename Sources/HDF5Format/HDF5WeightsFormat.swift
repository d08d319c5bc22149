import Foundation
import TensorGraph

/// HDF5 weight files: Caffe's snapshots (`.caffemodel.h5`: group `/data`, one subgroup per
/// layer, datasets `/data/<layer>/<i>` in their N-D shapes), read and written; and Keras-style
/// weights (`layer_names`/`weight_names` attributes, channels-last kernels), read and converted.
public struct HDF5WeightsFormat: WeightsReading, ModelWriting {
    public init() {}

    public var identifier: String { "hdf5" }
    public var fileExtensions: [String] { ["caffemodel.h5", "h5"] }

    /// The 8-byte HDF5 signature, which HDF5 writes at offset 0 unless a user block precedes it.
    static let signature: [UInt8] = [0x89, 0x48, 0x44, 0x46, 0x0D, 0x0A, 0x1A, 0x0A]

    public func recognizes(header: [UInt8]) -> Bool { Array(header.prefix(8)) == Self.signature }

    /// Reads every layer's blobs as stored (Keras kernels keep their channels-last shapes).
    /// - Throws: `FormatError` naming the file, and the dataset for bad contents.
    public func readWeights(from url: URL) throws -> WeightSet {
        let file = try open(url)
        do {
            if let keras = try KerasWeights.root(of: file) {
                return try KerasWeights.read(keras, sizeLimit: try sizeLimit(url)).asStored
            }
            guard file.root.contains("data"), file.root.isGroup("data") else {
                throw FormatError(file: url.path, "has neither Caffe's /data group nor Keras's layer_names: not a weights file bmq knows")
            }
            let data = try file.root.group("data")
            let limit = try sizeLimit(url)
            var layers: [WeightSet.Layer] = []
            for name in try data.memberNames() where data.isGroup(name) {
                let group = try data.group(name)
                let members = try group.memberNames()
                // Blobs are named 0, 1, 2, ... in order; anything else is not Caffe's.
                var blobs: [Tensor] = []
                for index in 0..<members.count {
                    guard group.contains(String(index)) else {
                        throw FormatError(file: url.path, "\(group.path) holds \(members) instead of datasets 0..\(members.count - 1)")
                    }
                    let array = try group.readFloats(String(index), sizeLimit: limit)
                    blobs.append(Tensor(shape: Shape(array.dims), data: array.values))
                }
                layers.append(WeightSet.Layer(name: name, blobs: blobs))
            }
            return WeightSet(layers: layers)
        } catch let error as HDF5Error {
            throw FormatError(file: url.path, error.description)
        }
    }

    /// Caffe snapshots as stored; Keras weights converted to the graph's layouts.
    public func readWeights(from url: URL, for graph: Graph, nameMap: [String: String]) throws -> WeightSet {
        let file = try open(url)
        let keras: KerasWeights
        do {
            guard let root = try KerasWeights.root(of: file) else { return try readWeights(from: url).renamed(nameMap) }
            keras = try KerasWeights.read(root, sizeLimit: try sizeLimit(url))
        } catch let error as HDF5Error {
            throw FormatError(file: url.path, error.description)
        }
        do {
            return try keras.converted(for: graph, nameMap: nameMap)
        } catch let error as GraphError {
            throw FormatError(file: url.path, error.description)
        }
    }

    /// Writes a Caffe HDF5 snapshot of the graph's parameters (a group for every layer).
    public func write(_ graph: Graph, to url: URL) throws {
        let temporary = FileIO.temporaryName(for: url)
        TemporaryOutputs.register(temporary)
        defer { TemporaryOutputs.unregister(temporary) }
        do {
            do {
                let file = try HDF5File(creating: temporary.path)
                let data = try file.root.createGroup("data")
                for node in graph.nodes {
                    let group = try data.createGroup(node.name)
                    for (index, tensor) in node.parameters.enumerated() {
                        try group.writeFloats(String(index), dims: tensor.shape.dims, values: tensor.data)
                    }
                }
                try file.flush()
            }
            try FileIO.rename(temporary, to: url)
        } catch {
            try? FileManager.default.removeItem(at: temporary)
            if let error = error as? HDF5Error { throw FormatError(file: url.path, "cannot be written: \(error)") }
            throw error
        }
    }

    func open(_ url: URL) throws -> HDF5File {
        let header = try FileIO.readHeader(url, count: 8)
        guard recognizes(header: header) else {
            throw FormatError(file: url.path, header.isEmpty ? "the file is empty: expected an HDF5 file" : "not an HDF5 file (no HDF5 signature)")
        }
        do {
            return try HDF5File(reading: url.path)
        } catch let error as HDF5Error {
            throw FormatError(file: url.path, "cannot be opened as HDF5 (truncated or corrupt?): \(error.message)")
        }
    }

    /// Uncompressed float data cannot exceed the file; allow generous room for compression.
    func sizeLimit(_ url: URL) throws -> Int {
        let size = (try? FileManager.default.attributesOfItem(atPath: url.path)[.size] as? Int) ?? 0
        return max(1 << 16, size.multipliedReportingOverflow(by: 64).overflow ? Int.max : size * 64)
    }
}
