import TensorGraph

/// A small seeded generator so every run tests the same values.
public struct SeededGenerator: RandomNumberGenerator {
    public var state: UInt64
    public init(state: UInt64) { self.state = state }
    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// A tensor of seeded uniform values in -1...1.
public func randomTensor(_ shape: Shape, seed: UInt64) -> Tensor {
    var generator = SeededGenerator(state: seed)
    return Tensor(shape: shape, data: (0..<shape.count).map { _ in Float.random(in: -1...1, using: &generator) })
}

/// The largest difference between two tensors' values, relative to the second's magnitude (at least 1).
public func largestRelativeDifference(_ a: Tensor, _ b: Tensor) -> Float {
    zip(a.data, b.data).map { abs($0 - $1) / max(1, abs($1)) }.max() ?? 0
}
