import Foundation

enum Terminal {
    static func warn(_ message: String) {
        FileHandle.standardError.write(Data("warning: \(message)\n".utf8))
    }

    static func printJSON<T: Encodable>(_ value: T) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        print(String(decoding: try encoder.encode(value), as: UTF8.self))
    }

    static var stderrIsTerminal: Bool { isatty(FileHandle.standardError.fileDescriptor) != 0 }
}

/// A progress line on stderr: redrawn in place on a terminal, silent in a pipe.
final class ProgressLine: @unchecked Sendable {
    let label: String
    let enabled: Bool
    private var lastDraw = Date.distantPast

    init(label: String, enabled: Bool = true) {
        self.label = label
        self.enabled = enabled && Terminal.stderrIsTerminal
    }

    func update(_ done: Int, _ total: Int) {
        guard enabled, Date().timeIntervalSince(lastDraw) > 0.1 || done == total else { return }
        lastDraw = Date()
        let width = 30
        let filled = total > 0 ? width * done / total : width
        let bar = String(repeating: "#", count: filled) + String(repeating: ".", count: width - filled)
        FileHandle.standardError.write(Data("\r\(label) [\(bar)] \(done)/\(total)".utf8))
    }

    func finish() {
        guard enabled else { return }
        FileHandle.standardError.write(Data("\r\u{1B}[K".utf8))
    }
}
