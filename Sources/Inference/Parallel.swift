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

enum Parallel {
    /// Worker count for the loops bmq runs itself (BLAS has its own threads).
    static let workers = max(1, ProcessInfo.processInfo.activeProcessorCount)

    /// Splits 0..<count into one contiguous range per worker and runs `body` on each concurrently.
    static func forEachWorker(_ count: Int, _ body: @Sendable (Range<Int>) -> Void) {
        let chunks = min(workers, count)
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
        let chunks = min(workers, max(1, count / max(1, minimumPerChunk)))
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
