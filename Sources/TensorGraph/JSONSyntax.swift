import Foundation

/// Finds where JSON text stops being JSON, for errors that give a line and column (Foundation's
/// decoder says only that the data is not valid JSON).
public enum JSONSyntax {
    /// The first syntax error: its 1-based line and column and what was expected; nil for valid JSON.
    public static func firstError(in data: Data) -> (line: Int, column: Int, message: String)? {
        var scanner = Scanner(bytes: [UInt8](data))
        do {
            scanner.skipSpace()
            try scanner.value(depth: 0)
            scanner.skipSpace()
            if scanner.index < scanner.bytes.count { throw Failure(message: "unexpected text after the JSON value") }
            return nil
        } catch let failure as Failure {
            let (line, column) = scanner.position()
            return (line, column, failure.message)
        } catch {
            return nil
        }
    }

    struct Failure: Error {
        var message: String
    }

    struct Scanner {
        let bytes: [UInt8]
        var index = 0

        init(bytes: [UInt8]) { self.bytes = bytes }

        var current: UInt8? { index < bytes.count ? bytes[index] : nil }

        mutating func skipSpace() {
            while let byte = current, [0x20, 0x09, 0x0A, 0x0D].contains(byte) { index += 1 }
        }

        func position() -> (Int, Int) {
            var line = 1, column = 1
            for byte in bytes[0..<min(index, bytes.count)] {
                if byte == 0x0A { (line, column) = (line + 1, 1) } else { column += 1 }
            }
            return (line, column)
        }

        mutating func expect(_ byte: UInt8, _ what: String) throws {
            guard current == byte else { throw Failure(message: "expected \(what)") }
            index += 1
        }

        mutating func value(depth: Int) throws {
            guard depth < 512 else { throw Failure(message: "nested too deeply") }
            guard let byte = current else { throw Failure(message: "the text ends where a value should be") }
            switch byte {
            case UInt8(ascii: "{"):
                index += 1
                skipSpace()
                if current == UInt8(ascii: "}") { index += 1; return }
                while true {
                    skipSpace()
                    guard current == UInt8(ascii: "\"") else { throw Failure(message: "expected a quoted key") }
                    try string()
                    skipSpace()
                    try expect(UInt8(ascii: ":"), "':' after the key")
                    skipSpace()
                    try value(depth: depth + 1)
                    skipSpace()
                    if current == UInt8(ascii: ",") { index += 1; continue }
                    try expect(UInt8(ascii: "}"), "',' or '}'")
                    return
                }
            case UInt8(ascii: "["):
                index += 1
                skipSpace()
                if current == UInt8(ascii: "]") { index += 1; return }
                while true {
                    skipSpace()
                    try value(depth: depth + 1)
                    skipSpace()
                    if current == UInt8(ascii: ",") { index += 1; continue }
                    try expect(UInt8(ascii: "]"), "',' or ']'")
                    return
                }
            case UInt8(ascii: "\""):
                try string()
            case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"):
                try number()
            default:
                for word in ["true", "false", "null"] where bytes[index...].starts(with: word.utf8) {
                    index += word.utf8.count
                    return
                }
                throw Failure(message: "expected a value")
            }
        }

        mutating func string() throws {
            index += 1
            while let byte = current {
                index += 1
                if byte == UInt8(ascii: "\"") { return }
                if byte == UInt8(ascii: "\\") {
                    guard current != nil else { break }
                    index += 1
                } else if byte < 0x20 {
                    index -= 1
                    throw Failure(message: "a control character inside a string")
                }
            }
            throw Failure(message: "unterminated string")
        }

        static let digits = UInt8(ascii: "0")...UInt8(ascii: "9")

        mutating func digitRun() throws {
            guard let first = current, Self.digits.contains(first) else { throw Failure(message: "expected a digit") }
            while let byte = current, Self.digits.contains(byte) { index += 1 }
        }

        /// -? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?
        mutating func number() throws {
            if current == UInt8(ascii: "-") { index += 1 }
            if current == UInt8(ascii: "0") { index += 1 } else { try digitRun() }
            if current == UInt8(ascii: ".") {
                index += 1
                try digitRun()
            }
            if current == UInt8(ascii: "e") || current == UInt8(ascii: "E") {
                index += 1
                if current == UInt8(ascii: "+") || current == UInt8(ascii: "-") { index += 1 }
                try digitRun()
            }
        }
    }
}
