import Datasets
import Foundation
import Inference
import Quantization
import TensorGraph

/// The configurations of the thesis's four published LeNet tables (conv layers only), with
/// their published accuracies where the summary gives a number.
public enum ThesisTables {
    /// One configuration of a thesis table.
    public struct Configuration: Sendable {
        /// The table it belongs to.
        public var table: String
        /// Pattern per conv layer, in order (conv1, conv2); one entry means every conv layer.
        public var patterns: [String]
        /// The thesis's accuracy, when the summary gives one.
        public var published: Double?
        /// What the thesis says beside it.
        public var note: String?
    }

    /// Every configuration, in table order.
    public static let configurations: [Configuration] = [
        .init(table: "4-bit, same pattern", patterns: ["4_0_0"], published: 0.232),
        .init(table: "4-bit, same pattern", patterns: ["5_1_0_0"], published: 0.972),
        .init(table: "4-bit, same pattern", patterns: ["6_2_0_1_0"], published: 0.976),
        .init(table: "4-bit, same pattern", patterns: ["6_2_0_2_0"], published: 0.955),
        .init(table: "4-bit, same pattern", patterns: ["6_2_0_3_0"], published: 0.899),
        .init(table: "4-bit, same pattern", patterns: ["7_3_0_1_2_0"], published: 0.971),
        .init(table: "4-bit, same pattern", patterns: ["7_3_0_1_3_0"], published: 0.968),
        .init(table: "3-bit, same pattern", patterns: ["3_0_0"], published: nil, note: "chance level"),
        .init(table: "3-bit, same pattern", patterns: ["5_2_0_1_0"], published: nil, note: "best"),
        .init(table: "3-bit, same pattern", patterns: ["8_5_0_2_3_4_5_0"], published: nil, note: "worst"),
        .init(table: "3-bit, per layer", patterns: ["3_0_0", "3_0_0"], published: 0.114),
        .init(table: "3-bit, per layer", patterns: ["5_2_0_1_0", "6_3_0_1_2_0"], published: 0.962),
        .init(table: "3-bit, per layer", patterns: ["5_2_0_1_0", "7_4_0_1_2_4_0"], published: 0.847),
        .init(table: "4-bit, per layer", patterns: ["4_0_0", "4_0_0"], published: 0.232),
        .init(table: "4-bit, per layer", patterns: ["6_2_0_1_0", "7_3_0_1_2_0"], published: 0.976),
        .init(table: "4-bit, per layer", patterns: ["6_2_0_1_0", "8_4_0_1_2_3_0"], published: 0.964),
        .init(table: "4-bit, per layer", patterns: ["6_2_0_1_0", "8_4_0_1_2_4_0"], published: 0.948),
    ]
}

/// One reproduced row: the thesis figure beside ours in both rounding modes and a float-scale baseline.
public struct ThesisRow: Sendable, Codable {
    /// The table the row belongs to.
    public var table: String
    /// The patterns (one for every conv layer, or conv1 and conv2).
    public var patterns: [String]
    /// Stored bits per weight (sign included).
    public var storedBits: Int
    /// The thesis's accuracy, when given.
    public var published: Double?
    /// What the thesis says beside it.
    public var note: String?
    /// Our accuracy with the thesis's rounding (mask after rounding).
    public var maskAfter: Double
    /// Our accuracy with nearest rounding onto the pattern.
    public var nearest: Double
    /// Per-layer max-abs float scale at the same stored bits (not shift-friendly).
    public var floatBaseline: Double

    enum CodingKeys: String, CodingKey {
        case table, patterns, published, note, nearest
        case storedBits = "stored_bits", maskAfter = "mask_after", floatBaseline = "float_max_abs"
    }
}

/// The reproduced tables.
public struct ThesisReport: Sendable, Codable {
    /// The float model's accuracy.
    public var floatAccuracy: Double
    /// Test images.
    public var total: Int
    /// The accuracy of guessing.
    public var chanceLevel: Double
    /// The conv layers quantized.
    public var convLayers: [String]
    /// One row per configuration.
    public var rows: [ThesisRow]

    enum CodingKeys: String, CodingKey {
        case rows, total
        case floatAccuracy = "float_accuracy", chanceLevel = "chance_level", convLayers = "conv_layers"
    }
}

/// The reproduce-thesis use case: the thesis's LeNet tables regenerated on a model.
public enum ThesisReproduction {
    /// Runs every configuration of the thesis tables on the model's conv layers.
    /// - Parameters:
    ///   - request: the model and test data; any quantization in it is ignored.
    ///   - progress: called with configurations done and their total.
    /// - Throws: `FormatError` or `PlanError` when the model does not fit (it needs two conv layers for the per-layer tables).
    public static func run(_ request: EvaluationRequest, progress: ((Int, Int) -> Void)? = nil) throws -> ThesisReport {
        let (dataset, model) = try Evaluation.loadDataAndModel(request)
        let convs = try LayerSelection.convolutions.layers(in: model.graph)
        guard convs.count >= 2 else {
            throw PlanError("the thesis tables quantize two conv layers (conv1, conv2); this net has \(convs.count)")
        }
        let preprocessing = model.graph.preprocessing ?? .identity
        func accuracy(_ plan: QuantizationPlan?) throws -> EvaluationResult {
            let graph = try plan.map { try QuantizePass.apply($0, to: model.graph).0 } ?? model.graph
            return try Evaluator.evaluate(try Network(graph: graph, options: request.engine), on: dataset, preprocessing: preprocessing, batchSize: request.batchSize)
        }
        let float = try accuracy(nil)
        var rows: [ThesisRow] = []
        let configurations = ThesisTables.configurations
        for (index, configuration) in configurations.enumerated() {
            progress?(index, configurations.count)
            let schemes = try configuration.patterns.map { LayerScheme.pattern(try BitPattern(parsing: $0)) }
            // One pattern applies to every conv layer; two name conv1 and conv2 (the first two conv layers).
            let perLayer = schemes.count == 1 ? convs.map { ($0, schemes[0]) } : Array(zip(convs, schemes))
            func plan(_ rounding: RoundingMode, _ scheme: (LayerScheme) -> LayerScheme = { $0 }) -> QuantizationPlan {
                QuantizationPlan(rounding: rounding, entries: perLayer.map { .init(layer: $0.0, weights: scheme($0.1)) })
            }
            let bits = schemes[0].storedBits
            rows.append(ThesisRow(
                table: configuration.table, patterns: configuration.patterns, storedBits: bits,
                published: configuration.published, note: configuration.note,
                maskAfter: try accuracy(plan(.maskAfter)).accuracy,
                nearest: try accuracy(plan(.nearest)).accuracy,
                floatBaseline: try accuracy(plan(.nearest) { .floatScale(.maxAbs, bits: $0.storedBits) }).accuracy))
        }
        progress?(configurations.count, configurations.count)
        return ThesisReport(floatAccuracy: float.accuracy, total: float.total, chanceLevel: float.chanceLevel, convLayers: convs, rows: rows)
    }
}
