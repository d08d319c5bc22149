import Synchronization

/// Whether a pass with fewer images than cores should split each layer across them or run on one
/// core. It depends on the network and on where the host put the virtual CPUs: a hand-off between
/// two that share a core's neighbourhood takes about 100 ns, between two far apart about 400 ns,
/// and LeNet's split was then 1.5 times faster, or 1.1 to 2 times slower, than one core. So passes
/// alternate between the two ways, one untimed pass each first (the first passes make the prepared
/// weights and fault in the scratch memory), the way with the lower mean time wins (with the cores
/// far apart, a split's typical pass can match one core's while every few passes one stalls for
/// a millisecond), and the trials repeat every `period` passes in case the host has moved the
/// threads since.
final class SplitChoice: Sendable {
    private struct State {
        var passes = 0
        /// Per way (0: split, 1: one core): this round's trial times.
        var times: [[Double]] = [[], []]
        var splits = true
    }

    let trialsPerWay: Int
    let period: Int
    private let state = Mutex(State())

    init(trialsPerWay: Int = 8, period: Int = 1000) {
        self.trialsPerWay = trialsPerWay
        self.period = max(period, 2 * trialsPerWay + 3)
    }

    /// The way the next pass runs, and whether it is a trial to time and `record`.
    func next() -> (splits: Bool, trial: Bool) {
        state.withLock { state in
            let phase = state.passes % period
            state.passes += 1
            return phase < 2 * trialsPerWay + 2 ? (phase % 2 == 0, phase >= 2) : (state.splits, false)
        }
    }

    /// A trial's time; once both ways have had their trials, the faster is chosen.
    func record(splits: Bool, seconds: Double) {
        state.withLock { state in
            state.times[splits ? 0 : 1].append(seconds)
            guard state.times.allSatisfy({ $0.count >= trialsPerWay }) else { return }
            let totals = state.times.map { $0.reduce(0, +) }
            state.splits = totals[0] <= totals[1]
            state.times = [[], []]
        }
    }

    /// The way passes run between trials.
    var splits: Bool { state.withLock { $0.splits } }
}
