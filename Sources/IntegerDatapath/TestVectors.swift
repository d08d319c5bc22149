import Foundation
import Quantization
import TensorGraph

/// RTL test vectors (`formats/datapath/SPEC.md`, section 12): the quantized input and every
/// layer's integer output, one `$readmemh` file per value, with a manifest.
public struct VectorManifest: Sendable, Equatable, Codable {
    /// One file of values.
    public struct Entry: Sendable, Equatable, Codable {
        /// The layer that writes the value (the input's name for the input).
        public var layer: String
        /// The layer's type (`Input` for the input).
        public var type: String
        /// The file, relative to the manifest.
        public var file: String
        /// The shape of one image's values, row-major.
        public var shape: [Int]
        /// Total bits of each value (two's complement when signed).
        public var bits: Int
        /// Fractional bits: a value `q` stands for `q × 2^-fraction`.
        public var fraction: Int
        /// Whether values are two's complement.
        public var signed: Bool
    }

    /// The datapath specification version the values follow.
    public var specification: String
    /// Images in every file, one after another.
    public var images: Int
    /// Each image's label.
    public var labels: [Int]
    /// Each image's predicted class (the lowest index among the largest scores).
    public var predictions: [Int]
    /// The input first, then every layer in execution order.
    public var values: [Entry]
}

/// Writes and checks test vectors.
public enum TestVectors {
    /// A value as `$readmemh` text: two's complement in `bits` bits, `ceil(bits / 4)` lowercase hex digits.
    public static func hex(_ value: Int32, bits: Int) -> String {
        let masked = UInt64(bitPattern: Int64(value)) & ((UInt64(1) << bits) - 1)
        let text = String(masked, radix: 16)
        return String(repeating: "0", count: max(0, (bits + 3) / 4 - text.count)) + text
    }

    /// The value a `$readmemh` line stands for in `bits` bits.
    /// - Throws: `FormatError` naming the file and line when the text is not such a value.
    public static func parse(_ line: Substring, bits: Int, signed: Bool, file: String, line number: Int) throws -> Int32 {
        let text = line.trimmingCharacters(in: .whitespaces)
        guard !text.isEmpty, text.count <= (bits + 3) / 4, let raw = UInt64(text, radix: 16), raw < (UInt64(1) << bits) else {
            throw FormatError(file: file, line: number, "'\(text)' is not a \(bits)-bit hex value")
        }
        let value = signed && raw >= (UInt64(1) << (bits - 1)) ? Int64(raw) - Int64(1 << bits) : Int64(raw)
        return Int32(truncatingIfNeeded: value)
    }

    /// The file name of a traced value.
    static func fileName(_ layer: String) -> String {
        String(layer.map { $0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" ? $0 : "_" }) + ".hex"
    }

    /// Writes the vectors of `inputs` (one array of quantized values per image) into `directory`.
    /// - Throws: `FormatError` naming a file that cannot be written.
    public static func write(_ program: IntegerProgram, inputs: [[Int32]], labels: [Int], to directory: URL) throws -> VectorManifest {
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let entries = program.traced.map {
            VectorManifest.Entry(layer: $0.layer, type: $0.type, file: fileName($0.layer), shape: $0.shape, bits: $0.format.bits,
                                 fraction: $0.format.fraction, signed: $0.format.signed)
        }
        let temporary = entries.map { FileIO.temporaryName(for: directory.appendingPathComponent($0.file)) }
        temporary.forEach(TemporaryOutputs.register)
        var handles: [FileHandle] = []
        defer {
            for handle in handles { try? handle.close() }
            for url in temporary {
                try? FileManager.default.removeItem(at: url)
                TemporaryOutputs.unregister(url)
            }
        }
        for url in temporary {
            guard FileManager.default.createFile(atPath: url.path, contents: nil), let handle = try? FileHandle(forWritingTo: url) else {
                throw FormatError(file: url.path, "cannot be written")
            }
            handles.append(handle)
        }
        var predictions: [Int] = []
        var buffers = [String](repeating: "", count: entries.count)
        for (image, input) in inputs.enumerated() {
            let values = program.trace(input)
            predictions += program.predictions(program.scores(of: values))
            for (index, entry) in entries.enumerated() {
                for value in values[index] { buffers[index] += hex(value, bits: entry.bits) + "\n" }
                if image % 16 == 15 || image == inputs.count - 1 {
                    try handles[index].write(contentsOf: Data(buffers[index].utf8))
                    buffers[index] = ""
                }
            }
        }
        for (url, entry) in zip(temporary, entries) { try FileIO.rename(url, to: directory.appendingPathComponent(entry.file)) }
        let manifest = VectorManifest(specification: DatapathContract.specification, images: inputs.count, labels: labels,
                                      predictions: predictions, values: entries)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        try FileIO.writeAtomically(try encoder.encode(manifest), to: directory.appendingPathComponent("manifest.json"))
        return manifest
    }

    /// What checking a vectors directory found.
    public struct CheckResult: Sendable {
        /// Images checked.
        public var images: Int
        /// Values that differ from what the datapath computes, over every file.
        public var mismatches: Int
        /// Where the first difference is, with both values.
        public var firstMismatch: String?
    }

    /// Recomputes every layer from the directory's input vectors and compares each file.
    /// - Throws: `FormatError` naming the file (and line) that is missing, malformed or does not
    ///   fit the program.
    public static func check(_ program: IntegerProgram, directory: URL) throws -> CheckResult {
        let manifestURL = directory.appendingPathComponent("manifest.json")
        let manifest: VectorManifest
        do {
            manifest = try JSONDecoder().decode(VectorManifest.self, from: try FileIO.read(manifestURL))
        } catch let error as FormatError {
            throw error
        } catch {
            throw FormatError(file: manifestURL.path, "not a vectors manifest: \(error)")
        }
        let expected = program.traced.map { ($0.layer, $0.shape, $0.format) }
        let found = manifest.values.map { ($0.layer, $0.shape, FixedPointFormat(bits: $0.bits, fraction: $0.fraction, signed: $0.signed)) }
        guard expected.count == found.count, zip(expected, found).allSatisfy({ $0.0 == $1.0 && $0.1 == $1.1 && $0.2 == $1.2 }) else {
            throw FormatError(file: manifestURL.path, "its layers, shapes or formats are not this model's datapath")
        }
        let files = try manifest.values.map { entry -> [Int32] in
            let url = directory.appendingPathComponent(entry.file)
            let text = String(decoding: try FileIO.read(url), as: UTF8.self)
            var values: [Int32] = []
            for (number, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
                if line.isEmpty || line.hasPrefix("//") { continue }
                values.append(try parse(line, bits: entry.bits, signed: entry.signed, file: url.path, line: number + 1))
            }
            let perImage = entry.shape.reduce(1, *)
            guard values.count == perImage * manifest.images else {
                throw FormatError(file: url.path, "holds \(values.count) values; \(manifest.images) images of \(entry.shape) need \(perImage * manifest.images)")
            }
            return values
        }
        var mismatches = 0
        var first: String?
        let inputCount = manifest.values[0].shape.reduce(1, *)
        for image in 0..<manifest.images {
            let computed = program.trace(Array(files[0][(image * inputCount)..<((image + 1) * inputCount)]))
            for (index, entry) in manifest.values.enumerated().dropFirst() {
                let perImage = entry.shape.reduce(1, *)
                for offset in 0..<perImage where files[index][image * perImage + offset] != computed[index][offset] {
                    mismatches += 1
                    if first == nil {
                        first = "\(entry.file):\(image * perImage + offset + 1): \(hex(files[index][image * perImage + offset], bits: entry.bits)) "
                            + "where the datapath computes \(hex(computed[index][offset], bits: entry.bits)) (image \(image), \(entry.layer))"
                    }
                }
            }
        }
        return CheckResult(images: manifest.images, mismatches: mismatches, firstMismatch: first)
    }
}
