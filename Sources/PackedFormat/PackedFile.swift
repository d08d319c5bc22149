import BitPacking
import Foundation
import Quantization
import TensorGraph

/// One tensor as stored in a packed file.
public struct PackedTensor: Sendable {
    public var name: String
    public var shape: Shape
    public var encoding: TensorEncoding
    /// The stored bytes (the payload's data field).
    public var data: [UInt8]
    /// Decoded values.
    public var values: Tensor
}

/// A packed deployable: the network description and every tensor with its encoding.
/// The byte layout is specified in `formats/packed/SPEC.md`.
public struct PackedModel: Sendable {
    public var description: GraphDescription
    public var tensors: [PackedTensor]

    /// The runnable graph, with every tensor decoded to float32.
    public func graph() throws -> Graph {
        try description.graph(tensors: Dictionary(tensors.map { ($0.name, $0.values) }, uniquingKeysWith: { a, _ in a }))
    }
}

enum PackedLayout {
    static let magic: [UInt8] = Array("BMQPACK".utf8) + [0]
    static let major: UInt16 = 1
    /// The highest minor version this build writes: 1 adds the network description's `datapath`.
    /// A file is written with the lowest minor version that describes its content.
    static let minor: UInt16 = 1
    static let headerSize = 24
    static let networkTag = "NETW"
    static let tensorTag = "TENS"
}
