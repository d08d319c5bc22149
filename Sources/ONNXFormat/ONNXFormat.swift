import Foundation
import SwiftProtobuf
import TensorGraph

/// ONNX models (`.onnx`): network and weights in one file, read into a graph with the semantics
/// the file states (`formats/onnx/README.md` lists what maps onto what).
public struct ONNXFormat: ModelReading, ModelWriting {
    public let identifier = "onnx"
    public let fileExtensions = ["onnx"]

    /// A format value; it holds no state.
    public init() {}

    /// A serialized `ModelProto` starts with its IR version (field 1, a small varint) followed by
    /// another of the model's fields; Caffe's files start with other fields.
    public func recognizes(header: [UInt8]) -> Bool {
        guard header.count > 2, header[0] == 0x08, (1...30).contains(header[1]) else { return false }
        // producer_name, producer_version, domain, model_version, doc_string, graph, opset_import.
        return [0x12, 0x1A, 0x22, 0x28, 0x32, 0x3A, 0x42].contains(header[2])
    }

    public func readModel(from url: URL) throws -> Graph {
        let data = try FileIO.read(url)
        let model: Onnx_ModelProto
        do {
            model = try Onnx_ModelProto(serializedBytes: data)
        } catch {
            throw FormatError(file: url.path, "is not a valid ONNX model (\(Self.describe(error))): truncated or corrupted")
        }
        var importer = ONNXImporter(model: model, file: url)
        return try importer.graph()
    }

    public func write(_ graph: Graph, to url: URL) throws {
        try write(graph, weightFractions: [:], to: url)
    }

    /// Writes `graph` with the weights of the layers in `weightFractions` as integer codes and a
    /// power-of-two scale, dequantized in the model (`DequantizeLinear`: int8 where every code
    /// fits, else int32): exact for weights that are integers times `2^-F`.
    /// - Parameter weightFractions: layer name → the weights' fractional bits `F`.
    /// - Throws: `FormatError` naming the file when a layer has no ONNX form or a weight is not an
    ///   integer times its scale.
    public func write(_ graph: Graph, weightFractions: [String: Int], to url: URL) throws {
        let model: Onnx_ModelProto
        do {
            model = try ONNXExporter.model(graph, dequantized: weightFractions)
        } catch let error as GraphError {
            throw FormatError(file: url.path, error.description)
        }
        try FileIO.writeAtomically(try model.serializedData(), to: url)
    }

    static func describe(_ error: any Error) -> String {
        guard let decoding = error as? BinaryDecodingError else { return "\(error)" }
        switch decoding {
        case .truncated: return "the data ends inside a field"
        case .malformedProtobuf: return "malformed protobuf"
        case .invalidUTF8: return "a text field is not UTF-8"
        default: return "\(decoding)"
        }
    }
}
