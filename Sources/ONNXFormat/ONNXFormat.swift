import Foundation
import SwiftProtobuf
import TensorGraph

/// ONNX models (`.onnx`): network and weights in one file, read into a graph with the semantics
/// the file states (`formats/onnx/README.md` lists what maps onto what).
public struct ONNXFormat: ModelReading {
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
