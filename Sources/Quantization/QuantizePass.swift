import TensorGraph

/// What the quantize pass did to one layer.
public struct LayerQuantizationReport: Sendable, Codable, Equatable {
    /// The layer's name.
    public var layer: String
    /// The weights' scheme as text.
    public var scheme: String
    /// Stored bits per weight (sign included).
    public var storedBits: Int
    /// The number of weights quantized.
    public var weightCount: Int
    /// What quantizing did to the weights.
    public var weights: QuantizationStatistics
    /// What quantizing did to the bias, when the plan quantizes it.
    public var bias: QuantizationStatistics?

    enum CodingKeys: String, CodingKey {
        case layer, scheme, weights, bias
        case storedBits = "stored_bits", weightCount = "weight_count"
    }
}

/// Applies a quantization plan to a graph's weights.
public enum QuantizePass {
    /// Replaces the weights (and, when asked, biases) of the plan's layers by their quantized values.
    /// - Throws: `PlanError` when the plan names a layer the graph lacks or one without weights.
    public static func apply(_ plan: QuantizationPlan, to graph: Graph) throws -> (Graph, [LayerQuantizationReport]) {
        var result = graph
        var reports: [LayerQuantizationReport] = []
        for entry in plan.entries {
            try PlanError.checkWeightLayer(entry.layer, in: graph)
            guard let index = result.nodes.firstIndex(where: { $0.name == entry.layer }), !result.nodes[index].parameters.isEmpty else {
                throw PlanError("layer '\(entry.layer)' has no weights attached")
            }
            let (weights, statistics) = TensorQuantizer.quantize(result.nodes[index].parameters[0], scheme: entry.weights, rounding: plan.rounding)
            result.nodes[index].parameters[0] = weights
            var biasStatistics: QuantizationStatistics?
            if let biasScheme = entry.bias, result.nodes[index].parameters.count > 1 {
                let (bias, statistics) = TensorQuantizer.quantize(result.nodes[index].parameters[1], scheme: biasScheme, rounding: plan.rounding)
                result.nodes[index].parameters[1] = bias
                biasStatistics = statistics
            }
            reports.append(LayerQuantizationReport(
                layer: entry.layer, scheme: entry.weights.text, storedBits: entry.weights.storedBits,
                weightCount: weights.count, weights: statistics, bias: biasStatistics))
        }
        return (result, reports)
    }
}
