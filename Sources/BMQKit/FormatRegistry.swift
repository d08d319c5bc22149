import CaffeFormat
import Foundation
import HDF5Format
import ONNXFormat
import PackedFormat
import Quantization
import TensorGraph

/// The built-in format plug-ins, in one explicit list, and the one place that names them.
///
/// Use cases ask for a role (a topology reader, a weights reader, a self-describing model
/// reader, a writer) and get the plug-in that recognises the file's first bytes, or whose
/// file ending the output name has. A new format is a module plus one line in ``formats``.
public enum FormatRegistry {
    /// Every format plug-in, in the order files are tried.
    public static let formats: [any ModelFormat] = [CaffeFormat(), HDF5WeightsFormat(), packed, ONNXFormat()]

    /// The packed deployable, for the commands that work on its stored bits (inspect, export).
    static let packed = PackedFormat()

    /// Readers of the mean images that preprocessing subtracts.
    static let meanImageReaders: [any MeanImageReading] = formats.compactMap { $0 as? any MeanImageReading }

    /// The format whose weights or model files start like this file.
    /// - Throws: `FormatError` naming the file when it is missing, empty, or no format knows it.
    public static func format(of url: URL) throws -> any ModelFormat {
        let header = try FileIO.readHeader(url)
        guard !header.isEmpty else { throw FormatError(file: url.path, "the file is empty: expected a weights or model file") }
        if let format = formats.first(where: { $0.recognizes(header: header) }) { return format }
        if formats.contains(where: { ($0 as? any TopologyReading)?.recognizesTopology(header: header) == true }) {
            throw FormatError(file: url.path, "is a network definition, not a weights file")
        }
        let known = formats.map(\.identifier).joined(separator: ", ")
        throw FormatError(file: url.path, "not a weights or model file bmq recognizes (known: \(known))")
    }

    /// The weights reader for a file, by its first bytes.
    /// - Throws: `FormatError` naming the file when no format reads weights from it.
    public static func weightsReader(for url: URL) throws -> any WeightsReading {
        let format = try format(of: url)
        guard let reader = format as? any WeightsReading else {
            if format is any ModelReading {
                throw FormatError(file: url.path, "is a \(format.identifier) model, which carries its own network: give it alone, without a net definition")
            }
            throw FormatError(file: url.path, "is a \(format.identifier) file, which holds no weights bmq reads")
        }
        return reader
    }

    /// The reader for a self-describing model (network and weights in one file), or nil when
    /// the file is a weights file that needs a separate network definition.
    /// - Throws: `FormatError` naming the file when it is missing or unrecognised.
    public static func modelReader(for url: URL) throws -> (any ModelReading)? {
        try format(of: url) as? any ModelReading
    }

    /// The reader for a network definition, by its first bytes.
    /// - Throws: `FormatError` naming the file when no format reads it as a network definition.
    public static func topologyReader(for url: URL) throws -> any TopologyReading {
        let header = try FileIO.readHeader(url)
        guard !header.isEmpty else { throw FormatError(file: url.path, "the file is empty: expected a network definition") }
        let readers = formats.compactMap { $0 as? any TopologyReading }
        if let reader = readers.first(where: { $0.recognizesTopology(header: header) }) { return reader }
        if let format = formats.first(where: { $0.recognizes(header: header) }) {
            throw FormatError(file: url.path, "not a text file: a \(format.identifier) weights or model file, not a network definition")
        }
        throw FormatError(file: url.path, "not a network definition bmq recognizes (known: a Caffe .prototxt)")
    }

    /// The mean image a model's preprocessing subtracts.
    /// - Throws: `FormatError` naming the file.
    public static func readMeanImage(from url: URL) throws -> Tensor {
        guard let reader = meanImageReaders.first else { throw FormatError(file: url.path, "no format reads mean images") }
        return try reader.readMeanImage(from: url)
    }

    /// The writer for an output path, chosen by its extension.
    /// - Throws: `FormatError` naming the file when no format writes that ending.
    public static func writer(for url: URL) throws -> any ModelWriting {
        let name = url.lastPathComponent.lowercased()
        let writers = formats.compactMap { $0 as? any ModelWriting }
        if let writer = writers.first(where: { $0.fileExtensions.contains { name.hasSuffix("." + $0) } }) { return writer }
        let known = writers.flatMap(\.fileExtensions).map { "." + $0 }.joined(separator: ", ")
        throw FormatError(file: url.path, "cannot tell the output format from the name (known endings: \(known))")
    }

    /// Writes `graph` (already quantized by `plan`, when given) in the format the output name
    /// asks for; formats that store quantized tensors natively get the plan, its reports and the
    /// integer datapath.
    /// - Throws: `FormatError` naming the file.
    /// - Parameters:
    ///   - graph: the graph, already quantized by `plan` when one is given.
    ///   - plan: the plan that quantized it, or nil.
    ///   - reports: what the quantize pass computed per layer (baseline scales).
    ///   - datapath: the integer datapath, for formats that record it.
    ///   - url: the output file; its name picks the format.
    ///   - integerWeights: write each bit-pattern layer's weights as integer codes and a
    ///     power-of-two scale where the format can (ONNX: `DequantizeLinear`), instead of floats.
    public static func write(_ graph: Graph, plan: QuantizationPlan?, reports: [LayerQuantizationReport], datapath: DatapathContract?,
                             to url: URL, integerWeights: Bool = false) throws {
        let writer = try writer(for: url)
        if integerWeights {
            guard let onnx = writer as? ONNXFormat else {
                throw FormatError(file: url.path, "integer weights with a dequantizing scale are written to .onnx files only")
            }
            let fractions = Dictionary(uniqueKeysWithValues: (plan?.entries ?? []).compactMap { entry -> (String, Int)? in
                guard case let .pattern(pattern) = entry.weights else { return nil }
                return (entry.layer, pattern.fractionBits)
            })
            try onnx.write(graph, weightFractions: fractions, to: url)
        } else if let plan, let quantizedWriter = writer as? any QuantizedModelWriting {
            try quantizedWriter.write(graph, quantizedBy: plan, reports: reports, datapath: datapath, to: url)
        } else {
            try writer.write(graph, to: url)
        }
    }
}
