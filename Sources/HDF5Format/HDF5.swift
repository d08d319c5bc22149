import CHDF5
import Foundation

/// A failed HDF5 call, with HDF5's own message (its stderr printing is silenced).
struct HDF5Error: Error, CustomStringConvertible {
    var operation: String
    var message: String
    var description: String { message.isEmpty ? "\(operation) failed" : "\(operation) failed: \(message)" }
}

/// The thin layer every HDF5 call goes through: each status becomes a thrown `HDF5Error`.
enum HDF5 {
    /// HDF5's serial build is not thread-safe; every call into it holds this lock.
    static let lock = NSRecursiveLock()

    static let initialized: Bool = {
        H5open()
        return true
    }()

    static func call<T>(_ body: () throws -> T) rethrows -> T {
        lock.lock()
        defer { lock.unlock() }
        _ = initialized
        // Thread-safe builds (Debian's) keep the error-printing setting per thread.
        CHDF5_silence_errors()
        return try body()
    }

    /// Throws when an identifier-returning call failed (negative id).
    @discardableResult
    static func check(_ id: hid_t, _ operation: @autoclosure () -> String) throws -> hid_t {
        guard id >= 0 else { throw HDF5Error(operation: operation(), message: takeErrorMessage()) }
        return id
    }

    static func check(status: herr_t, _ operation: @autoclosure () -> String) throws {
        guard status >= 0 else { throw HDF5Error(operation: operation(), message: takeErrorMessage()) }
    }

    /// The innermost description on HDF5's error stack, which is then cleared.
    static func takeErrorMessage() -> String {
        final class Messages { var list: [String] = [] }
        let messages = Messages()
        let context = Unmanaged.passUnretained(messages).toOpaque()
        H5Ewalk2(CHDF5_E_DEFAULT(), H5E_WALK_DOWNWARD, { _, error, context in
            guard let error, let context, let text = error.pointee.desc else { return 0 }
            Unmanaged<Messages>.fromOpaque(context).takeUnretainedValue().list.append(String(cString: text))
            return 0
        }, context)
        H5Eclear2(CHDF5_E_DEFAULT())
        return messages.list.first ?? ""
    }
}

/// An open HDF5 identifier, closed with its matching close function when released.
final class HDF5Handle: @unchecked Sendable {
    let id: hid_t
    private let close: (hid_t) -> herr_t

    init(_ id: hid_t, close: @escaping (hid_t) -> herr_t) {
        self.id = id
        self.close = close
    }

    deinit { HDF5.call { _ = close(id) } }
}

/// A file opened for reading, or created (truncating) for writing.
final class HDF5File: @unchecked Sendable {
    let handle: HDF5Handle
    let path: String

    init(reading path: String) throws {
        self.path = path
        handle = try HDF5.call {
            HDF5Handle(try HDF5.check(H5Fopen(path, CHDF5_F_ACC_RDONLY(), CHDF5_P_DEFAULT()), "opening the file"), close: H5Fclose)
        }
    }

    init(creating path: String) throws {
        self.path = path
        handle = try HDF5.call {
            HDF5Handle(try HDF5.check(H5Fcreate(path, CHDF5_F_ACC_TRUNC(), CHDF5_P_DEFAULT(), CHDF5_P_DEFAULT()), "creating the file"),
                       close: H5Fclose)
        }
    }

    var root: HDF5Group { HDF5Group(handle: handle, path: "/") }

    /// Flushes everything to disk before the file is renamed into place.
    func flush() throws {
        try HDF5.call { try HDF5.check(status: H5Fflush(handle.id, H5F_SCOPE_GLOBAL), "writing the file") }
    }
}

/// A numeric dataset read as float32, with its dimensions.
struct HDF5Array {
    var dims: [Int]
    var values: [Float]
}

/// A group (or the file's root) and what can be done inside it.
struct HDF5Group: @unchecked Sendable {
    let handle: HDF5Handle
    let path: String

    func childPath(_ name: String) -> String { path == "/" ? "/\(name)" : "\(path)/\(name)" }

    func contains(_ name: String) -> Bool {
        HDF5.call { CHDF5_link_exists(handle.id, name) != 0 }
    }

    /// Member names in HDF5's name order.
    func memberNames() throws -> [String] {
        try HDF5.call {
            var info = H5G_info_t()
            try HDF5.check(status: H5Gget_info(handle.id, &info), "listing \(path)")
            return try (0..<info.nlinks).map { index in
                let length = H5Lget_name_by_idx(handle.id, ".", H5_INDEX_NAME, H5_ITER_INC, index, nil, 0, CHDF5_P_DEFAULT())
                try HDF5.check(status: herr_t(truncatingIfNeeded: min(length, 0)), "listing \(path)")
                var buffer = [CChar](repeating: 0, count: Int(length) + 1)
                _ = H5Lget_name_by_idx(handle.id, ".", H5_INDEX_NAME, H5_ITER_INC, index, &buffer, buffer.count, CHDF5_P_DEFAULT())
                return String(cString: buffer)
            }
        }
    }

    func isGroup(_ name: String) -> Bool { HDF5.call { CHDF5_member_type(handle.id, name) == H5I_GROUP } }
    func isDataset(_ name: String) -> Bool { HDF5.call { CHDF5_member_type(handle.id, name) == H5I_DATASET } }

    func group(_ name: String) throws -> HDF5Group {
        try HDF5.call {
            let id = try HDF5.check(H5Gopen2(handle.id, name, CHDF5_P_DEFAULT()), "opening group \(childPath(name))")
            return HDF5Group(handle: HDF5Handle(id, close: H5Gclose), path: childPath(name))
        }
    }

    func createGroup(_ name: String) throws -> HDF5Group {
        try HDF5.call {
            let id = try HDF5.check(H5Gcreate2(handle.id, name, CHDF5_P_DEFAULT(), CHDF5_P_DEFAULT(), CHDF5_P_DEFAULT()),
                                    "creating group \(childPath(name))")
            return HDF5Group(handle: HDF5Handle(id, close: H5Gclose), path: childPath(name))
        }
    }

    /// Reads a floating-point dataset as float32 (float64 is converted; integers are refused).
    /// - Parameter sizeLimit: the largest element count to accept, checked before allocating.
    func readFloats(_ name: String, sizeLimit: Int) throws -> HDF5Array {
        try HDF5.call {
            let where_ = childPath(name)
            let dataset = HDF5Handle(try HDF5.check(H5Dopen2(handle.id, name, CHDF5_P_DEFAULT()), "opening dataset \(where_)"), close: H5Dclose)
            let type = HDF5Handle(try HDF5.check(H5Dget_type(dataset.id), "reading the type of \(where_)"), close: H5Tclose)
            let typeClass = H5Tget_class(type.id)
            guard typeClass == H5T_FLOAT else {
                let kind = typeClass == H5T_INTEGER ? "integers" : "not floating-point numbers"
                throw HDF5Error(operation: "reading \(where_)", message: "holds \(kind); weights must be float32 or float64")
            }
            let space = HDF5Handle(try HDF5.check(H5Dget_space(dataset.id), "reading the shape of \(where_)"), close: H5Sclose)
            let rank = H5Sget_simple_extent_ndims(space.id)
            guard rank >= 0, rank <= 32 else { throw HDF5Error(operation: "reading the shape of \(where_)", message: "invalid rank \(rank)") }
            var dims = [hsize_t](repeating: 0, count: Int(rank))
            if rank > 0 { try HDF5.check(status: H5Sget_simple_extent_dims(space.id, &dims, nil), "reading the shape of \(where_)") }
            var count = 1
            for dim in dims {
                let (product, overflow) = count.multipliedReportingOverflow(by: Int(clamping: dim))
                guard !overflow, product <= sizeLimit else {
                    throw HDF5Error(operation: "reading \(where_)", message: "shape \(dims) is larger than the file can hold")
                }
                count = product
            }
            var values = [Float](repeating: 0, count: count)
            if count > 0 {
                try HDF5.check(status: H5Dread(dataset.id, CHDF5_T_NATIVE_FLOAT(), CHDF5_S_ALL(), CHDF5_S_ALL(), CHDF5_P_DEFAULT(), &values),
                               "reading \(where_)")
            }
            return HDF5Array(dims: dims.map { Int($0) }, values: values)
        }
    }

    /// How a dataset is stored in the file; values are always given as float32.
    enum StorageType {
        case float32, float64, int32
        var fileType: hid_t {
            switch self {
            case .float32: return CHDF5_T_IEEE_F32LE()
            case .float64: return CHDF5_T_IEEE_F64LE()
            case .int32: return CHDF5_T_STD_I32LE()
            }
        }
    }

    /// Writes a little-endian dataset (float32 unless `storage` says otherwise).
    func writeFloats(_ name: String, dims: [Int], values: [Float], storage: StorageType = .float32) throws {
        try HDF5.call {
            var extents = dims.map { hsize_t($0) }
            let space = HDF5Handle(try HDF5.check(H5Screate_simple(Int32(extents.count), &extents, nil), "creating \(childPath(name))"),
                                   close: H5Sclose)
            let dataset = HDF5Handle(
                try HDF5.check(H5Dcreate2(handle.id, name, storage.fileType, space.id, CHDF5_P_DEFAULT(), CHDF5_P_DEFAULT(), CHDF5_P_DEFAULT()),
                               "creating \(childPath(name))"),
                close: H5Dclose)
            if !values.isEmpty {
                try HDF5.check(status: H5Dwrite(dataset.id, CHDF5_T_NATIVE_FLOAT(), CHDF5_S_ALL(), CHDF5_S_ALL(), CHDF5_P_DEFAULT(), values),
                               "writing \(childPath(name))")
            }
        }
    }

    /// Reads a string-array attribute (fixed-length or variable-length strings), or nil when absent.
    func stringsAttribute(_ name: String) throws -> [String]? {
        try HDF5.call {
            guard H5Aexists(handle.id, name) > 0 else { return nil }
            let attribute = HDF5Handle(try HDF5.check(H5Aopen(handle.id, name, CHDF5_P_DEFAULT()), "opening attribute \(name)"), close: H5Aclose)
            let type = HDF5Handle(try HDF5.check(H5Aget_type(attribute.id), "reading attribute \(name)"), close: H5Tclose)
            guard H5Tget_class(type.id) == H5T_STRING else {
                throw HDF5Error(operation: "reading attribute \(path)@\(name)", message: "is not a list of strings")
            }
            let space = HDF5Handle(try HDF5.check(H5Aget_space(attribute.id), "reading attribute \(name)"), close: H5Sclose)
            let count = Int(H5Sget_simple_extent_npoints(space.id))
            guard count >= 0, count < 1 << 20 else { throw HDF5Error(operation: "reading attribute \(name)", message: "invalid size") }
            if H5Tis_variable_str(type.id) > 0 {
                let memory = HDF5Handle(H5Tcopy(CHDF5_T_C_S1()), close: H5Tclose)
                H5Tset_size(memory.id, Int(bitPattern: UInt(bitPattern: -1)))
                var pointers = [UnsafeMutablePointer<CChar>?](repeating: nil, count: count)
                try HDF5.check(status: H5Aread(attribute.id, memory.id, &pointers), "reading attribute \(name)")
                defer { H5Dvlen_reclaim(memory.id, space.id, CHDF5_P_DEFAULT(), &pointers) }
                return pointers.map { $0.map { String(cString: $0) } ?? "" }
            }
            let size = H5Tget_size(type.id)
            guard size > 0, size < 1 << 16 else { throw HDF5Error(operation: "reading attribute \(name)", message: "invalid string size") }
            var buffer = [UInt8](repeating: 0, count: count * size)
            try HDF5.check(status: H5Aread(attribute.id, type.id, &buffer), "reading attribute \(name)")
            return (0..<count).map { index in
                let bytes = buffer[(index * size)..<((index + 1) * size)].prefix { $0 != 0 }
                return String(decoding: bytes, as: UTF8.self)
            }
        }
    }
}
