import Dispatch
import Foundation

/// A pointer that may cross into worker threads; callers guarantee disjoint writes.
struct SharedPointer<T>: @unchecked Sendable {
    let base: UnsafeMutablePointer<T>
    init(_ base: UnsafeMutablePointer<T>) { self.base = base }
}

struct SharedConstPointer<T>: @unchecked Sendable {
    let base: UnsafePointer<T>
    init(_ base: UnsafePointer<T>) { self.base = base }
}

public enum Parallel {
    /// Worker count for the loops bmq runs itself (BLAS has its own threads).
    public static let workers = max(1, ProcessInfo.processInfo.activeProcessorCount)

    /// Items per chunk that make splitting a cheap kernel worth its thread hand-off (a few
    /// microseconds): `itemSize` values each, about 32 Ki values per chunk.
    static func minimumChunk(itemSize: Int) -> Int { max(1, (1 << 15) / max(1, itemSize)) }

    /// Set on a thread whose kernels must not spread further (it is already one of several workers).
    private static let serialKey: pthread_key_t = {
        var key = pthread_key_t()
        pthread_key_create(&key, nil)
        return key
    }()

    static var isSerial: Bool { pthread_getspecific(serialKey) != nil }

    /// Runs `body(i)` for i in 0..<count on all cores, one whole item per worker at a time, with
    /// the kernels inside each item single-threaded: for independent forward passes (separate
    /// batches), which parallelise better whole than kernel by kernel.
    public static func map<T: Sendable>(_ count: Int, _ body: @Sendable (Int) throws -> T) throws -> [T] {
        let results = ResultSlots<T>(count)
        DispatchQueue.concurrentPerform(iterations: count) { index in
            let previous = pthread_getspecific(serialKey)
            pthread_setspecific(serialKey, UnsafeRawPointer(bitPattern: 1))
            defer { pthread_setspecific(serialKey, previous) }
            results.set(index, Result { try body(index) })
        }
        return try results.values()
    }

    /// 0..<count in consecutive rounds of one item per worker, for `map` over items whose
    /// results are wanted round by round (progress, stopping early).
    public static func rounds(_ count: Int) -> [Range<Int>] {
        stride(from: 0, to: count, by: workers).map { $0..<min($0 + workers, count) }
    }

    /// Splits 0..<count into one contiguous range per worker, at least `minimumPerChunk` items
    /// each, and runs `body` on each concurrently.
    static func forEachWorker(_ count: Int, minimumPerChunk: Int = 1, _ body: @Sendable (Range<Int>) -> Void) {
        let chunks = isSerial ? 1 : min(workers, max(1, count / max(1, minimumPerChunk)))
        if chunks <= 1 {
            body(0..<count)
            return
        }
        DispatchQueue.concurrentPerform(iterations: chunks) { chunk in
            body((chunk * count / chunks)..<((chunk + 1) * count / chunks))
        }
    }

    /// Runs `body(i)` for i in 0..<count, spread over the cores in contiguous chunks.
    /// `body` must only write memory that belongs to its own index.
    static func forEach(_ count: Int, minimumPerChunk: Int = 1, _ body: @Sendable (Int) -> Void) {
        let chunks = isSerial ? 1 : min(workers, max(1, count / max(1, minimumPerChunk)))
        if chunks <= 1 {
            for index in 0..<count { body(index) }
            return
        }
        DispatchQueue.concurrentPerform(iterations: chunks) { chunk in
            let start = chunk * count / chunks
            let end = (chunk + 1) * count / chunks
            for index in start..<end { body(index) }
        }
    }
}

/// One result slot per concurrent item; each item writes only its own slot.
private final class ResultSlots<T>: @unchecked Sendable {
    private var slots: [Result<T, Error>?]
    private let lock = NSLock()

    init(_ count: Int) { slots = Array(repeating: nil, count: count) }

    func set(_ index: Int, _ result: Result<T, Error>) {
        lock.lock()
        slots[index] = result
        lock.unlock()
    }

    func values() throws -> [T] { try slots.map { try ($0 ?? .failure(CancellationError())).get() } }
}
