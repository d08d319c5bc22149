import Foundation
import Quantization
import TensorGraph

/// The quantization options every quantizing command shares: a plan file, or patterns given inline.
///
/// Patterns are parsed and combinations checked when the request is built; only what needs the
/// model (layer names, a plan file's contents) is checked in ``plan(for:)``.
public struct PlanRequest: Sendable {
    /// A plan file (JSON), instead of inline patterns.
    public var planFile: URL?
    /// Overrides the plan's rounding mode (inline patterns default to nearest).
    public var rounding: RoundingMode?
    /// The scheme for every selected layer (a `--pattern` without a layer name).
    public var globalScheme: LayerScheme?
    /// Schemes for named layers (`LAYER=SCHEME`), in the order given.
    public var overrides: [(layer: String, scheme: LayerScheme)]
    /// The layers `globalScheme` applies to.
    public var selection: LayerSelection
    /// The scheme for biases of the selected layers; nil keeps them float.
    public var biasScheme: LayerScheme?

    /// No quantization.
    public init() {
        overrides = []
        selection = .all
    }

    /// Parses and checks the options.
    /// - Parameters:
    ///   - planFile: a plan (JSON); it cannot be combined with patterns.
    ///   - patterns: `SCHEME` for every selected layer, or `LAYER=SCHEME` for one layer.
    ///   - layers: `conv`, `fc`, `all` or a comma list of names; nil means every weight layer.
    ///   - rounding: the rounding mode (default: the plan's, or nearest for patterns).
    ///   - biasPattern: a scheme for the selected layers' biases; nil keeps them float.
    /// - Throws: `RequestError` for combinations that do not fit, `PatternError` for a pattern
    ///   that does not parse.
    public init(planFile: URL? = nil, patterns: [String] = [], layers: String? = nil, rounding: RoundingMode? = nil,
                biasPattern: String? = nil) throws {
        self.init()
        self.planFile = planFile
        self.rounding = rounding
        if planFile != nil, !patterns.isEmpty || layers != nil || biasPattern != nil {
            throw RequestError(.plan, "\(.plan) cannot be combined with \(.pattern), \(.layers) or \(.biasPattern)")
        }
        if patterns.isEmpty {
            if let field = layers != nil ? RequestField.layers : biasPattern != nil ? .biasPattern : nil {
                throw RequestError(field, "\(field) needs a \(.pattern)")
            }
            return
        }
        for text in patterns {
            if let equals = text.firstIndex(of: "=") {
                let layer = String(text[..<equals]), scheme = String(text[text.index(after: equals)...])
                overrides.append((layer, try LayerScheme(parsing: scheme)))
            } else {
                guard globalScheme == nil else {
                    throw RequestError(.pattern, "two \(.pattern) values apply to every layer; name layers as LAYER=PATTERN")
                }
                globalScheme = try LayerScheme(parsing: text)
            }
        }
        if let layers {
            guard globalScheme != nil else {
                throw RequestError(.layers, "\(.layers) selects layers for a \(.pattern) without a layer name")
            }
            selection = LayerSelection(parsing: layers)
        }
        biasScheme = try biasPattern.map(LayerScheme.init(parsing:))
    }

    /// Whether any quantization was asked for.
    public var isEmpty: Bool { planFile == nil && globalScheme == nil && overrides.isEmpty }

    /// Throws unless quantization was asked for (commands whose only job is to quantize).
    public func requireQuantization() throws {
        if isEmpty { throw RequestError(.plan, "nothing to quantize: give \(.plan) or \(.pattern)") }
    }

    /// The plan for `graph`, or nil when nothing was asked.
    /// - Throws: `PlanError` or `FormatError` naming a layer the graph lacks or a bad plan file.
    public func plan(for graph: Graph) throws -> QuantizationPlan? {
        if let planFile {
            var plan = try QuantizationPlan.read(from: planFile)
            if let rounding { plan.rounding = rounding }
            for entry in plan.entries {
                do { try PlanError.checkWeightLayer(entry.layer, in: graph) } catch let error as PlanError {
                    throw FormatError(file: planFile.path, error.message)
                }
            }
            return plan
        }
        guard !isEmpty else { return nil }
        do {
            return try QuantizationPlan.make(graph: graph, selection: selection, scheme: globalScheme,
                                             overrides: overrides.map { ($0.layer, $0.scheme) }, bias: biasScheme, rounding: rounding ?? .nearest)
        } catch let error as PlanError {
            // The patterns and layers came from the request, so naming a layer the net lacks is the request's mistake.
            throw RequestError(overrides.isEmpty ? .layers : .pattern, "\(error.message)")
        }
    }
}
