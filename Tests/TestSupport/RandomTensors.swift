import TensorGraph

/// The seeded generator tests use, so every run tests the same values.
public typealias SeededGenerator = SplitMix64

/// A tensor of seeded uniform values in -1...1.
public func randomTensor(_ shape: Shape, seed: UInt64) -> Tensor {
    var generator = SeededGenerator(seed: seed)
    return Tensor(shape: shape, data: (0..<shape.count).map { _ in Float.random(in: -1...1, using: &generator) })
}

/// The largest difference between two tensors' values, relative to the second's magnitude (at least 1).
public func largestRelativeDifference(_ a: Tensor, _ b: Tensor) -> Float {
    zip(a.data, b.data).map { abs($0 - $1) / max(1, abs($1)) }.max() ?? 0
}
