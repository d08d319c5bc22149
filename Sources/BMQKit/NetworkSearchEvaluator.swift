import Datasets
import Foundation
import Inference
import Quantization
import TensorGraph

/// Scores quantization schemes by running the engine on calibration data, resuming from cached
/// activations so a change to one layer re-runs only the layers from it on.
final class NetworkSearchEvaluator: SearchEvaluator, @unchecked Sendable {
    /// The values of every calibration batch just before one searched layer.
    struct Checkpoint: @unchecked Sendable {
        var batches: [[String: Tensor]]
        /// Tells checkpoints apart for the caches of float outputs.
        var id = UUID()
    }

    let network: Network
    /// Node index of each searched layer, ascending.
    let layerNodes: [Int]
    let rounding: RoundingMode
    let batchRanges: [Range<Int>]
    let dataset: Dataset
    let preprocessing: Preprocessing
    /// The float model's log-probabilities per batch, row-major [images, classes].
    private(set) var referenceLogProbabilities: [[Double]] = []
    let outputIsProbability: Bool
    /// Images the output-error proxy looks at.
    let proxyImages: Int

    /// Per searched layer, the error-compensation factor from the float model's inputs (nil: plain rounding).
    let factors: [ErrorCompensation.Factor?]

    /// Mean square of each searched layer's float weights (the weight-error proxy's denominator).
    let weightPowers: [Double]

    private let lock = NSLock()
    private var quantized: [String: (Tensor, QuantizationStatistics)] = [:]
    private var powers: [String: Double] = [:]
    private var reconstructions: [[String]: [Int: [Tensor]]] = [:]
    private var learned: [[String]: [Int: [Tensor]]] = [:]
    /// Learned rounding's settings when the final weights are trained after reconstruction.
    var learning: LearnedRounding.Settings?
    /// Reports long phases of the final weights' making.
    var progress: (@Sendable (String, Int, Int) -> Void)?
    /// Calibration images layer reconstruction runs on; 0 when the final weights are each layer's own.
    let reconstructionImages: Int
    /// The float values before layer 0: the same for every search and phase, so made once.
    private var startCheckpoint: Checkpoint?

    /// - Parameter compensationImages: calibration images whose layer inputs give the error
    ///   compensation's input correlation; 0 for plain rounding.
    ///   - reconstructionImages: calibration images the final weights are reconstructed on (0: none).
    init(graph: Graph, layers: [String], calibration: Dataset, batchSize: Int, rounding: RoundingMode, proxyImages: Int = 300,
         compensationImages: Int = 0, reconstructionImages: Int = 0) throws {
        self.reconstructionImages = reconstructionImages
        network = try Network(graph: graph)
        layerNodes = try layers.map { name in
            guard let index = graph.nodes.firstIndex(where: { $0.name == name }) else {
                throw PlanError("the net has no layer '\(name)'")
            }
            return index
        }
        self.rounding = rounding
        dataset = calibration
        preprocessing = graph.preprocessing ?? .identity
        batchRanges = calibration.batchRanges(size: batchSize)
        weightPowers = layerNodes.map { node in
            let weights = graph.nodes[node].parameters.first
            return (weights?.data.reduce(0.0) { $0 + Double($1) * Double($1) } ?? 0) / Double(max(1, weights?.count ?? 0))
        }
        let producer = graph.nodes.last { $0.outputs.contains(graph.output) }
        outputIsProbability = producer.map { if case .softmax = $0.op { true } else { false } } ?? false
        self.proxyImages = proxyImages
        let (network, ranges, dataset, preprocessing) = (network, batchRanges, calibration, preprocessing)
        let outputs = try Parallel.map(ranges.count) { batch in
            try network.forward(dataset.batch(ranges[batch], preprocessing: preprocessing))
        }
        factors = try Self.compensationFactors(network: network, layerNodes: layerNodes, calibration: calibration,
                                               images: compensationImages, preprocessing: preprocessing)
        referenceLogProbabilities = outputs.map(logProbabilities)
    }

    /// The float model's input correlation at every searched layer over the first `images`
    /// calibration images, factored for error compensation.
    static func compensationFactors(network: Network, layerNodes: [Int], calibration: Dataset, images: Int,
                                    preprocessing: Preprocessing) throws -> [ErrorCompensation.Factor?] {
        guard images > 0 else { return layerNodes.map { _ in nil } }
        let count = min(images, calibration.count)
        let nodes = network.graph.nodes
        var values = [network.graph.inputs[0].name: calibration.batch(0..<count, preprocessing: preprocessing)]
        var position = 0
        var factors: [ErrorCompensation.Factor?] = []
        for node in layerNodes {
            values = try network.resume(values, batch: count, nodes: position..<node)
            position = node
            let weights = nodes[node].parameters.first
            guard let input = values[nodes[node].inputs[0]], let weights, let gram = InputCorrelation.gram(of: nodes[node], input: input) else {
                factors.append(nil)
                continue
            }
            factors.append(ErrorCompensation.Factor(gram: gram, size: weights.count / max(1, weights.shape[0])))
        }
        return factors
    }

    /// The parameters of searched layer `layer` with its weights under `scheme`, by node index (empty for float).
    func weights(layer: Int, scheme: LayerScheme?) -> [Int: [Tensor]] {
        guard let scheme else { return [:] }
        let node = layerNodes[layer]
        return [node: [quantized(layer: layer, scheme: scheme).0] + network.graph.nodes[node].parameters.dropFirst()]
    }

    /// Searched layer `layer`'s weights under `scheme` (error-compensated when a factor is known)
    /// and what quantizing did to them, computed once and kept.
    func quantized(layer: Int, scheme: LayerScheme) -> (Tensor, QuantizationStatistics) {
        let key = "\(layer) \(scheme.text)"
        lock.lock()
        defer { lock.unlock() }
        if let cached = quantized[key] { return cached }
        let weights = network.graph.nodes[layerNodes[layer]].parameters[0]
        let result = factors[layer].map { TensorQuantizer.quantizeCompensated(weights, scheme: scheme, rounding: rounding, factor: $0) }
            ?? TensorQuantizer.quantize(weights, scheme: scheme, rounding: rounding)
        quantized[key] = result
        return result
    }

    /// The graph with every searched layer's weights quantized by `schemes` (nil: float), as scored.
    func quantizedGraph(_ schemes: [LayerScheme?]) -> Graph {
        var graph = network.graph
        for (layer, scheme) in schemes.enumerated() {
            guard let replacement = weights(layer: layer, scheme: scheme)[layerNodes[layer]] else { continue }
            graph.nodes[layerNodes[layer]].parameters = replacement
        }
        return graph
    }

    /// The parameters an assignment finally gets: layer reconstruction's when the evaluator
    /// reconstructs (then trained by learned rounding when it learns), else each layer's own
    /// (error-compensated or plainly rounded) weights.
    func finalParameters(_ schemes: [LayerScheme?]) throws -> [Int: [Tensor]] {
        if reconstructionImages > 0 {
            let reconstructed = try reconstructedParameters(schemes)
            guard let learning else { return reconstructed }
            return try remembered(in: \.learned, schemes) {
                try LearnedRounding(evaluator: self, settings: learning).tune(schemes: schemes, start: reconstructed) { [progress] done, total in
                    progress?("learned rounding", done, total)
                }
            }
        }
        return schemes.indices.reduce(into: [Int: [Tensor]]()) { $0.merge(weights(layer: $1, scheme: schemes[$1])) { $1 } }
    }

    /// The graph with an assignment's final parameters.
    func finalGraph(_ schemes: [LayerScheme?]) throws -> Graph {
        var graph = network.graph
        for (node, parameters) in try finalParameters(schemes) { graph.nodes[node].parameters = parameters }
        return graph
    }

    /// Every searched layer's parameters under `schemes`, re-rounded one layer after another by
    /// `LayerReconstruction` on the first `reconstructionImages` calibration images: each layer
    /// from the inputs the layers before it, already re-rounded, give. Cached per assignment.
    /// A layer the moments do not cover keeps its own weights.
    func reconstructedParameters(_ schemes: [LayerScheme?]) throws -> [Int: [Tensor]] {
        try remembered(in: \.reconstructions, schemes) { try reconstruct(schemes) }
    }

    /// An assignment's parameters from `cache`, made by `make` the first time.
    private func remembered(in cache: ReferenceWritableKeyPath<NetworkSearchEvaluator, [[String]: [Int: [Tensor]]]>, _ schemes: [LayerScheme?],
                            make: () throws -> [Int: [Tensor]]) throws -> [Int: [Tensor]] {
        let key = schemes.map { $0?.text ?? "float" }
        lock.lock()
        let known = self[keyPath: cache][key]
        lock.unlock()
        if let known { return known }
        let made = try make()
        lock.lock()
        self[keyPath: cache][key] = made
        lock.unlock()
        return made
    }

    private func reconstruct(_ schemes: [LayerScheme?]) throws -> [Int: [Tensor]] {
        let images = min(reconstructionImages, dataset.count)
        let ranges = batchRanges.compactMap { $0.lowerBound < images ? $0.lowerBound..<min($0.upperBound, images) : nil }
        let (network, dataset, preprocessing) = (network, dataset, preprocessing)
        let input = network.graph.inputs[0].name
        var floatValues = try Parallel.map(ranges.count) { [input: dataset.batch(ranges[$0], preprocessing: preprocessing)] }
        var quantizedValues = floatValues
        var parameters: [Int: [Tensor]] = [:]
        var position = 0
        for (layer, scheme) in schemes.enumerated() {
            guard let scheme else { continue }
            let node = layerNodes[layer]
            let (start, sofar, floatBefore, quantizedBefore) = (position, parameters, floatValues, quantizedValues)
            floatValues = try Parallel.map(ranges.count) { try network.resume(floatBefore[$0], batch: ranges[$0].count, nodes: start..<node) }
            quantizedValues = try Parallel.map(ranges.count) {
                try network.resume(quantizedBefore[$0], batch: ranges[$0].count, nodes: start..<node, parameters: sofar)
            }
            position = node
            let graphNode = network.graph.nodes[node]
            let (floatInputs, quantizedInputs) = (floatValues, quantizedValues)
            let partials = try Parallel.map(ranges.count) { batch -> (gram: [Float], cross: [Float])? in
                guard let quantized = quantizedInputs[batch][graphNode.inputs[0]], let float = floatInputs[batch][graphNode.inputs[0]] else {
                    return nil
                }
                return InputCorrelation.reconstructionMoments(of: graphNode, quantized: quantized, float: float)
            }
            let original = graphNode.parameters
            let hasBias = Self.hasBias(graphNode, parameters: original)
            var moments = LayerReconstruction.Moments(inputs: original[0].count / max(1, original[0].shape[0]))
            var covered = !partials.isEmpty
            for partial in partials {
                guard let partial, partial.gram.count == moments.gram.count else { covered = false; break }
                moments.add(gram: partial.gram, cross: partial.cross)
            }
            if covered, let result = LayerReconstruction.reconstruct(weights: original[0], bias: hasBias ? original[1] : nil, scheme: scheme,
                                                                     moments: moments) {
                parameters[node] = [result.weights] + (result.bias.map { [$0] } ?? []) + original.dropFirst(hasBias ? 2 : 1)
            } else {
                parameters.merge(weights(layer: layer, scheme: scheme)) { $1 }
            }
        }
        return parameters
    }

    /// Whether a weight layer's parameters include its bias (second, named so by the op).
    static func hasBias(_ node: Node, parameters: [Tensor]) -> Bool {
        node.op.parameterNames.dropFirst().first == "bias" && parameters.count > 1
    }

    func start() throws -> Checkpoint {
        lock.lock()
        let known = startCheckpoint
        lock.unlock()
        if let known { return known }
        let first = layerNodes.first ?? network.graph.nodes.count
        let input = network.graph.inputs[0].name
        let checkpoint = Checkpoint(batches: try Parallel.map(batchRanges.count) { [self] batch in
            let range = batchRanges[batch]
            return try network.resume([input: dataset.batch(range, preprocessing: preprocessing)], batch: range.count, nodes: 0..<first)
        })
        lock.lock()
        startCheckpoint = checkpoint
        lock.unlock()
        return checkpoint
    }

    func advance(_ checkpoint: Checkpoint, layer: Int, scheme: LayerScheme?) throws -> Checkpoint {
        let end = layer + 1 < layerNodes.count ? layerNodes[layer + 1] : network.graph.nodes.count
        let parameters = weights(layer: layer, scheme: scheme)
        return Checkpoint(batches: try Parallel.map(batchRanges.count) { [self] batch in
            try network.resume(checkpoint.batches[batch], batch: batchRanges[batch].count, nodes: layerNodes[layer]..<end, parameters: parameters)
        })
    }

    func score(_ checkpoint: Checkpoint, layer: Int, schemes: [LayerScheme?], stoppingAbove limit: Double?) throws -> SearchScore? {
        try score(checkpoint, layer: layer, parameters: parameters(from: layer, schemes), stoppingAbove: limit)
    }

    func score(_ checkpoint: Checkpoint, layer: Int, schemes: [LayerScheme?], below rival: SearchScore) throws -> SearchScore? {
        try score(checkpoint, layer: layer, parameters: parameters(from: layer, schemes), stoppingAbove: rival.loss, rival: rival.batchLosses)
    }

    /// The quantized weights of every searched layer from `layer` on, by node index.
    private func parameters(from layer: Int, _ schemes: [LayerScheme?]) -> [Int: [Tensor]] {
        (layer..<layerNodes.count).reduce(into: [Int: [Tensor]]()) { parameters, index in
            parameters.merge(weights(layer: index, scheme: schemes[index])) { $1 }
        }
    }

    /// Batches a scoring sees before it may stop on the batch-by-batch comparison with a rival.
    static let pairedMinimumBatches = 10
    /// Standard errors by which the mean per-batch loss difference must exceed zero to stop.
    static let pairedConfidence = 3.0

    /// The score with `parameters` replacing those of the nodes they name, from layer `layer` on.
    /// - Parameters:
    ///   - limit: stop (nil) once the loss is sure to exceed this: its partial sum already does.
    ///   - rival: a rival's per-batch KL sums (its loss is `limit`). After `pairedMinimumBatches`,
    ///     stop also when this scoring's batches exceed the rival's same batches by more than
    ///     `pairedConfidence` standard errors of the mean difference: the loss is then almost surely
    ///     above the rival's (images are the same, so the paired differences are small and steady).
    func score(_ checkpoint: Checkpoint, layer: Int, parameters: [Int: [Tensor]], stoppingAbove limit: Double?,
               rival: [Double] = []) throws -> SearchScore? {
        let count = Double(max(1, dataset.count))
        var divergence = 0.0
        var agreeing = 0, correct = 0
        var batchLosses: [Double] = []
        let paired = rival.count == batchRanges.count
        // Rounds of one batch per core; after each, stop once the loss cannot come back under the limit.
        for round in Parallel.rounds(batchRanges.count) {
            let parts = try Parallel.map(round.count) { [self] slot in
                try agreement(checkpoint, batch: round.lowerBound + slot, layer: layer, parameters: parameters)
            }
            for part in parts {
                divergence += part.divergence
                agreeing += part.agreeing
                correct += part.correct
                batchLosses.append(part.divergence)
            }
            if let limit, divergence / count > limit { return nil }
            if paired, batchLosses.count >= Self.pairedMinimumBatches, batchLosses.count < batchRanges.count,
               Self.isSurelyWorse(batchLosses, than: rival) {
                return nil
            }
        }
        return SearchScore(loss: divergence / count, agreement: Double(agreeing) / count, accuracy: Double(correct) / count,
                           batchLosses: batchLosses)
    }

    /// Whether the mean of `losses[b] - rival[b]` over the batches seen is above zero by more than
    /// `pairedConfidence` standard errors.
    static func isSurelyWorse(_ losses: [Double], than rival: [Double]) -> Bool {
        let n = Double(losses.count)
        let differences = losses.indices.map { losses[$0] - rival[$0] }
        let mean = differences.reduce(0, +) / n
        guard mean > 0 else { return false }
        let variance = differences.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / (n - 1)
        return mean > pairedConfidence * (variance / n).squareRoot()
    }

    /// KL sum, top-1 agreements with the float model and correct answers on one batch.
    private func agreement(_ checkpoint: Checkpoint, batch: Int, layer: Int, parameters: [Int: [Tensor]]) throws
        -> (divergence: Double, agreeing: Int, correct: Int) {
        let range = batchRanges[batch]
        let output = try network.resume(checkpoint.batches[batch], batch: range.count, nodes: layerNodes[layer]..<network.graph.nodes.count,
                                        parameters: parameters)
        guard let scores = output[network.graph.output] else {
            throw GraphError.undefinedValue(layer: "output", value: network.graph.output)
        }
        let (divergence, agreeing) = compare(logProbabilities(scores), batch: batch)
        return (divergence, agreeing, Evaluator.countCorrect(scores, labels: Array(dataset.labels[range])))
    }

    /// The KL divergence sum from the float model's class probabilities and the top-1 agreements
    /// (the lowest index among equal largest) of one calibration batch's log-probabilities.
    func compare(_ quantizedLog: [Double], batch: Int) -> (divergence: Double, agreeing: Int) {
        let range = batchRanges[batch]
        let reference = referenceLogProbabilities[batch]
        let classes = reference.count / range.count
        var divergence = 0.0
        var agreeing = 0
        for row in 0..<range.count {
            let base = row * classes
            var floatTop = 0, quantizedTop = 0
            for c in 0..<classes {
                let p = Foundation.exp(reference[base + c])
                if p > 0 { divergence += p * (reference[base + c] - quantizedLog[base + c]) }
                if reference[base + c] > reference[base + floatTop] { floatTop = c }
                if quantizedLog[base + c] > quantizedLog[base + quantizedTop] { quantizedTop = c }
            }
            if floatTop == quantizedTop { agreeing += 1 }
        }
        return (divergence, agreeing)
    }

    func weightError(layer: Int, scheme: LayerScheme) -> Double {
        // Plain rounding: this first filter runs on every candidate, so it stays cheap and uncached.
        let (_, statistics) = TensorQuantizer.quantize(network.graph.nodes[layerNodes[layer]].parameters[0], scheme: scheme, rounding: rounding)
        let power = weightPowers[layer]
        return power > 0 ? statistics.meanSquaredError / power : statistics.meanSquaredError
    }

    /// ||layer(x; Wq) - layer(x; W)||² / ||layer(x; W)||² over the first `proxyImages` images of the
    /// checkpoint. Convolution and inner product are linear in the weights, so the numerator is
    /// one run with the weight error `Wq - W` and no bias.
    func outputError(_ checkpoint: Checkpoint, layer: Int, scheme: LayerScheme) throws -> Double {
        let node = layerNodes[layer]
        let original = network.graph.nodes[node].parameters
        let (quantized, _) = quantized(layer: layer, scheme: scheme)
        var delta = quantized
        for i in delta.data.indices { delta.data[i] -= original[0].data[i] }
        let parameters = [node: [delta] + original.dropFirst().map { Tensor(shape: $0.shape, data: [Float](repeating: 0, count: $0.count)) }]
        let value = network.graph.nodes[node].outputs[0]
        var difference = 0.0, reference = 0.0
        var seen = 0
        for (batch, (values, range)) in zip(checkpoint.batches, batchRanges).enumerated() where seen < proxyImages {
            seen += range.count
            guard let error = try network.resume(values, batch: range.count, nodes: node..<(node + 1), parameters: parameters)[value] else { continue }
            difference += error.data.reduce(0.0) { $0 + Double($1) * Double($1) }
            reference += try outputPower(checkpoint, batch: batch, layer: layer)
        }
        return reference > 0 ? difference / reference : difference
    }

    /// Sum of squares of layer `layer`'s float output on one batch of a checkpoint, computed once.
    private func outputPower(_ checkpoint: Checkpoint, batch: Int, layer: Int) throws -> Double {
        let key = "\(checkpoint.id) \(layer) \(batch)"
        lock.lock()
        let known = powers[key]
        lock.unlock()
        if let known { return known }
        let node = layerNodes[layer]
        let output = try network.resume(checkpoint.batches[batch], batch: batchRanges[batch].count, nodes: node..<(node + 1))
        let power = output[network.graph.nodes[node].outputs[0]]?.data.reduce(0.0) { $0 + Double($1) * Double($1) } ?? 0
        lock.lock()
        powers[key] = power
        lock.unlock()
        return power
    }

    /// Log class probabilities of a batch of outputs (probabilities when the network ends in a
    /// Softmax, scores otherwise), as doubles.
    func logProbabilities(_ scores: Tensor) -> [Double] { Self.logProbabilities(scores, areProbabilities: outputIsProbability) }

    /// Log class probabilities of a batch of probabilities or of scores (by log-softmax).
    static func logProbabilities(_ scores: Tensor, areProbabilities outputIsProbability: Bool) -> [Double] {
        let rows = max(1, scores.shape.rank > 0 ? scores.shape[0] : 1)
        let classes = scores.count / rows
        var result = [Double](repeating: 0, count: scores.count)
        for row in 0..<rows {
            let base = row * classes
            if outputIsProbability {
                for c in 0..<classes { result[base + c] = Foundation.log(max(Double(scores.data[base + c]), 1e-30)) }
                continue
            }
            var top = -Double.infinity
            for c in 0..<classes { top = max(top, Double(scores.data[base + c])) }
            var sum = 0.0
            for c in 0..<classes { sum += Foundation.exp(Double(scores.data[base + c]) - top) }
            let logSum = top + Foundation.log(sum)
            for c in 0..<classes { result[base + c] = Double(scores.data[base + c]) - logSum }
        }
        return result
    }
}
