import Datasets
import Foundation
import Inference
import Quantization
import TensorGraph

/// Learned rounding on the whole network's output (`--compensate adaround`): AdaRound's
/// relaxation, trained end to end on the calibration images against the float model's class
/// probabilities, as BRECQ does for blocks, instead of one layer's output at a time.
///
/// Every quantized weight chooses between two neighbouring values of its scheme, `a` (where
/// layer reconstruction put it) and `b` (the next value towards the float weight): while
/// training it is `a + h(V) (b - a)`, with AdaRound's rectified sigmoid `h` and one variable `V`
/// per weight; a regulariser pulls every `h` to 0 or 1 as training goes on, and at the end each
/// weight takes the value its `h` is closer to. The layers' biases (float) train with them. The
/// loss is the mean KL divergence of the quantized network's class probabilities from the float
/// model's, its gradient from the engine's backward pass. The result is kept only when its loss
/// on all calibration images is below the starting weights'.
struct LearnedRounding {
    /// The schedule: Adam steps on one calibration batch each, and the regulariser's annealing.
    struct Settings {
        var iterations = SearchRequest.defaultLearningSteps
        var learningRate = 0.05
        var biasLearningRate = 1e-3
        /// The regulariser's weight against the KL loss (a mean over each layer's weights).
        var regularization = 10.0
        /// Share of the iterations before the regulariser starts.
        var warmup = 0.2
        /// AdaRound's annealed exponent: large (only h near 0.5 is pushed) down to small.
        var betaStart = 20.0, betaEnd = 2.0
        /// h of every weight at the start (0: exactly the starting value `a`).
        var startingShare = 0.15

        static let stretch = (low: -0.1, high: 1.1)
    }

    /// One quantized layer's trainable state.
    struct Layer {
        let node: Int
        let a: [Float], b: [Float]
        var v: [Double]
        var bias: [Double]?
        var moments: AdamMoments
        var biasMoments: AdamMoments?

        /// h(V): the sigmoid stretched to (-0.1, 1.1), clipped to [0, 1], and its derivative.
        static func share(_ v: Double) -> (h: Double, slope: Double) {
            let sigmoid = 1 / (1 + Foundation.exp(-v))
            let stretched = sigmoid * (Settings.stretch.high - Settings.stretch.low) + Settings.stretch.low
            if stretched <= 0 { return (0, 0) }
            if stretched >= 1 { return (1, 0) }
            return (stretched, sigmoid * (1 - sigmoid) * (Settings.stretch.high - Settings.stretch.low))
        }

        /// The inverse of `share` for h in (0, 1).
        static func variable(forShare h: Double) -> Double {
            let sigmoid = (h - Settings.stretch.low) / (Settings.stretch.high - Settings.stretch.low)
            return Foundation.log(sigmoid / (1 - sigmoid))
        }

        func weights(shape: Shape, hard: Bool) -> Tensor {
            Tensor(shape: shape, data: a.indices.map { i in
                let h = Self.share(v[i]).h
                return hard ? (h >= 0.5 ? b[i] : a[i]) : a[i] + Float(h) * (b[i] - a[i])
            })
        }
    }

    /// Adam's running moments for one tensor of variables.
    struct AdamMoments {
        var first: [Double], second: [Double]
        init(count: Int) {
            first = [Double](repeating: 0, count: count)
            second = first
        }

        /// One Adam step of `variables` along `gradient` (step `t`, from 1).
        mutating func step(_ variables: inout [Double], gradient: [Double], rate: Double, t: Int) {
            let (beta1, beta2, epsilon) = (0.9, 0.999, 1e-8)
            let correction1 = 1 - Foundation.pow(beta1, Double(t)), correction2 = 1 - Foundation.pow(beta2, Double(t))
            for i in variables.indices {
                first[i] = beta1 * first[i] + (1 - beta1) * gradient[i]
                second[i] = beta2 * second[i] + (1 - beta2) * gradient[i] * gradient[i]
                variables[i] -= rate * (first[i] / correction1) / ((second[i] / correction2).squareRoot() + epsilon)
            }
        }
    }

    let evaluator: NetworkSearchEvaluator
    let settings: Settings

    /// Trains from `start` (every quantized layer's parameters, weights first and on their
    /// schemes) and returns the better of the trained and the starting parameters.
    /// - Throws: `GradientError` for a layer with no backward; whatever the engine throws.
    func tune(schemes: [LayerScheme?], start: [Int: [Tensor]], progress: (@Sendable (Int, Int) -> Void)? = nil) throws -> [Int: [Tensor]] {
        let network = evaluator.network
        let graph = network.graph
        // Train on the scores before a final Softmax: the loss takes their log-softmax itself.
        var end = graph.nodes.count, logits = graph.output
        if let last = graph.nodes.last, case .softmax = last.op, last.outputs == [graph.output] {
            end -= 1
            logits = last.inputs[0]
        }
        var layers: [Layer] = []
        for (index, scheme) in schemes.enumerated() {
            guard let scheme, let parameters = start[evaluator.layerNodes[index]] else { continue }
            let node = evaluator.layerNodes[index]
            let float = graph.nodes[node].parameters[0]
            let (grids, _) = LayerReconstruction.valueGrids(float, scheme: scheme)
            let rows = float.shape[0], perRow = float.count / max(1, rows)
            var a = parameters[0].data, b = a
            for i in a.indices {
                let grid = grids[grids.count == 1 ? 0 : i / perRow]
                let at = LayerReconstruction.nearestIndex(Double(a[i]), in: grid)
                // Towards the float weight; from a weight equal to it, upwards (downwards at the top).
                var other = float.data[i] < a[i] ? at - 1 : at + 1
                if !grid.indices.contains(other) { other = at == 0 ? min(1, grid.count - 1) : at - 1 }
                b[i] = Float(grid[other])
            }
            let hasBias = NetworkSearchEvaluator.hasBias(graph.nodes[node], parameters: parameters)
            let v0 = Layer.variable(forShare: settings.startingShare)
            layers.append(Layer(node: node, a: a, b: b, v: [Double](repeating: v0, count: a.count),
                                bias: hasBias ? parameters[1].data.map(Double.init) : nil,
                                moments: AdamMoments(count: a.count), biasMoments: hasBias ? AdamMoments(count: parameters[1].count) : nil))
        }
        guard !layers.isEmpty else { return start }
        func parameters(hard: Bool) -> [Int: [Tensor]] {
            var result = start
            for layer in layers {
                let original = start[layer.node]!
                var replaced = original
                replaced[0] = layer.weights(shape: original[0].shape, hard: hard)
                if let bias = layer.bias { replaced[1] = Tensor(shape: original[1].shape, data: bias.map(Float.init)) }
                result[layer.node] = replaced
            }
            return result
        }

        let wanted = Set(layers.map(\.node))
        let ranges = evaluator.batchRanges
        var order = Array(ranges.indices)
        var generator = SplitMix64(seed: 1)
        let warmupEnd = Int(Double(settings.iterations) * settings.warmup)
        for iteration in 0..<settings.iterations {
            if iteration % order.count == 0 { order.shuffle(using: &generator) }
            let batch = order[iteration % order.count]
            let range = ranges[batch]
            let input = evaluator.dataset.batch(range, preprocessing: evaluator.preprocessing)
            let tape = try network.recordingForward(input, nodes: 0..<end, parameters: parameters(hard: false))
            guard let scores = tape.values[logits] else { throw GraphError.undefinedValue(layer: "output", value: logits) }
            let gradient = Self.divergenceGradient(scores, reference: evaluator.referenceLogProbabilities[batch])
            let gradients = try network.backward(tape, gradient: gradient, of: logits, wanted: wanted)
            let beta: Double? = iteration < warmupEnd ? nil
                : settings.betaStart + (settings.betaEnd - settings.betaStart) * Double(iteration - warmupEnd) / Double(max(1, settings.iterations - warmupEnd))
            for index in layers.indices {
                let layer = layers[index]
                guard let grads = gradients[layer.node] else { continue }
                let dW = grads[0].data
                let regularization = settings.regularization / Double(layer.v.count)
                let dV = layer.v.indices.map { i -> Double in
                    let (h, slope) = Layer.share(layer.v[i])
                    var g = Double(dW[i]) * Double(layer.b[i] - layer.a[i]) * slope
                    if let beta, slope > 0 {
                        // d/dV of (1 - |2h - 1|^beta).
                        let centred = 2 * h - 1
                        g -= regularization * beta * Foundation.pow(abs(centred), beta - 1) * (centred < 0 ? -1 : 1) * 2 * slope
                    }
                    return g
                }
                var updated = layer
                updated.moments.step(&updated.v, gradient: dV, rate: settings.learningRate, t: iteration + 1)
                if var bias = updated.bias, var biasMoments = updated.biasMoments, grads.count > 1 {
                    biasMoments.step(&bias, gradient: grads[1].data.map(Double.init), rate: settings.biasLearningRate, t: iteration + 1)
                    updated.bias = bias
                    updated.biasMoments = biasMoments
                }
                layers[index] = updated
            }
            progress?(iteration + 1, settings.iterations)
        }
        let trained = parameters(hard: true)
        let checkpoint = try evaluator.start()
        let before = try evaluator.score(checkpoint, layer: 0, parameters: start, stoppingAbove: nil)
        let after = try evaluator.score(checkpoint, layer: 0, parameters: trained, stoppingAbove: before?.loss)
        guard let before, let after, after.loss < before.loss else { return start }
        return trained
    }

    /// d/d scores of the batch's mean KL(p_float || softmax(scores)): (softmax(scores) - p_float) / images.
    static func divergenceGradient(_ scores: Tensor, reference: [Double]) -> Tensor {
        let rows = scores.shape[0], classes = scores.count / max(1, rows)
        var gradient = Tensor(zeros: scores.shape)
        for row in 0..<rows {
            let base = row * classes
            var top = -Float.infinity
            for c in 0..<classes { top = max(top, scores.data[base + c]) }
            var sum = 0.0
            for c in 0..<classes { sum += Foundation.exp(Double(scores.data[base + c] - top)) }
            for c in 0..<classes {
                let q = Foundation.exp(Double(scores.data[base + c] - top)) / sum
                gradient.data[base + c] = Float((q - Foundation.exp(reference[base + c])) / Double(rows))
            }
        }
        return gradient
    }
}
