import Foundation
import TensorGraph

/// A format that stores quantized tensors in their quantized form (only the stored bits of a
/// pattern, a baseline's integers and scales) rather than as the float values they decode to.
public protocol QuantizedModelWriting: ModelWriting {
    /// Writes `graph`, whose tensors `plan` has already quantized, with each quantized tensor in
    /// its plan's encoding; `reports` carry what the quantize pass computed (baseline scales).
    /// - Throws: `FormatError` when a value does not fit its encoding or the file cannot be written.
    func write(_ graph: Graph, quantizedBy plan: QuantizationPlan, reports: [LayerQuantizationReport], to url: URL) throws
}
