import BitPacking
import Foundation
import PackedFormat
import TensorGraph

/// What an export writes: a packed model's tensors in one hardware flow's form.
public struct ExportRequest: Sendable {
    /// The packed `.bmq` model.
    public var packed: URL
    /// The form to write.
    public var target: HardwareExport
    /// The folder to write into (created if needed).
    public var directory: URL

    /// Checks that the output folder is not an existing file.
    /// - Throws: `FormatError` naming the output.
    public init(packed: URL, target: HardwareExport, directory: URL) throws {
        var isDirectory: ObjCBool = false
        let onnxFile = (target == .onnx || target == .onnxQDQ) && directory.pathExtension.lowercased() == "onnx"
        if !onnxFile, FileManager.default.fileExists(atPath: directory.path, isDirectory: &isDirectory), !isDirectory.boolValue {
            throw FormatError(file: directory.path, "is a file; the export writes into a folder")
        }
        self.packed = packed
        self.target = target
        self.directory = directory
    }
}

/// The export use case (`bmq export`).
public enum PackedExport {
    /// Writes the export and returns the files written.
    /// - Throws: `FormatError` naming the file that could not be read or written.
    public static func run(_ request: ExportRequest) throws -> [URL] {
        try request.target.write(request.packed, to: request.directory)
    }
}

/// Hardware exports of a packed model's tensors.
public enum HardwareExport: String, Sendable, CaseIterable {
    /// One C header for the network: packed words as `uint32_t` arrays plus shape and pattern macros.
    case c
    /// Verilog `$readmemh` files, one per tensor, one stored value per line.
    case hex
    /// Xilinx COE memory initialisation files, one per tensor, one stored value per entry.
    case coe
    /// The decoded weights as a `.caffemodel`, for Caffe.
    case caffemodel
    /// A self-contained C99 program of the integer datapath that checks a test-vectors folder.
    case cReference = "c-reference"
    /// The network as an ONNX model with the decoded weights as floats.
    case onnx
    /// The network as an ONNX model with bit-pattern weights as integer codes and a
    /// power-of-two scale (`DequantizeLinear`).
    case onnxQDQ = "onnx-qdq"

    /// Writes the export into `directory` (for ONNX, also a file name ending in `.onnx`) and
    /// returns the files written.
    /// - Throws: `FormatError` naming the file that could not be read or written.
    func write(_ packed: URL, to directory: URL) throws -> [URL] {
        if self == .onnx || self == .onnxQDQ, directory.pathExtension.lowercased() == "onnx" {
            let model = try ModelLoader.load(ModelSource(net: nil, weights: packed))
            try FormatRegistry.write(model.graph, plan: model.recordedPlan, reports: [], datapath: nil, to: directory,
                                     integerWeights: self == .onnxQDQ)
            return [directory]
        }
        let model = try FormatRegistry.packed.read(from: packed)
        try FileIO.createFolder(directory)
        let base = Self.identifier(model.description.name.isEmpty ? packed.deletingPathExtension().lastPathComponent : model.description.name)
        switch self {
        case .cReference:
            let program = try VectorGeneration.load(packed).program
            let source = directory.appendingPathComponent("bmq_ref.c"), readme = directory.appendingPathComponent("README.md")
            try FileIO.writeAtomically(Data(program.cReference(name: base).utf8), to: source)
            try FileIO.writeAtomically(Data(Self.cReferenceReadme(base: base, model: packed.lastPathComponent).utf8), to: readme)
            return [source, readme]
        case .onnx, .onnxQDQ:
            return try write(packed, to: directory.appendingPathComponent("\(base).onnx"))
        case .caffemodel:
            let url = directory.appendingPathComponent("\(base).caffemodel")
            try FormatRegistry.writer(for: url).write(try model.graph(), to: url)
            return [url]
        case .c:
            let url = directory.appendingPathComponent("\(base).h")
            try FileIO.writeAtomically(Data(Self.cHeader(model, base: base).utf8), to: url)
            return [url]
        case .hex, .coe:
            return try model.tensors.map { tensor in
                let url = directory.appendingPathComponent("\(Self.identifier(tensor.name)).\(rawValue)")
                let words = Self.storedValues(tensor)
                let digits = (tensor.encoding.bitsPerValue + 3) / 4
                let lines = words.map { String($0, radix: 16).leftPadded(to: digits) }
                let text = self == .hex
                    ? "// \(tensor.name) \(tensor.shape) \(tensor.encoding): one \(tensor.encoding.bitsPerValue)-bit stored value per line\n"
                        + lines.joined(separator: "\n") + "\n"
                    : "; \(tensor.name) \(tensor.shape) \(tensor.encoding)\nmemory_initialization_radix=16;\nmemory_initialization_vector=\n"
                        + lines.joined(separator: ",\n") + ";\n"
                try FileIO.writeAtomically(Data(text.utf8), to: url)
                return url
            }
        }
    }

    static func cReferenceReadme(base: String, model: String) -> String {
        """
        # \(base): C reference of the integer datapath

        `bmq_ref.c` computes the network of `\(model)` exactly as `formats/datapath/SPEC.md` defines
        it, in integers, with no dependencies beyond a C99 compiler and its standard library.

        ```sh
        cc -std=c99 -O2 -o bmq_ref bmq_ref.c
        bmq vectors \(model) --data IMAGES --count 100 -o vectors
        ./bmq_ref vectors
        ```

        It reads the vectors folder's input file, recomputes every layer of every image, compares
        each layer's file value by value and prints `N images, M mismatches`; it exits 1 on a
        mismatch (naming the first one's file and line) and 2 on a missing or malformed file.
        A simulation that dumps its layer outputs in the same `$readmemh` form is checked the same way.

        """
    }

    /// Each value's stored bits as an integer (float32 tensors: the IEEE bit pattern).
    static func storedValues(_ tensor: PackedTensor) -> [UInt32] {
        let width = tensor.encoding.bitsPerValue
        return tensor.data.withUnsafeBytes { raw in
            var reader = BitReader(raw)
            return (0..<tensor.values.count).map { _ in reader.read(width: width) }
        }
    }

    static func identifier(_ text: String) -> String {
        let mapped = text.map { $0.isLetter || $0.isNumber ? $0 : "_" }
        let result = String(mapped)
        return result.first?.isNumber == true ? "_" + result : result
    }

    static func cHeader(_ model: PackedModel, base: String) -> String {
        let guardName = "BMQ_\(base.uppercased())_H"
        var text = """
            /* \(base): packed weights exported by bmq (format described in formats/export.md).
             * Each array holds a tensor's stored values as a little-endian bit stream in 32-bit
             * words: value i occupies stream bits [i*BITS, i*BITS+BITS), stream bit j is bit
             * (j % 32) of word j / 32. Pattern values: the top stored bit is the sign, the others
             * are the unmasked magnitude bits, most significant position first. */
            #ifndef \(guardName)
            #define \(guardName)
            #include <stdint.h>

            /* Arrays are static so the header can be included anywhere; unused ones must not warn. */
            #ifndef BMQ_UNUSED
            #if defined(__GNUC__) || defined(__clang__)
            #define BMQ_UNUSED __attribute__((unused))
            #else
            #define BMQ_UNUSED
            #endif
            #endif


            """
        for tensor in model.tensors {
            let name = "\(base.uppercased())_\(identifier(tensor.name).uppercased())"
            let words = tensor.data.count / 4 + (tensor.data.count % 4 == 0 ? 0 : 1)
            text += "/* \(tensor.name): \(tensor.shape), \(tensor.encoding) */\n"
            text += "#define \(name)_COUNT \(tensor.values.count)u\n"
            text += "#define \(name)_RANK \(tensor.shape.rank)u\n"
            text += "#define \(name)_BITS \(tensor.encoding.bitsPerValue)u\n"
            text += "#define \(name)_WORDS \(words)u\n"
            text += "static const uint32_t \(name)_SHAPE[] BMQ_UNUSED = {\(tensor.shape.dims.map { "\($0)u" }.joined(separator: ", "))\(tensor.shape.rank == 0 ? "0u" : "")};\n"
            switch tensor.encoding {
            case .float32:
                text += "#define \(name)_ENCODING 0 /* float32 bit patterns */\n"
            case let .pattern(pattern, _):
                text += "#define \(name)_ENCODING 1 /* bit pattern \(pattern.label)\(pattern.picture.map { " (\($0))" } ?? "") */\n"
                text += "#define \(name)_TOTAL_BITS \(pattern.totalBits)u\n"
                text += "#define \(name)_SHIFT \(pattern.shift)\n"
                text += "/* magnitude = sum over stored magnitude bits b (MSB first) of 2^-(POSITIONS[b] + SHIFT) */\n"
                text += "static const uint8_t \(name)_POSITIONS[] BMQ_UNUSED = {\(pattern.storedPositions.map { "\($0)u" }.joined(separator: ", "))};\n"
            case let .scaledInteger(_, scales):
                text += "#define \(name)_ENCODING 2 /* sign-magnitude integer times a float scale */\n"
                text += "static const float \(name)_SCALES[] BMQ_UNUSED = {\(scales.map { "\(String(format: "%.9g", $0))f" }.joined(separator: ", "))};\n"
            }
            var bytes = tensor.data
            while bytes.count % 4 != 0 { bytes.append(0) }
            let hexWords = stride(from: 0, to: bytes.count, by: 4).map { index -> String in
                let word = UInt32(bytes[index]) | UInt32(bytes[index + 1]) << 8 | UInt32(bytes[index + 2]) << 16 | UInt32(bytes[index + 3]) << 24
                return "0x" + String(word, radix: 16).leftPadded(to: 8)
            }
            text += "static const uint32_t \(name)_DATA[] BMQ_UNUSED = {\n"
            for chunk in stride(from: 0, to: hexWords.count, by: 8) {
                text += "    " + hexWords[chunk..<min(chunk + 8, hexWords.count)].joined(separator: ", ") + ",\n"
            }
            if hexWords.isEmpty { text += "    0u\n" }
            text += "};\n\n"
        }
        return text + "#endif /* \(guardName) */\n"
    }
}

extension String {
    func leftPadded(to width: Int) -> String { String(repeating: "0", count: max(0, width - count)) + self }
}
