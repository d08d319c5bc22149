extension Graph {
    /// The graph with every Convolution followed in place by BatchNorm (and optionally Scale)
    /// folded into that Convolution's weights and bias, and the BatchNorm and Scale removed.
    ///
    /// For output channel `c`, with `σ = sqrt(variance/f + eps)`, `μ = mean/f` (`f` the stored
    /// moving-average factor) and Scale's `γ`, `β` (1 and 0 without a Scale):
    /// `w'[c] = w[c] × γ/σ` and `b' = (b − μ) × γ/σ + β`, computed in Double and rounded to
    /// float32 once. The integer datapath folds before quantizing, so that each layer's weights
    /// are quantized as the hardware multiplies them (`formats/datapath/SPEC.md`, section 6).
    /// Parameters must be attached.
    public func foldingBatchNorm() -> Graph {
        var folded = self
        var nodes: [Node] = []
        var index = 0
        while index < self.nodes.count {
            var node = self.nodes[index]
            guard case var .convolution(attributes) = node.op, node.outputs.count == 1, index + 1 < self.nodes.count,
                  case let .batchNorm(batchNorm) = self.nodes[index + 1].op, Self.isInPlace(self.nodes[index + 1], on: node.outputs[0]),
                  self.nodes[index + 1].parameters.count == 3, !node.parameters.isEmpty else {
                nodes.append(node)
                index += 1
                continue
            }
            let statistics = self.nodes[index + 1].parameters
            var scale: Node?
            if index + 2 < self.nodes.count, case .scale(let s) = self.nodes[index + 2].op, s.axis == 1, s.numAxes == 1,
               Self.isInPlace(self.nodes[index + 2], on: node.outputs[0]) {
                scale = self.nodes[index + 2]
            }
            let channels = attributes.numOutput
            let factor = Double(statistics[2].data[0]) == 0 ? 0 : 1 / Double(statistics[2].data[0])
            let perChannel = node.parameters[0].count / channels
            var weights = node.parameters[0]
            var bias = [Float](repeating: 0, count: channels)
            for c in 0..<channels {
                let sigma = (Double(statistics[1].data[c]) * factor + Double(batchNorm.eps)).squareRoot()
                let gamma = scale.map { Double($0.parameters[0].data[c]) } ?? 1
                let beta = scale.flatMap { $0.parameters.count > 1 ? Double($0.parameters[1].data[c]) : nil } ?? 0
                let multiplier = gamma / sigma
                for i in (c * perChannel)..<((c + 1) * perChannel) { weights.data[i] = Float(Double(weights.data[i]) * multiplier) }
                let b = attributes.biasTerm ? Double(node.parameters[1].data[c]) : 0
                bias[c] = Float((b - Double(statistics[0].data[c]) * factor) * multiplier + beta)
            }
            attributes.biasTerm = true
            node.op = .convolution(attributes)
            node.parameters = [weights, Tensor(shape: [channels], data: bias)]
            nodes.append(node)
            index += scale == nil ? 2 : 3
        }
        folded.nodes = nodes
        return folded
    }

    static func isInPlace(_ node: Node, on value: String) -> Bool { node.inputs == [value] && node.outputs == [value] }
}
