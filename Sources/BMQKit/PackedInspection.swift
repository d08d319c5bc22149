import BitPacking
import Foundation
import PackedFormat
import Quantization
import TensorGraph

/// What a packed file holds, tensor by tensor.
public struct PackedInspection: Sendable, Codable {
    /// One stored tensor.
    public struct TensorRow: Sendable, Codable {
        /// The tensor's stored name (`<layer>/<blob>`).
        public var name: String
        /// Its dimensions.
        public var shape: [Int]
        /// Its encoding (`float32`, a pattern, or a baseline) as text.
        public var encoding: String
        /// Bits stored per value.
        public var storedBits: Int
        /// Bytes of its payload.
        public var payloadBytes: Int
        /// float32 size over payload size.
        public var compression: Double

        enum CodingKeys: String, CodingKey {
            case name, shape, encoding, compression
            case storedBits = "stored_bits", payloadBytes = "payload_bytes"
        }
    }

    /// The file described.
    public var file: String
    /// Its size in bytes.
    public var fileBytes: Int
    /// The network's name.
    public var network: String
    /// Layers in the network description.
    public var layers: Int
    /// Every stored tensor, in file order.
    public var tensors: [TensorRow]
    /// Values checked against their encodings' value sets, when verification was asked for.
    public var verifiedValues: Int?
    /// The integer datapath the file records (version 1.1 files), layer by layer.
    public var datapath: Datapath?

    /// A recorded integer datapath as `bmq inspect` shows it.
    public struct Datapath: Sendable, Codable {
        /// One requantizing layer.
        public struct Layer: Sendable, Codable {
            /// The layer's name.
            public var name: String
            /// Its output format.
            public var output: String
            /// The weights' fractional bits, for Convolution and InnerProduct.
            public var weightFraction: Int?
            /// Accumulator bits no input can overflow.
            public var accumulatorBits: Int
            /// Shift-add terms per weight: the pattern's stored magnitude bits.
            public var addersPerWeight: Int?
            /// Entries of an LRN's factor table.
            public var tableEntries: Int?

            enum CodingKeys: String, CodingKey {
                case name, output
                case weightFraction = "weight_fraction", accumulatorBits = "accumulator_bits", addersPerWeight = "adders_per_weight"
                case tableEntries = "table_entries"
            }
        }

        /// The datapath specification version.
        public var specification: String
        /// The input's format.
        public var input: String
        /// Every requantizing layer in execution order.
        public var layers: [Layer]
    }

    enum CodingKeys: String, CodingKey {
        case file, network, layers, tensors, datapath
        case fileBytes = "file_bytes", verifiedValues = "verified_values"
    }
}

extension Inspection {
    /// Describes a packed file. Reading already checks every CRC and encoding; `verify` also
    /// checks that every decoded value is a member of its pattern's (or baseline's) value set.
    /// - Throws: `FormatError` naming the section at fault.
    public static func packed(_ request: PackedInspectionRequest) throws -> PackedInspection {
        let (url, verify) = (request.file, request.verify)
        let model = try FormatRegistry.packed.read(from: url)
        let size = (try? FileManager.default.attributesOfItem(atPath: url.path)[.size] as? Int) ?? 0
        var verified: Int?
        if verify {
            verified = 0
            for tensor in model.tensors {
                let allowed: Set<Float>?
                switch tensor.encoding {
                case .float32: allowed = nil
                case let .pattern(pattern, _): allowed = Set(pattern.magnitudes.map(Float.init))
                case let .scaledInteger(bits, scales) where scales.count == 1:
                    allowed = Set((0...((1 << (bits - 1)) - 1)).map { Float($0) * scales[0] })
                case .scaledInteger: allowed = nil
                }
                if let allowed, let bad = tensor.values.data.firstIndex(where: { !allowed.contains($0.magnitude) }) {
                    throw FormatError(file: url.path, "tensor '\(tensor.name)' value \(bad) (\(tensor.values.data[bad])) is not in its value set")
                }
                verified! += tensor.values.count
            }
            // The network description must run: shapes, strides, groups, every value produced before it is read.
            do {
                _ = try ShapeInference.infer(try model.graph())
            } catch let error as GraphError {
                throw FormatError(file: url.path, "the network description cannot run: \(error.description)")
            }
        }
        return PackedInspection(
            file: url.path, fileBytes: size, network: model.description.name, layers: model.description.layers.count,
            tensors: model.tensors.map { tensor in
                PackedInspection.TensorRow(
                    name: tensor.name, shape: tensor.shape.dims, encoding: tensor.encoding.description,
                    storedBits: tensor.encoding.bitsPerValue, payloadBytes: tensor.data.count,
                    compression: tensor.data.isEmpty ? 1 : Double(tensor.values.count * 4) / Double(tensor.data.count))
            },
            verifiedValues: verified,
            datapath: model.description.datapath.map { contract in
                let patterns = Dictionary(model.tensors.compactMap { tensor -> (String, Int)? in
                    guard case let .pattern(pattern, _) = tensor.encoding, tensor.name.hasSuffix("/weights") else { return nil }
                    return (String(tensor.name.dropLast("/weights".count)), pattern.storedBits - 1)
                }, uniquingKeysWith: { a, _ in a })
                return PackedInspection.Datapath(
                    specification: contract.specification, input: contract.input.description,
                    layers: contract.layers.map {
                        .init(name: $0.name, output: $0.output.description, weightFraction: $0.weightFraction,
                              accumulatorBits: $0.accumulatorBits, addersPerWeight: patterns[$0.name],
                              tableEntries: $0.table?.values.count)
                    })
            })
    }
}
