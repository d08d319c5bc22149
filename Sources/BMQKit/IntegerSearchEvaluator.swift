import Foundation
import Inference
import IntegerDatapath
import Quantization
import TensorGraph

/// Scores complete assignments on the integer datapath (`formats/datapath/SPEC.md`) with fixed
/// activation formats: the KL divergence of the integer class scores (times their format's scale)
/// from the float model's probabilities on the calibration images. Runs resume from integer
/// values cached just before a searched layer, like the float evaluator's.
///
/// Every searched layer must have a bit pattern in every assignment (there is no float layer in
/// the integer datapath), so this evaluator refines a complete assignment (`PatternSearch.refine`);
/// the proxies and the weights themselves (error compensation included) come from the float
/// evaluator, so both objectives score the very same weights.
final class IntegerSearchEvaluator: SearchEvaluator, @unchecked Sendable {
    struct Checkpoint: @unchecked Sendable {
        var runs: [IntegerProgram.PartialRun]
    }

    let float: NetworkSearchEvaluator
    /// The program with the starting assignment's weights; each scoring replaces the layers it changes.
    let program: IntegerProgram
    /// The program step of each searched layer.
    let layerSteps: [Int]
    let layerNames: [String]
    /// Quantized calibration inputs, one array per batch of the float evaluator.
    let inputs: [[Int32]]
    /// The value of one unit of the class scores.
    let scoreScale: Double

    /// - Parameters:
    ///   - float: the float search's evaluator (batches, reference probabilities, weights).
    ///   - layers: the searched layers, in search order.
    ///   - schemes: a complete starting assignment, one bit pattern per layer.
    ///   - formats: the activation formats, fixed during the refinement.
    /// - Throws: `DatapathError` naming a layer the datapath cannot run; `RequestError` when a
    ///   weight layer of the graph is not searched or a scheme is not a bit pattern.
    init(float: NetworkSearchEvaluator, layers: [String], schemes: [LayerScheme], formats: ActivationFormats) throws {
        self.float = float
        layerNames = layers
        let graph = float.quantizedGraph(schemes)
        let plan = QuantizationPlan(rounding: float.rounding, entries: try zip(layers, schemes).map { layer, scheme in
            guard case .pattern = scheme else {
                throw RequestError(.objective, "layer '\(layer)': \(scheme.text) needs a multiplier; the integer objective scores bit patterns")
            }
            return QuantizationPlan.Entry(layer: layer, weights: scheme)
        })
        if let unsearched = graph.nodes.first(where: { $0.op.hasWeights && plan.entry(for: $0.name) == nil }) {
            throw RequestError(.objective, "\(.objective) integer runs the whole network in integers: layer '\(unsearched.name)' must be searched too")
        }
        let program = try IntegerProgram(graph: graph, plan: plan, formats: formats)
        self.program = program
        layerSteps = try layers.map { layer in
            guard let step = program.stepIndex(ofLayer: layer) else { throw DatapathError(layer: layer, "is not a step of the integer program") }
            return step
        }
        inputs = float.batchRanges.map { range in
            formats.input.codes(of: float.dataset.batch(range, preprocessing: float.preprocessing).data).codes
        }
        scoreScale = Double.pow2(-program.scoreFormat.fraction)
    }

    /// `program` with layers `range` given `schemes`' weights.
    func program(_ schemes: [LayerScheme?], layers range: Range<Int>) throws -> IntegerProgram {
        var program = program
        for layer in range {
            guard let scheme = schemes[layer], case let .pattern(pattern) = scheme else {
                throw RequestError(.objective, "layer '\(layerNames[layer])' has no bit pattern; the integer objective scores complete assignments")
            }
            program = try program.replacingWeights(of: layerNames[layer], with: float.quantized(layer: layer, scheme: scheme).0, pattern: pattern)
        }
        return program
    }

    func start() throws -> Checkpoint {
        let first = layerSteps.first ?? 0
        let (program, inputs) = (program, inputs)
        return Checkpoint(runs: try Parallel.map(inputs.count) { batch in
            program.advance(program.start(inputs[batch], count: float.batchRanges[batch].count), to: first)
        })
    }

    func advance(_ checkpoint: Checkpoint, layer: Int, scheme: LayerScheme?) throws -> Checkpoint {
        var schemes = [LayerScheme?](repeating: nil, count: layerNames.count)
        schemes[layer] = scheme
        let changed = try program(schemes, layers: layer..<(layer + 1))
        let end = layer + 1 < layerSteps.count ? layerSteps[layer + 1] : nil
        return Checkpoint(runs: try Parallel.map(checkpoint.runs.count) { batch in changed.advance(checkpoint.runs[batch], to: end) })
    }

    func score(_ checkpoint: Checkpoint, layer: Int, schemes: [LayerScheme?], stoppingAbove limit: Double?) throws -> SearchScore? {
        let changed = try program(schemes, layers: layer..<layerNames.count)
        let count = Double(max(1, float.dataset.count))
        var divergence = 0.0
        var agreeing = 0, correct = 0
        for round in Parallel.rounds(checkpoint.runs.count) {
            let parts = try Parallel.map(round.count) { [self] slot -> (Double, Int, Int) in
                let batch = round.lowerBound + slot
                let scores = changed.scores(of: changed.advance(checkpoint.runs[batch]))
                let values = Tensor(shape: [float.batchRanges[batch].count, changed.classes], data: scores.map { Float(Double($0) * scoreScale) })
                let (divergence, agreeing) = float.compare(NetworkSearchEvaluator.logProbabilities(values, areProbabilities: false), batch: batch)
                let labels = float.dataset.labels[float.batchRanges[batch]]
                return (divergence, agreeing, zip(changed.predictions(scores), labels).filter { $0 == $1 }.count)
            }
            for part in parts {
                divergence += part.0
                agreeing += part.1
                correct += part.2
            }
            if let limit, divergence / count > limit { return nil }
        }
        return SearchScore(loss: divergence / count, agreement: Double(agreeing) / count, accuracy: Double(correct) / count)
    }

    func weightError(layer: Int, scheme: LayerScheme) -> Double { float.weightError(layer: layer, scheme: scheme) }

    func outputError(_ checkpoint: Checkpoint, layer: Int, scheme: LayerScheme) throws -> Double {
        throw RequestError(.objective, "the integer objective refines complete assignments; its proxies are the float search's")
    }
}
