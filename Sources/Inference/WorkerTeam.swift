import CProcessor
import Foundation
import Synchronization

/// Helper threads for splitting one layer of one image across the cores.
///
/// A layer of a single image takes a few microseconds; waking a sleeping thread (what
/// `DispatchQueue.concurrentPerform` does) takes about as long. The helpers here keep polling for
/// the next job for a while after each one (`spinTime`), so a chain of layers hands off in well
/// under a microsecond, and sleep on a condition only when no job came.
final class WorkerTeam: @unchecked Sendable {
    /// One helper per core beyond the calling thread's.
    static let shared = WorkerTeam(helpers: Parallel.workers - 1)

    /// How long a helper polls after its last job before it sleeps.
    static let spinTime: UInt64 = 200_000  // nanoseconds

    let helpers: Int
    /// Bumped once per job; helpers compare it with the last one they saw.
    private let generation = Atomic<Int>(0)
    /// Helpers that have not yet finished (or, past `parts`, acknowledged) the current job.
    private let unfinished = Atomic<Int>(0)
    /// Held by the thread whose job is running: a second caller runs its work alone instead.
    private let busy = Atomic<Bool>(false)
    /// The current job and its part count, written before `generation` is bumped.
    private var job: ((Int) -> Void)?
    private var parts = 0
    private let wake = NSCondition()
    private var sleepers = 0
    private var started = false

    init(helpers: Int) { self.helpers = max(0, helpers) }

    /// Runs `body(part)` for each part in 0..<parts (at most `helpers + 1`) on the calling
    /// thread and the helpers at once; returns when all are done. Returns false, having run
    /// nothing, when another job holds the team.
    func run(parts count: Int, _ body: (Int) -> Void) -> Bool {
        precondition(count <= helpers + 1, "more parts than threads")
        guard busy.compareExchange(expected: false, desired: true, ordering: .acquiring).exchanged else { return false }
        defer { busy.store(false, ordering: .releasing) }
        startIfNeeded()
        withoutActuallyEscaping(body) { body in
            job = body
            parts = count
            unfinished.store(helpers, ordering: .relaxed)
            generation.add(1, ordering: .releasing)
            wake.lock()
            if sleepers > 0 { wake.broadcast() }
            wake.unlock()
            Parallel.runSerially { body(0) }
            var polls = 0
            while unfinished.load(ordering: .acquiring) > 0 {
                // A helper that shares this core (the affinity changed under us) runs only if
                // this thread lets it.
                polls += 1
                if polls >= 4096 { bmq_yield() } else { bmq_spin_pause() }
            }
            job = nil
        }
        return true
    }

    private func startIfNeeded() {
        guard !started else { return }
        started = true
        for index in 1..<(helpers + 1) {
            let thread = Thread { [self] in helperLoop(part: index) }
            thread.name = "bmq worker \(index)"
            thread.start()
        }
    }

    private func helperLoop(part: Int) {
        Parallel.markSerial()
        // Started before the first job was published, whenever this thread gets to run.
        var seen = 0
        while true {
            var current = generation.load(ordering: .acquiring)
            if current == seen {
                let deadline = DispatchTime.now().uptimeNanoseconds + Self.spinTime
                var polls = 0
                while current == seen {
                    bmq_spin_pause()
                    polls += 1
                    if polls & 1023 == 0 {
                        if DispatchTime.now().uptimeNanoseconds > deadline { break }
                        bmq_yield()  // costs little when no other thread wants the core
                    }
                    current = generation.load(ordering: .acquiring)
                }
                if current == seen {
                    wake.lock()
                    sleepers += 1
                    while generation.load(ordering: .acquiring) == seen { wake.wait() }
                    sleepers -= 1
                    wake.unlock()
                    current = generation.load(ordering: .acquiring)
                }
            }
            seen = current
            if part < parts, let job { job(part) }
            unfinished.subtract(1, ordering: .releasing)
        }
    }
}
