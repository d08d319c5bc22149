import Foundation
import SwiftProtobuf
import TensorGraph

/// Decodes Caffe's text format with errors that name the file and line.
///
/// swift-protobuf's text decoder reports only an error kind, so positions are found here:
/// a lexical pass catches unterminated strings, stray braces and truncation directly, and a
/// semantic failure is located by bisecting over line prefixes (each closed with the braces
/// still open), which finds the first line whose content the schema rejects.
enum PrototxtText {
    static func decodeNet(_ data: Data, file: String) throws -> Caffe_NetParameter {
        guard !data.allSatisfy({ $0 == 0x20 || $0 == 0x0A || $0 == 0x0D || $0 == 0x09 }) else {
            throw FormatError(file: file, "the file is empty: expected a Caffe net definition")
        }
        guard let text = String(data: data, encoding: .utf8) else {
            let offset = firstInvalidUTF8Offset(data)
            throw FormatError(file: file, line: lineNumber(ofByte: offset, in: data),
                              "not a text file (invalid UTF-8 at byte \(offset)); a binary .caffemodel holds weights, not a network definition")
        }
        let lines = text.components(separatedBy: "\n")
        let depths = try scanDepths(lines, file: file)
        do {
            return try Caffe_NetParameter(textFormatString: text)
        } catch {
            let line = firstFailingLine(lines, depths: depths)
            let source = line.map { lines[$0 - 1].trimmingCharacters(in: .whitespaces) } ?? ""
            let what = describe(error)
            if let solver = solverHint(lines) { throw FormatError(file: file, solver) }
            throw FormatError(file: file, line: line, source.isEmpty ? what : "\(what): `\(source)`")
        }
    }

    /// Names the text-format error kind in words.
    static func describe(_ error: Error) -> String {
        guard let error = error as? TextFormatDecodingError else { return "cannot be parsed (\(error))" }
        switch error {
        case .unknownField: return "unknown field for this message"
        case .unrecognizedEnumValue: return "unknown enum value"
        case .malformedNumber: return "malformed number"
        case .truncated: return "text ends too early"
        case .invalidUTF8: return "invalid UTF-8 in a string"
        case .schemaMismatch: return "value of the wrong kind for this field"
        case .messageDepthLimit: return "blocks nested too deeply"
        default: return "malformed text"
        }
    }

    /// A solver prototxt parses as a net with unknown fields; recognise it and say so.
    static func solverHint(_ lines: [String]) -> String? {
        let solverKeys = ["base_lr", "lr_policy", "max_iter", "solver_mode", "snapshot_prefix", "test_iter", "net:", "train_net"]
        let topLevel = lines.map { $0.trimmingCharacters(in: .whitespaces) }
        let hits = topLevel.filter { line in solverKeys.contains { line.hasPrefix($0) } }.count
        guard hits >= 2 else { return nil }
        return "this looks like a solver definition, not a net; pass the net prototxt it names in its `net:` field"
    }

    /// The 1-based line of `name: "NAME"` directly inside a top-level block (a layer's own name,
    /// not a parameter's), or nil.
    static func line(ofLayer name: String, in text: String) -> Int? {
        let lines = text.components(separatedBy: "\n")
        guard let depths = try? scanDepths(lines, file: "") else { return nil }
        let quoted = ["\"\(name)\"", "'\(name)'"]
        for (index, line) in lines.enumerated() where (index == 0 ? 0 : depths[index - 1]) == 1 {
            let trimmed = line.trimmingCharacters(in: .whitespaces)
            guard trimmed.hasPrefix("name") else { continue }
            let value = trimmed.dropFirst(4).drop { $0 == " " || $0 == ":" || $0 == "\t" }
            if quoted.contains(where: { value.hasPrefix($0) }) { return index + 1 }
        }
        return nil
    }

    /// Returns the block depth at the end of every line, or throws on lexical errors.
    static func scanDepths(_ lines: [String], file: String) throws -> [Int] {
        var depth = 0
        var openedAt: [Int] = []
        var depths: [Int] = []
        depths.reserveCapacity(lines.count)
        for (index, line) in lines.enumerated() {
            let lineNumber = index + 1
            var quote: Character?
            var escaped = false
            for character in line {
                if let open = quote {
                    if escaped { escaped = false } else if character == "\\" { escaped = true } else if character == open { quote = nil }
                    continue
                }
                switch character {
                case "#": break
                case "\"", "'": quote = character; continue
                case "{", "<": depth += 1; openedAt.append(lineNumber); continue
                case "}", ">":
                    guard depth > 0 else { throw FormatError(file: file, line: lineNumber, "unexpected '\(character)' with no block open") }
                    depth -= 1; openedAt.removeLast(); continue
                default: continue
                }
                break  // a comment runs to the end of the line
            }
            if quote != nil { throw FormatError(file: file, line: lineNumber, "unterminated string") }
            depths.append(depth)
        }
        if let open = openedAt.last {
            throw FormatError(file: file, line: lines.count,
                              "the file ends inside the block opened at line \(open) (truncated?)")
        }
        return depths
    }

    /// The 1-based number of the first line whose prefix no longer decodes, by bisection.
    static func firstFailingLine(_ lines: [String], depths: [Int]) -> Int? {
        func decodes(_ count: Int) -> Bool {
            guard count > 0 else { return true }
            let prefix = lines[0..<count].joined(separator: "\n") + "\n" + String(repeating: "}\n", count: depths[count - 1])
            return (try? Caffe_NetParameter(textFormatString: prefix)) != nil
        }
        guard !decodes(lines.count) else { return nil }
        var low = 0, high = lines.count  // decodes(low) holds, decodes(high) fails
        while high - low > 1 {
            let mid = (low + high) / 2
            if decodes(mid) { low = mid } else { high = mid }
        }
        return high
    }

    static func firstInvalidUTF8Offset(_ data: Data) -> Int {
        let bytes = [UInt8](data)
        var index = 0
        while index < bytes.count {
            let byte = bytes[index]
            let length: Int
            switch byte {
            case 0x00...0x7F: length = 1
            case 0xC2...0xDF: length = 2
            case 0xE0...0xEF: length = 3
            case 0xF0...0xF4: length = 4
            default: return index
            }
            guard index + length <= bytes.count,
                  bytes[(index + 1)..<(index + length)].allSatisfy({ $0 & 0xC0 == 0x80 }) else { return index }
            if String(bytes: bytes[index..<(index + length)], encoding: .utf8) == nil { return index }
            index += length
        }
        return index
    }

    static func lineNumber(ofByte offset: Int, in data: Data) -> Int {
        data.prefix(offset).reduce(1) { $0 + ($1 == 0x0A ? 1 : 0) }
    }
}
