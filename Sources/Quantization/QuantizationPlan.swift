import Foundation
import TensorGraph

/// Which layers a plan covers when the user does not list them.
public enum LayerSelection: Sendable, Equatable {
    case convolutions
    case innerProducts
    case all
    case names([String])

    /// Parses `conv`, `fc`, `all`, or a comma-separated list of layer names.
    public init(parsing text: String) {
        switch text {
        case "conv": self = .convolutions
        case "fc", "ip": self = .innerProducts
        case "all": self = .all
        default: self = .names(text.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) })
        }
    }

    /// The weight layers of `graph` this selection names, in graph order.
    /// - Throws: `PlanError` naming a listed layer that is missing or has no weights.
    public func layers(in graph: Graph) throws -> [String] {
        let weighted = graph.nodes.filter(\.op.hasWeights)
        switch self {
        case .convolutions: return weighted.filter { if case .convolution = $0.op { true } else { false } }.map(\.name)
        case .innerProducts: return weighted.filter { if case .innerProduct = $0.op { true } else { false } }.map(\.name)
        case .all: return weighted.map(\.name)
        case let .names(names):
            for name in names { try PlanError.checkWeightLayer(name, in: graph) }
            return weighted.map(\.name).filter(names.contains)
        }
    }
}

/// A per-layer quantization recipe: which layers, which pattern or baseline each, which rounding.
/// Stored as versioned JSON (see `formats/quantization-plan.md`).
public struct QuantizationPlan: Sendable, Equatable {
    /// One layer's quantization.
    public struct Entry: Sendable, Equatable {
        /// The layer's name in the graph.
        public var layer: String
        /// The scheme its weights are quantized with.
        public var weights: LayerScheme
        /// Biases stay float unless a scheme is given.
        public var bias: LayerScheme?

        /// An entry for `layer`; biases stay float unless `bias` is given.
        public init(layer: String, weights: LayerScheme, bias: LayerScheme? = nil) {
            self.layer = layer
            self.weights = weights
            self.bias = bias
        }
    }

    /// The `format` field every plan file carries.
    public static let formatName = "bmq-quantization-plan"
    /// The plan version this build writes when the plan has activation formats; plans without
    /// them are written as version 1, which older readers also read.
    public static let version = 2

    /// How weights are rounded onto their patterns.
    public var rounding: RoundingMode
    /// One entry per quantized layer.
    public var entries: [Entry]
    /// The integer datapath's activation formats (version 2), when chosen.
    public var activations: ActivationFormats?
    /// How a search rounded the weights with calibration data, when it did (informational:
    /// readers that do not know it ignore it).
    public var compensation: CompensationRecord?

    /// A plan of `entries` rounded by `rounding`, with `activations` for an integer datapath.
    public init(rounding: RoundingMode, entries: [Entry], activations: ActivationFormats? = nil, compensation: CompensationRecord? = nil) {
        self.rounding = rounding
        self.entries = entries
        self.activations = activations
        self.compensation = compensation
    }

    /// The entry for `layer`, if the plan quantizes it.
    public func entry(for layer: String) -> Entry? { entries.first { $0.layer == layer } }

    /// One scheme for every selected layer, with per-layer overrides.
    /// - Throws: `PlanError` for layers that are missing or have no weights.
    public static func make(graph: Graph, selection: LayerSelection, scheme: LayerScheme?, overrides: [(String, LayerScheme)],
                            bias: LayerScheme?, rounding: RoundingMode) throws -> QuantizationPlan {
        var entries: [Entry] = []
        if let scheme {
            entries = try selection.layers(in: graph).map { Entry(layer: $0, weights: scheme, bias: bias) }
        }
        for (layer, scheme) in overrides {
            try PlanError.checkWeightLayer(layer, in: graph)
            if let index = entries.firstIndex(where: { $0.layer == layer }) {
                entries[index].weights = scheme
            } else {
                entries.append(Entry(layer: layer, weights: scheme, bias: bias))
            }
        }
        let order = Dictionary(uniqueKeysWithValues: graph.nodes.enumerated().map { ($1.name, $0) })
        entries.sort { order[$0.layer, default: 0] < order[$1.layer, default: 0] }
        return QuantizationPlan(rounding: rounding, entries: entries)
    }
}

/// A plan that does not fit the model or cannot be read.
public struct PlanError: Error, Equatable, CustomStringConvertible {
    /// What is wrong.
    public var message: String
    /// An error saying `message`.
    public init(_ message: String) { self.message = message }
    public var description: String { message }

    /// Throws unless `name` is a layer of `graph` that has weights.
    public static func checkWeightLayer(_ name: String, in graph: Graph) throws {
        guard let node = graph.node(named: name) else {
            let weighted = graph.nodes.filter(\.op.hasWeights).map(\.name)
            throw PlanError("the net has no layer '\(name)' (its layers with weights: \(weighted.joined(separator: ", ")))")
        }
        guard node.op.hasWeights else {
            throw PlanError("layer '\(name)' is a \(node.op.typeName) layer, which has no weights to quantize")
        }
    }
}

// MARK: - JSON

extension QuantizationPlan: Codable {
    enum CodingKeys: String, CodingKey { case format, version, rounding, layers, activations, compensation }
    struct EntryJSON: Codable {
        var name: String
        var weights: String
        var bias: String?
    }

    struct ActivationsJSON: Codable {
        struct Layer: Codable {
            var name: String
            var bits: Int
            var fraction: Int
            var signed: Bool
        }

        var input: FixedPointFormat
        var layers: [Layer]

        init(_ formats: ActivationFormats) {
            input = formats.input
            layers = formats.layers.sorted { $0.key < $1.key }
                .map { Layer(name: $0.key, bits: $0.value.bits, fraction: $0.value.fraction, signed: $0.value.signed) }
        }

        func formats() throws -> ActivationFormats {
            for (name, format) in [("input", input)] + layers.map({ ($0.name, FixedPointFormat(bits: $0.bits, fraction: $0.fraction, signed: $0.signed)) }) {
                guard (2...32).contains(format.bits) else { throw PlanError("activation format of '\(name)': \(format.bits) bits is not from 2 to 32") }
                guard abs(format.fraction) <= 64 else { throw PlanError("activation format of '\(name)': fraction \(format.fraction) is out of range") }
            }
            var byName: [String: FixedPointFormat] = [:]
            for layer in layers {
                guard byName[layer.name] == nil else { throw PlanError("activation format of '\(layer.name)' is given twice") }
                byName[layer.name] = FixedPointFormat(bits: layer.bits, fraction: layer.fraction, signed: layer.signed)
            }
            return ActivationFormats(input: input, layers: byName)
        }
    }

    public init(from decoder: Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        let format = try container.decode(String.self, forKey: .format)
        guard format == Self.formatName else { throw PlanError("'format' is '\(format)', expected '\(Self.formatName)'") }
        let version = try container.decode(Int.self, forKey: .version)
        guard (1...Self.version).contains(version) else {
            throw PlanError("plan version \(version) is not supported (this bmq reads versions 1 to \(Self.version))")
        }
        let roundingText = try container.decode(String.self, forKey: .rounding)
        guard let rounding = RoundingMode(rawValue: roundingText) else {
            throw PlanError("rounding '\(roundingText)' is not one of \(RoundingMode.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        self.rounding = rounding
        entries = try container.decode([EntryJSON].self, forKey: .layers).map { entry in
            do {
                return Entry(layer: entry.name, weights: try LayerScheme(parsing: entry.weights),
                             bias: try entry.bias.map(LayerScheme.init(parsing:)))
            } catch let error as PatternError {
                throw PlanError("layer '\(entry.name)': \(error)")
            }
        }
        let activations = try container.decodeIfPresent(ActivationsJSON.self, forKey: .activations)
        if activations != nil, version < 2 { throw PlanError("'activations' needs plan version 2") }
        self.activations = try activations?.formats()
        compensation = try container.decodeIfPresent(CompensationRecord.self, forKey: .compensation)
    }

    public func encode(to encoder: Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(Self.formatName, forKey: .format)
        try container.encode(activations == nil ? 1 : Self.version, forKey: .version)
        try container.encode(rounding.rawValue, forKey: .rounding)
        try container.encode(entries.map { EntryJSON(name: $0.layer, weights: $0.weights.text, bias: $0.bias?.text) }, forKey: .layers)
        try container.encodeIfPresent(activations.map(ActivationsJSON.init), forKey: .activations)
        try container.encodeIfPresent(compensation, forKey: .compensation)
    }

    /// Reads a plan file.
    /// - Throws: `FormatError` naming the file and what is wrong.
    public static func read(from url: URL) throws -> QuantizationPlan {
        let data = try FileIO.read(url)
        do {
            return try JSONDecoder().decode(QuantizationPlan.self, from: data)
        } catch let error as PlanError {
            throw FormatError(file: url.path, error.message)
        } catch let DecodingError.keyNotFound(key, context) {
            throw FormatError(file: url.path, "missing '\(key.stringValue)'\(Self.path(context))")
        } catch let DecodingError.typeMismatch(_, context), let DecodingError.valueNotFound(_, context) {
            throw FormatError(file: url.path, "wrong type\(Self.path(context))")
        } catch {
            if let syntax = JSONSyntax.firstError(in: data) {
                throw FormatError(file: url.path, line: syntax.line, "column \(syntax.column): \(syntax.message); not a valid plan JSON file")
            }
            throw FormatError(file: url.path, "not a valid plan JSON file")
        }
    }

    static func path(_ context: DecodingError.Context) -> String {
        let path = context.codingPath.map { $0.intValue.map { "[\($0)]" } ?? $0.stringValue }.joined(separator: ".")
        return path.isEmpty ? "" : " at \(path)"
    }

    /// Writes the plan as pretty JSON, atomically.
    public func write(to url: URL) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        try FileIO.writeAtomically(try encoder.encode(self) + Data("\n".utf8), to: url)
    }
}
