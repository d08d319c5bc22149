import CLMDB
import CLevelDB
import Foundation
import TensorGraph

/// The two databases Caffe keeps Datum records in, read in key order and written the way
/// Caffe's convert tools write them.
public enum KeyValueStore {
    /// The values of the LMDB database in folder `url` in key order, the first `limit` or all.
    /// - Throws: `FormatError` naming the folder when it cannot be opened or read.
    static func readLMDB(_ url: URL, limit: Int? = nil, _ body: (UnsafeRawBufferPointer) throws -> Void) throws {
        var environment: OpaquePointer?
        try check(mdb_env_create(&environment), url)
        defer { mdb_env_close(environment) }
        // Read-only, without the lock file when the folder cannot take one (as Caffe retries).
        var status = mdb_env_open(environment, url.path, UInt32(MDB_RDONLY | MDB_NOTLS), 0o664)
        if status == EACCES || status == EROFS {
            status = mdb_env_open(environment, url.path, UInt32(MDB_RDONLY | MDB_NOTLS | MDB_NOLOCK), 0o664)
        }
        try check(status, url)
        var transaction: OpaquePointer?
        try check(mdb_txn_begin(environment, nil, UInt32(MDB_RDONLY), &transaction), url)
        defer { mdb_txn_abort(transaction) }
        var database = MDB_dbi()
        try check(mdb_dbi_open(transaction, nil, 0, &database), url)
        var cursor: OpaquePointer?
        try check(mdb_cursor_open(transaction, database, &cursor), url)
        defer { mdb_cursor_close(cursor) }
        var key = MDB_val(), value = MDB_val()
        var operation = MDB_FIRST
        var remaining = limit ?? Int.max
        while remaining > 0 {
            remaining -= 1
            let found = mdb_cursor_get(cursor, &key, &value, operation)
            if found == MDB_NOTFOUND { break }
            try check(found, url)
            try body(UnsafeRawBufferPointer(start: value.mv_data, count: value.mv_size))
            operation = MDB_NEXT
        }
    }

    /// The values of the LevelDB database in folder `url` in key order, the first `limit` or all.
    /// - Throws: `FormatError` naming the folder when it cannot be opened or read.
    static func readLevelDB(_ url: URL, limit: Int? = nil, _ body: (UnsafeRawBufferPointer) throws -> Void) throws {
        let options = leveldb_options_create()
        defer { leveldb_options_destroy(options) }
        leveldb_options_set_create_if_missing(options, 0)
        leveldb_options_set_max_open_files(options, 100)
        var error: UnsafeMutablePointer<CChar>?
        let database = leveldb_open(options, url.path, &error)
        try checkLevelDB(error, url)
        guard let database else { throw FormatError(file: url.path, "LevelDB cannot open it") }
        defer { leveldb_close(database) }
        let readOptions = leveldb_readoptions_create()
        defer { leveldb_readoptions_destroy(readOptions) }
        leveldb_readoptions_set_fill_cache(readOptions, 0)
        let iterator = leveldb_create_iterator(database, readOptions)
        defer { leveldb_iter_destroy(iterator) }
        leveldb_iter_seek_to_first(iterator)
        var remaining = limit ?? Int.max
        while remaining > 0, leveldb_iter_valid(iterator) != 0 {
            remaining -= 1
            var length = 0
            let value = leveldb_iter_value(iterator, &length)
            try body(UnsafeRawBufferPointer(start: value, count: length))
            leveldb_iter_next(iterator)
        }
        leveldb_iter_get_error(iterator, &error)
        try checkLevelDB(error, url)
    }

    /// Writes `count` records, keyed by their zero-padded index (`%08d`, as Caffe's convert
    /// tools key them), into a new LMDB folder `url`.
    static func writeLMDB(_ url: URL, count: Int, record: (Int) throws -> Data) throws {
        var environment: OpaquePointer?
        try check(mdb_env_create(&environment), url)
        defer { mdb_env_close(environment) }
        // The map only reserves address space; the file grows as records are written.
        try check(mdb_env_set_mapsize(environment, 1 << 40), url)
        try check(mdb_env_open(environment, url.path, 0, 0o664), url)
        var index = 0
        while index < count {
            var transaction: OpaquePointer?
            try check(mdb_txn_begin(environment, nil, 0, &transaction), url)
            var committed = false
            defer { if !committed { mdb_txn_abort(transaction) } }
            var database = MDB_dbi()
            try check(mdb_dbi_open(transaction, nil, 0, &database), url)
            let end = min(count, index + 1000)
            for item in index..<end {
                var keyBytes = Array(key(item).utf8)
                var value = try record(item)
                try keyBytes.withUnsafeMutableBytes { keyBuffer in
                    try value.withUnsafeMutableBytes { valueBuffer in
                        var k = MDB_val(mv_size: keyBuffer.count, mv_data: keyBuffer.baseAddress)
                        var v = MDB_val(mv_size: valueBuffer.count, mv_data: valueBuffer.baseAddress)
                        try check(mdb_put(transaction, database, &k, &v, 0), url)
                    }
                }
            }
            committed = true
            try check(mdb_txn_commit(transaction), url)
            index = end
        }
    }

    /// Writes `count` records keyed as ``writeLMDB(_:count:record:)`` does into a new LevelDB folder `url`.
    static func writeLevelDB(_ url: URL, count: Int, record: (Int) throws -> Data) throws {
        let options = leveldb_options_create()
        defer { leveldb_options_destroy(options) }
        leveldb_options_set_create_if_missing(options, 1)
        leveldb_options_set_error_if_exists(options, 1)
        leveldb_options_set_write_buffer_size(options, 256 << 20)
        var error: UnsafeMutablePointer<CChar>?
        let database = leveldb_open(options, url.path, &error)
        try checkLevelDB(error, url)
        guard let database else { throw FormatError(file: url.path, "LevelDB cannot create it") }
        defer { leveldb_close(database) }
        let writeOptions = leveldb_writeoptions_create()
        defer { leveldb_writeoptions_destroy(writeOptions) }
        var index = 0
        while index < count {
            let batch = leveldb_writebatch_create()
            defer { leveldb_writebatch_destroy(batch) }
            let end = min(count, index + 1000)
            for item in index..<end {
                let keyBytes = Array(key(item).utf8)
                let value = try record(item)
                keyBytes.withUnsafeBytes { keyBuffer in
                    value.withUnsafeBytes { valueBuffer in
                        leveldb_writebatch_put(batch, keyBuffer.baseAddress?.assumingMemoryBound(to: CChar.self), keyBuffer.count,
                                               valueBuffer.baseAddress?.assumingMemoryBound(to: CChar.self), valueBuffer.count)
                    }
                }
            }
            leveldb_write(database, writeOptions, batch, &error)
            try checkLevelDB(error, url)
            index = end
        }
    }

    static func key(_ index: Int) -> String {
        let digits = String(index)
        return String(repeating: "0", count: max(0, 8 - digits.count)) + digits
    }

    static func check(_ status: Int32, _ url: URL) throws {
        guard status != 0 else { return }
        throw FormatError(file: url.path, "LMDB: " + String(cString: mdb_strerror(status)))
    }

    static func checkLevelDB(_ error: UnsafeMutablePointer<CChar>?, _ url: URL) throws {
        guard let error else { return }
        let message = String(cString: error)
        leveldb_free(error)
        throw FormatError(file: url.path, "LevelDB: " + message)
    }
}
