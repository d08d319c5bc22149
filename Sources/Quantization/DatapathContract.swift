import Foundation

/// What a deployable states about its integer datapath (`formats/datapath/SPEC.md`): the input's
/// format and, per requantizing layer, its output format, scales, integer biases and the
/// accumulator width no input can overflow. Hardware built to it computes bmq's integers.
public struct DatapathContract: Sendable, Equatable, Codable {
    /// The datapath specification version this contract follows.
    public static let specification = "0.2"

    /// A lookup table a layer's arithmetic reads (LRN's factor by sum of squares).
    public struct Table: Sendable, Equatable, Codable {
        /// Bits the sum is rounded down by (`rshift_round`) to form the index.
        public var shift: Int
        /// Fractional bits of each entry.
        public var fraction: Int
        /// The entries, index 0 first.
        public var values: [Int32]

        /// A table of `values` indexed by a sum rounded down `shift` bits, entries with `fraction` fractional bits.
        public init(shift: Int, fraction: Int, values: [Int32]) {
            self.shift = shift
            self.fraction = fraction
            self.values = values
        }
    }

    /// One Convolution, InnerProduct, Eltwise or LRN layer.
    public struct Layer: Sendable, Equatable, Codable {
        /// The layer's name.
        public var name: String
        /// Its output format (unsigned when a ReLU is fused).
        public var output: FixedPointFormat
        /// The weights' fractional bits `Fw` (Convolution and InnerProduct).
        public var weightFraction: Int?
        /// The accumulator's fractional bits (`Fx + Fw`; the output's for Eltwise; `2F` for LRN's sum of squares).
        public var accumulatorFraction: Int
        /// Two's-complement accumulator bits that hold the proven bound.
        public var accumulatorBits: Int
        /// The integer bias per output channel on the accumulator's scale (Convolution and InnerProduct).
        public var bias: [Int64]?
        /// LRN's factor table.
        public var table: Table?

        enum CodingKeys: String, CodingKey {
            case name, output, bias, table
            case weightFraction = "weight_fraction", accumulatorFraction = "accumulator_fraction", accumulatorBits = "accumulator_bits"
        }

        /// A layer's part of the contract.
        public init(name: String, output: FixedPointFormat, weightFraction: Int?, accumulatorFraction: Int, accumulatorBits: Int, bias: [Int64]?,
                    table: Table? = nil) {
            self.name = name
            self.output = output
            self.weightFraction = weightFraction
            self.accumulatorFraction = accumulatorFraction
            self.accumulatorBits = accumulatorBits
            self.bias = bias
            self.table = table
        }
    }

    /// The specification version (`0.1`).
    public var specification: String
    /// The quantized input's format.
    public var input: FixedPointFormat
    /// Every requantizing layer, in execution order.
    public var layers: [Layer]

    /// Every specification version this build reads: each keeps the definitions of the earlier ones.
    public static let readableSpecifications: Set<String> = ["0.1", "0.2"]

    enum CodingKeys: String, CodingKey { case specification, input, layers }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        specification = try container.decode(String.self, forKey: .specification)
        guard Self.readableSpecifications.contains(specification) else {
            throw DecodingError.dataCorruptedError(forKey: .specification, in: container, debugDescription:
                "datapath specification \(specification) is not one this build reads (up to \(Self.specification)); a newer bmq wrote it")
        }
        input = try container.decode(FixedPointFormat.self, forKey: .input)
        layers = try container.decode([Layer].self, forKey: .layers)
    }

    /// A contract for `input` and `layers` under this build's specification version.
    public init(input: FixedPointFormat, layers: [Layer]) {
        specification = Self.specification
        self.input = input
        self.layers = layers
    }

    /// The activation formats the contract fixes (an LRN's output keeps its input's format and is not one).
    public var activationFormats: ActivationFormats {
        ActivationFormats(input: input, layers: Dictionary(uniqueKeysWithValues: layers.filter { $0.table == nil }.map { ($0.name, $0.output) }))
    }

    /// Whether `other` states the same arithmetic: every later specification version keeps the
    /// definitions of the earlier ones, so the version a file was written under does not matter.
    public func definesSameDatapath(as other: DatapathContract) -> Bool {
        input == other.input && layers == other.layers
    }
}
