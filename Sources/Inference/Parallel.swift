import CProcessor
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
    /// Worker count for the loops bmq runs itself (BLAS has its own threads): the CPUs this
    /// process may use (under `taskset -c 0`, one), not the machine's count.
    public static let workers = Int(bmq_usable_cpus())

    /// Items per chunk that make splitting a cheap kernel worth its hand-off to `WorkerTeam`'s
    /// polling helpers (under a microsecond): `itemSize` values each, about 4 Ki values per chunk.
    static func minimumChunk(itemSize: Int) -> Int { max(1, (1 << 12) / max(1, itemSize)) }

    /// Set on a thread whose kernels must not spread further (it is already one of several workers).
    private static let serialKey: pthread_key_t = threadKey()

    static var isSerial: Bool { pthread_getspecific(serialKey) != nil }

    /// Whether `count` items (images, rows) leave cores idle while the kernels may spread: a
    /// kernel then splits the work within each item (one image's layer) instead of handing out
    /// whole items.
    static func splitsWithinItems(_ count: Int) -> Bool { count < workers && !isSerial }

    /// A new slot for one value per thread.
    private static func threadKey() -> pthread_key_t {
        var key = pthread_key_t()
        pthread_key_create(&key, nil)
        return key
    }

    /// One thread's scratch memory for the kernels, kept from call to call.
    private final class ScratchMemory {
        var pointer: UnsafeMutablePointer<Float>?
        var capacity = 0
        var inUse = false
        deinit { pointer?.deallocate() }
    }

    private static let scratchKey: pthread_key_t = {
        var key = pthread_key_t()
        pthread_key_create(&key) { memory in
            if let memory { Unmanaged<ScratchMemory>.fromOpaque(memory).release() }
        }
        return key
    }()

    /// Runs `body` with at least `count` floats of the calling thread's scratch memory (contents
    /// undefined), grown as needed and kept for the next call, so a layer's workers do not
    /// allocate their scratch afresh on every call; a nested call gets memory of its own.
    static func withScratch<T>(_ count: Int, _ body: (UnsafeMutablePointer<Float>) throws -> T) rethrows -> T {
        let memory: ScratchMemory
        if let stored = pthread_getspecific(scratchKey) {
            memory = Unmanaged<ScratchMemory>.fromOpaque(stored).takeUnretainedValue()
        } else {
            memory = ScratchMemory()
            pthread_setspecific(scratchKey, Unmanaged.passRetained(memory).toOpaque())
        }
        guard !memory.inUse else {
            let own = UnsafeMutablePointer<Float>.allocate(capacity: max(1, count))
            defer { own.deallocate() }
            return try body(own)
        }
        if memory.capacity < max(1, count) {
            memory.pointer?.deallocate()
            memory.pointer = .allocate(capacity: max(1, count))
            memory.capacity = max(1, count)
        }
        memory.inUse = true
        defer { memory.inUse = false }
        return try body(memory.pointer!)
    }

    /// Marks the calling thread for good: its kernels never spread (a helper of `WorkerTeam`).
    static func markSerial() { pthread_setspecific(serialKey, UnsafeRawPointer(bitPattern: 1)) }

    /// Runs `body` with the calling thread's kernels kept on it.
    static func runSerially<T>(_ body: () throws -> T) rethrows -> T {
        let previous = pthread_getspecific(serialKey)
        pthread_setspecific(serialKey, UnsafeRawPointer(bitPattern: 1))
        defer { pthread_setspecific(serialKey, previous) }
        return try body()
    }

    /// Runs `body(part)` for each part on its own core: on `WorkerTeam`'s helpers, or one after
    /// another on this thread when they are taken.
    static func split(_ parts: Int, _ body: (Int) -> Void) {
        let team = pthread_getspecific(teamKey).map { Unmanaged<WorkerTeam>.fromOpaque($0).takeUnretainedValue() } ?? WorkerTeam.shared
        if parts > 1, team.run(parts: parts, body) {
            pthread_setspecific(splitCountKey, UnsafeRawPointer(bitPattern: splitsOnThisThread + 1))
            return
        }
        for part in 0..<parts { body(part) }
    }

    /// Runs `body` with the calling thread's splits handed to `team` instead of the shared one
    /// (for tests: a team no other caller holds).
    static func withTeam<T>(_ team: WorkerTeam, _ body: () throws -> T) rethrows -> T {
        let previous = pthread_getspecific(teamKey)
        pthread_setspecific(teamKey, Unmanaged.passUnretained(team).toOpaque())
        defer { pthread_setspecific(teamKey, previous) }
        return try body()
    }

    private static let teamKey: pthread_key_t = threadKey()

    /// Jobs the calling thread has handed to `WorkerTeam` so far (for tests: whether a pass split).
    static var splitsOnThisThread: Int { Int(bitPattern: pthread_getspecific(splitCountKey)) }

    private static let splitCountKey: pthread_key_t = threadKey()

    /// Runs `body(i)` for i in 0..<count on all cores, one whole item per worker at a time, with
    /// the kernels inside each item single-threaded: for independent forward passes (separate
    /// batches), which parallelise better whole than kernel by kernel.
    public static func map<T: Sendable>(_ count: Int, _ body: @Sendable (Int) throws -> T) throws -> [T] {
        let results = ResultSlots<T>(count)
        let item: @Sendable (Int) -> Void = { index in runSerially { results.set(index, Result { try body(index) }) } }
        // A few items, one per core: on the worker team, which starts them sooner than waking
        // dispatch's threads does (a pass of the integer engine can take well under a millisecond);
        // while another caller holds the team, one after another here.
        if count <= workers, !isSerial {
            split(count, item)
        } else {
            DispatchQueue.concurrentPerform(iterations: count, execute: item)
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
        split(chunks) { chunk in body((chunk * count / chunks)..<((chunk + 1) * count / chunks)) }
    }

    /// Runs `body(i)` for i in 0..<count, spread over the cores in contiguous chunks.
    /// `body` must only write memory that belongs to its own index.
    static func forEach(_ count: Int, minimumPerChunk: Int = 1, _ body: @Sendable (Int) -> Void) {
        let chunks = isSerial ? 1 : min(workers, max(1, count / max(1, minimumPerChunk)))
        split(chunks) { chunk in
            for index in (chunk * count / chunks)..<((chunk + 1) * count / chunks) { body(index) }
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
