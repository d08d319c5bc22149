import Foundation
import TensorGraph

/// A format that stores quantized tensors in their quantized form (only the stored bits of a
/// pattern, a baseline's integers and scales) rather than as the float values they decode to.
public protocol QuantizedModelWriting: ModelWriting {
    /// Writes `graph`, whose tensors `plan` has already quantized, with each quantized tensor in
    /// its plan's encoding; `reports` carry what the quantize pass computed (baseline scales), and
    /// `datapath` the integer datapath when the plan has activation formats.
    /// - Throws: `FormatError` when a value does not fit its encoding or the file cannot be written.
    func write(_ graph: Graph, quantizedBy plan: QuantizationPlan, reports: [LayerQuantizationReport], datapath: DatapathContract?,
               to url: URL) throws
}

/// A self-describing model that also records how it was quantized.
public protocol QuantizedModelReading: ModelReading {
    /// From one read of the file: the runnable graph, the plan its tensors were quantized with
    /// (every bit-pattern tensor; nil when none is quantized) and its integer datapath, when it
    /// records one.
    /// - Throws: `FormatError` naming the file and the part at fault.
    func readQuantizedModel(from url: URL) throws -> (graph: Graph, plan: QuantizationPlan?, datapath: DatapathContract?)
}
