import Foundation
import Quantization
import TensorGraph

/// The quantization options every quantizing command shares: a plan file, or patterns given inline.
public struct PlanRequest: Sendable {
    public var planFile: URL?
    /// `SCHEME` for every selected layer, or `LAYER=SCHEME` for one layer.
    public var patterns: [String]
    /// `conv`, `fc`, `all` or a comma list of names; nil means every weight layer.
    public var layers: String?
    public var rounding: RoundingMode?
    public var biasPattern: String?

    public init(planFile: URL? = nil, patterns: [String] = [], layers: String? = nil, rounding: RoundingMode? = nil, biasPattern: String? = nil) {
        self.planFile = planFile
        self.patterns = patterns
        self.layers = layers
        self.rounding = rounding
        self.biasPattern = biasPattern
    }

    /// Whether any quantization was asked for.
    public var isEmpty: Bool { planFile == nil && patterns.isEmpty }

    /// The plan for `graph`, or nil when nothing was asked.
    /// - Throws: `PlanError`, `PatternError` or `FormatError` saying what does not fit.
    public func plan(for graph: Graph) throws -> QuantizationPlan? {
        if let planFile {
            guard patterns.isEmpty, layers == nil, biasPattern == nil else {
                throw PlanError("give either --plan or --pattern/--layers/--bias-pattern, not both")
            }
            var plan = try QuantizationPlan.read(from: planFile)
            if let rounding { plan.rounding = rounding }
            for entry in plan.entries {
                do { try PlanError.checkWeightLayer(entry.layer, in: graph) } catch let error as PlanError {
                    throw FormatError(file: planFile.path, error.message)
                }
            }
            return plan
        }
        guard !patterns.isEmpty else {
            if layers != nil || biasPattern != nil { throw PlanError("--layers and --bias-pattern need a --pattern") }
            return nil
        }
        var global: LayerScheme?
        var overrides: [(String, LayerScheme)] = []
        for text in patterns {
            if let equals = text.firstIndex(of: "=") {
                let layer = String(text[..<equals]), scheme = String(text[text.index(after: equals)...])
                overrides.append((layer, try LayerScheme(parsing: scheme)))
            } else {
                guard global == nil else { throw PlanError("two --pattern values apply to every layer; name layers as LAYER=PATTERN") }
                global = try LayerScheme(parsing: text)
            }
        }
        let selection = layers.map(LayerSelection.init(parsing:)) ?? .all
        if global == nil, layers != nil { throw PlanError("--layers selects layers for a --pattern without a layer name") }
        return try QuantizationPlan.make(graph: graph, selection: selection, scheme: global, overrides: overrides,
                                         bias: try biasPattern.map(LayerScheme.init(parsing:)), rounding: rounding ?? .nearest)
    }
}
