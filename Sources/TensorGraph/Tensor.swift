/// A dense float32 tensor in row-major (C) order.
public struct Tensor: Sendable, Equatable {
    /// The tensor's dimensions.
    public var shape: Shape
    /// The values in row-major order (last dimension fastest).
    public var data: [Float]

    /// Creates a tensor; `data.count` must equal the shape's element count.
    public init(shape: Shape, data: [Float]) {
        precondition(shape.checkedCount == data.count, "tensor data does not match shape \(shape)")
        self.shape = shape
        self.data = data
    }

    /// A tensor of zeros.
    public init(zeros shape: Shape) {
        self.shape = shape
        self.data = [Float](repeating: 0, count: shape.count)
    }

    /// A tensor whose values the caller overwrites completely before reading
    /// (skips zero-filling large kernel outputs).
    public init(uninitialized shape: Shape) {
        self.shape = shape
        self.data = [Float](unsafeUninitializedCapacity: shape.count) { _, initialized in initialized = shape.count }
    }

    /// The number of values.
    public var count: Int { data.count }

    /// Same data viewed with another shape of equal element count.
    public func reshaped(_ newShape: Shape) -> Tensor {
        Tensor(shape: newShape, data: data)
    }

    /// Summary statistics of the values, computed in double precision.
    public var statistics: TensorStatistics { TensorStatistics(data) }

    /// True when both tensors have the same shape and bit-identical values (NaNs included).
    public func isBitIdentical(to other: Tensor) -> Bool {
        shape == other.shape && data.count == other.data.count
            && zip(data, other.data).allSatisfy { $0.bitPattern == $1.bitPattern }
    }
}

/// Minimum, maximum, mean, standard deviation and largest magnitude of a set of values.
public struct TensorStatistics: Sendable, Equatable, Codable {
    /// The number of values.
    public var count: Int
    /// The smallest value.
    public var min: Float
    /// The largest value.
    public var max: Float
    /// The mean value.
    public var mean: Double
    /// The standard deviation (of the whole population).
    public var std: Double
    /// The largest magnitude.
    public var absMax: Float

    /// The statistics of `values`.
    public init(_ values: [Float]) {
        count = values.count
        guard !values.isEmpty else {
            min = 0; max = 0; mean = 0; std = 0; absMax = 0
            return
        }
        var lo = Float.infinity, hi = -Float.infinity
        var sum = 0.0, sumSquares = 0.0
        for value in values {
            lo = Swift.min(lo, value)
            hi = Swift.max(hi, value)
            sum += Double(value)
            sumSquares += Double(value) * Double(value)
        }
        min = lo
        max = hi
        mean = sum / Double(values.count)
        std = (Swift.max(0, sumSquares / Double(values.count) - mean * mean)).squareRoot()
        absMax = Swift.max(abs(lo), abs(hi))
    }
}

/// A value that is not an integer times the scale asked for (or does not fit 32 bits).
public struct NonIntegerValue: Error, Sendable {
    /// The first such value.
    public var value: Float
}

extension Tensor {
    /// Every value as the integer `value × 2^fraction`: exact for a quantized tensor whose values
    /// are integers times `2^-fraction` (a bit pattern's), the codes hardware multiplies.
    /// - Throws: `NonIntegerValue` with the first value that is not such an integer in 32 bits.
    public func integerCodes(fraction: Int) throws(NonIntegerValue) -> [Int32] {
        let scale = Double(sign: .plus, exponent: fraction, significand: 1)
        var codes: [Int32] = []
        codes.reserveCapacity(count)
        for value in data {
            let code = Double(value) * scale
            guard code == code.rounded(), abs(code) < 2_147_483_648 else { throw NonIntegerValue(value: value) }
            codes.append(Int32(code))
        }
        return codes
    }
}
