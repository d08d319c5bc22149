import Foundation

/// File helpers shared by every format.
public enum FileIO {
    /// Reads a whole file, with an error that names it.
    public static func read(_ url: URL) throws -> Data {
        do {
            return try Data(contentsOf: url)
        } catch {
            let reason = FileManager.default.fileExists(atPath: url.path) ? "cannot be read" : "no such file"
            throw FormatError(file: url.path, reason)
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

    /// Throws unless a file can be written at `url`: its folder exists and is writable, and `url`
    /// is not a folder. Lets a long command refuse a bad output name before it starts.
    public static func checkWritable(_ url: URL) throws {
        let folder = url.deletingLastPathComponent()
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: folder.path, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw FormatError(file: url.path, "cannot be written: the folder \(folder.path) does not exist")
        }
        guard access(folder.path, W_OK) == 0 else { throw FormatError(file: url.path, "cannot be written: the folder is not writable") }
        if FileManager.default.fileExists(atPath: url.path, isDirectory: &isDirectory), isDirectory.boolValue {
            throw FormatError(file: url.path, "is a folder; give a file name")
        }
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
            throw FormatError(file: folder.path, "cannot be created: the folder \(parent.path) does not exist")
        }
        guard access(parent.path, W_OK) == 0 else { throw FormatError(file: folder.path, "cannot be created: \(parent.path) is not writable") }
    }

    /// Writes `data` to a temporary file beside `url`, then renames it into place,
    /// so a failure never leaves a half-written output.
    public static func writeAtomically(_ data: Data, to url: URL) throws {
        let directory = url.deletingLastPathComponent()
        let temporary = directory.appendingPathComponent(".\(url.lastPathComponent).\(UUID().uuidString).tmp")
        do {
            try data.write(to: temporary)
        } catch {
            try? FileManager.default.removeItem(at: temporary)
            throw FormatError(file: url.path, "cannot be written: \(error.localizedDescription)")
        }
        do {
            try rename(temporary, to: url)
        } catch {
            try? FileManager.default.removeItem(at: temporary)
            throw error
        }
    }

    /// Moves a finished temporary file over `url` with rename(2), atomic within one file system.
    public static func rename(_ temporary: URL, to url: URL) throws {
        guard Foundation.rename(temporary.path, url.path) == 0 else {
            throw FormatError(file: url.path, "cannot be written: \(String(cString: strerror(errno)))")
        }
    }
}
