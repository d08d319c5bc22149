/// A problem with a file's contents, always naming the file.
public struct FormatError: Error, Equatable, CustomStringConvertible {
    /// The file at fault, as given.
    public var file: String
    /// 1-based line for text formats, when known.
    public var line: Int?
    /// What is wrong, without the file name.
    public var message: String

    /// An error about `file` (at `line` for text formats).
    public init(file: String, line: Int? = nil, _ message: String) {
        self.file = file
        self.line = line
        self.message = message
    }

    public var description: String {
        if let line { return "\(file):\(line): \(message)" }
        return "\(file): \(message)"
    }
}
