import Foundation
#if os(Linux)
import Glibc
#endif

/// File helpers shared by every format.
public enum FileIO {
    /// Reads a whole file, with an error that names it. (Its own read loop: Foundation's
    /// `Data(contentsOf:)` leaks a buffer for every empty file on Linux.)
    public static func read(_ url: URL) throws -> Data {
        let descriptor = open(url.path, O_RDONLY)
        guard descriptor >= 0 else {
            throw FormatError(file: url.path, FileManager.default.fileExists(atPath: url.path) ? "cannot be read" : "no such file")
        }
        defer { close(descriptor) }
        var status = stat()
        guard fstat(descriptor, &status) == 0, (status.st_mode & S_IFMT) != S_IFDIR else {
            throw FormatError(file: url.path, "is a folder, not a file")
        }
        var data = Data()
        data.reserveCapacity(Int(status.st_size))
        var chunk = [UInt8](repeating: 0, count: max(4096, min(Int(status.st_size) + 1, 1 << 20)))
        while true {
            let count = chunk.withUnsafeMutableBytes { Foundation.read(descriptor, $0.baseAddress, $0.count) }
            if count < 0, errno == EINTR { continue }
            guard count >= 0 else { throw FormatError(file: url.path, "cannot be read: \(String(cString: strerror(errno)))") }
            if count == 0 { return data }
            data.append(contentsOf: chunk[0..<count])
        }
    }

    /// The first `count` bytes of a file (fewer when it is shorter), for recognising its format
    /// without reading all of it.
    public static func readHeader(_ url: URL, count: Int = 64) throws -> [UInt8] {
        guard let handle = FileHandle(forReadingAtPath: url.path) else {
            var isDirectory: ObjCBool = false
            let exists = FileManager.default.fileExists(atPath: url.path, isDirectory: &isDirectory)
            throw FormatError(file: url.path, !exists ? "no such file" : isDirectory.boolValue ? "is a directory, not a file" : "cannot be read")
        }
        defer { try? handle.close() }
        do {
            return [UInt8](try handle.read(upToCount: count) ?? Data())
        } catch {
            throw FormatError(file: url.path, "cannot be read")
        }
    }

    /// `path` as seen from `folder`: itself when absolute, else appended to the folder.
    public static func resolve(_ path: String, against folder: URL) -> URL {
        (path.hasPrefix("/") ? URL(fileURLWithPath: path) : folder.appendingPathComponent(path)).standardizedFileURL
    }

    /// Throws unless a file can be written at `url`: its folder exists and is writable, and `url`
    /// is not a folder. Lets a long command refuse a bad output name before it starts.
    public static func checkWritable(_ url: URL) throws {
        let folder = url.deletingLastPathComponent()
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: folder.path, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw FormatError(file: url.path, "cannot be written: \(missingFolder(folder))")
        }
        guard access(folder.path, W_OK) == 0 else { throw FormatError(file: url.path, "cannot be written: the folder is not writable") }
        if FileManager.default.fileExists(atPath: url.path, isDirectory: &isDirectory), isDirectory.boolValue {
            throw FormatError(file: url.path, "is a folder; give a file name")
        }
    }

    /// Why `folder` cannot hold an output: a file stands in its place, or it does not exist.
    static func missingFolder(_ folder: URL) -> String {
        FileManager.default.fileExists(atPath: folder.path) ? "\(folder.path) is a file, not a folder" : "the folder \(folder.path) does not exist"
    }

    /// Creates `folder` (and its parents) unless it exists.
    /// - Throws: `FormatError` naming the folder when it is a file or cannot be created.
    public static func createFolder(_ folder: URL) throws {
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: folder.path, isDirectory: &isDirectory) {
            guard isDirectory.boolValue else { throw FormatError(file: folder.path, "is a file, not a folder") }
            return
        }
        do {
            try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        } catch {
            let reason = ((error as NSError).userInfo[NSUnderlyingErrorKey] as? NSError).map { String(cString: strerror(Int32($0.code))) }
            throw FormatError(file: folder.path, "cannot be created: \(reason ?? "the folder above it is missing or not writable")")
        }
    }

    /// Throws unless `folder` is a writable folder, or can be created in a writable one.
    /// - Throws: `FormatError` naming the folder.
    public static func checkCreatableFolder(_ folder: URL) throws {
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: folder.path, isDirectory: &isDirectory) {
            guard isDirectory.boolValue else { throw FormatError(file: folder.path, "is a file, not a folder") }
            guard access(folder.path, W_OK) == 0 else { throw FormatError(file: folder.path, "cannot be written: the folder is not writable") }
            return
        }
        let parent = folder.deletingLastPathComponent()
        guard FileManager.default.fileExists(atPath: parent.path, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw FormatError(file: folder.path, "cannot be created: \(missingFolder(parent))")
        }
        guard access(parent.path, W_OK) == 0 else { throw FormatError(file: folder.path, "cannot be created: \(parent.path) is not writable") }
    }

    /// Writes `data` to a temporary file beside `url`, then renames it into place, so a failure
    /// never leaves a half-written output. On Linux the file has no name until it is complete
    /// (O_TMPFILE), so even a killed process leaves nothing behind.
    public static func writeAtomically(_ data: Data, to url: URL) throws {
        let directory = url.deletingLastPathComponent()
        let temporary = temporaryName(for: url)
        #if os(Linux)
        if try writeUnnamed(data, in: directory, linkingAs: temporary, for: url) {
            try renameOrRemove(temporary, to: url)
            return
        }
        #endif
        TemporaryOutputs.register(temporary)
        defer { TemporaryOutputs.unregister(temporary) }
        do {
            try data.write(to: temporary)
        } catch {
            try? FileManager.default.removeItem(at: temporary)
            throw FormatError(file: url.path, "cannot be written: \(error.localizedDescription)")
        }
        try renameOrRemove(temporary, to: url)
    }

    /// A hidden name beside `url` for its output while it is being written.
    public static func temporaryName(for url: URL) -> URL {
        url.deletingLastPathComponent().appendingPathComponent(".\(url.lastPathComponent).\(UUID().uuidString).tmp")
    }

    static func renameOrRemove(_ temporary: URL, to url: URL) throws {
        do {
            try rename(temporary, to: url)
        } catch {
            try? FileManager.default.removeItem(at: temporary)
            throw error
        }
    }

    #if os(Linux)
    /// Writes `data` to an unnamed file in `directory` and gives it the name `temporary` once
    /// complete. Returns false when the file system has no unnamed files.
    static func writeUnnamed(_ data: Data, in directory: URL, linkingAs temporary: URL, for url: URL) throws -> Bool {
        // O_TMPFILE is a compound macro Swift does not import: __O_TMPFILE | O_DIRECTORY.
        let unnamedFile: Int32 = 0o20000000 | O_DIRECTORY
        let descriptor = open(directory.path, unnamedFile | O_WRONLY, 0o666)
        guard descriptor >= 0 else { return false }
        defer { close(descriptor) }
        var written = 0
        try data.withUnsafeBytes { (bytes: UnsafeRawBufferPointer) in
            while written < bytes.count {
                let count = Glibc.write(descriptor, bytes.baseAddress! + written, bytes.count - written)
                if count < 0, errno == EINTR { continue }
                guard count > 0 else { throw FormatError(file: url.path, "cannot be written: \(String(cString: strerror(errno)))") }
                written += count
            }
        }
        guard linkat(AT_FDCWD, "/proc/self/fd/\(descriptor)", AT_FDCWD, temporary.path, AT_SYMLINK_FOLLOW) == 0 else {
            throw FormatError(file: url.path, "cannot be written: \(String(cString: strerror(errno)))")
        }
        return true
    }
    #endif

    /// Moves a finished temporary file over `url` with rename(2), atomic within one file system.
    public static func rename(_ temporary: URL, to url: URL) throws {
        guard Foundation.rename(temporary.path, url.path) == 0 else {
            throw FormatError(file: url.path, "cannot be written: \(String(cString: strerror(errno)))")
        }
    }
}

/// Outputs being written under temporary names, removed when the process is interrupted
/// (the command-line tool calls ``removeAll()`` on SIGINT, SIGTERM and SIGHUP).
public enum TemporaryOutputs {
    nonisolated(unsafe) static var paths: Set<String> = []
    static let lock = NSLock()

    /// Marks `url` for removal should the process be interrupted before it is renamed into place.
    public static func register(_ url: URL) {
        lock.withLock { _ = paths.insert(url.path) }
    }

    /// `url` was renamed into place or removed.
    public static func unregister(_ url: URL) {
        lock.withLock { _ = paths.remove(url.path) }
    }

    nonisolated(unsafe) static var interrupted = false

    /// Whether ``removeAll()`` has started: the process is being interrupted, and work failing
    /// now (its output removed under it) should wait for the interruption to end the process.
    public static var isInterrupted: Bool { lock.withLock { interrupted } }

    /// Removes every registered output (files or folders).
    public static func removeAll() {
        lock.withLock {
            interrupted = true
            for path in paths {
                // Moved aside first, so that a writer still adding files to a folder cannot refill it.
                let doomed = path + ".removing"
                let target = Foundation.rename(path, doomed) == 0 ? doomed : path
                try? FileManager.default.removeItem(atPath: target)
            }
            paths.removeAll()
        }
    }
}
