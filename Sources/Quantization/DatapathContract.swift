import Foundation

/// What a deployable states about its integer datapath (`formats/datapath/SPEC.md`): the input's
/// format and, per requantizing layer, its output format, scales, integer biases and the
/// accumulator width no input can overflow. Hardware built to it computes bmq's integers.
public struct DatapathContract: Sendable, Equatable, Codable {
    /// The datapath specification version this contract follows.
    public static let specification = "0.1"

    /// One Convolution, InnerProduct or Eltwise layer.
    public struct Layer: Sendable, Equatable, Codable {
        /// The layer's name.
        public var name: String
        /// Its output format (unsigned when a ReLU is fused).
        public var output: FixedPointFormat
        /// The weights' fractional bits `Fw` (Convolution and InnerProduct).
        public var weightFraction: Int?
        /// The accumulator's fractional bits (`Fx + Fw`; the output's for Eltwise).
        public var accumulatorFraction: Int
        /// Two's-complement accumulator bits that hold the proven bound.
        public var accumulatorBits: Int
        /// The integer bias per output channel on the accumulator's scale (Convolution and InnerProduct).
        public var bias: [Int64]?

        enum CodingKeys: String, CodingKey {
            case name, output, bias
            case weightFraction = "weight_fraction", accumulatorFraction = "accumulator_fraction", accumulatorBits = "accumulator_bits"
        }

        /// A layer's part of the contract.
        public init(name: String, output: FixedPointFormat, weightFraction: Int?, accumulatorFraction: Int, accumulatorBits: Int, bias: [Int64]?) {
            self.name = name
            self.output = output
            self.weightFraction = weightFraction
            self.accumulatorFraction = accumulatorFraction
            self.accumulatorBits = accumulatorBits
            self.bias = bias
        }
    }

    /// The specification version (`0.1`).
    public var specification: String
    /// The quantized input's format.
    public var input: FixedPointFormat
    /// Every requantizing layer, in execution order.
    public var layers: [Layer]

    /// A contract for `input` and `layers` under this build's specification version.
    public init(input: FixedPointFormat, layers: [Layer]) {
        specification = Self.specification
        self.input = input
        self.layers = layers
    }

    /// The activation formats the contract fixes.
    public var activationFormats: ActivationFormats {
        ActivationFormats(input: input, layers: Dictionary(uniqueKeysWithValues: layers.map { ($0.name, $0.output) }))
    }
}
