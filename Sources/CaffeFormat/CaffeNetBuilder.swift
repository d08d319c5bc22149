import TensorGraph

/// Turns a Caffe net definition into a tensor graph (TEST phase), without weights.
struct CaffeNetBuilder {
    let file: String
    /// The phase whose include/exclude rules select layers: TEST for inference.
    var phase: Caffe_Phase = .test

    /// An input whose shape comes from the data (a Data layer): only the batch is known.
    static let unknownDimension = 0

    func build(_ net: Caffe_NetParameter) throws -> Graph {
        let all = net.unifiedLayers
        guard !all.isEmpty || !net.input.isEmpty else {
            throw FormatError(file: file, "defines no layers: this is not a Caffe net definition")
        }
        let layers = all.filter(isIncluded)
        var inputs = try legacyInputs(net)
        var nodes: [Node] = []
        var unsupported: [String] = []
        var preprocessing: Preprocessing?
        var dataSource: DataSourceDescription?
        var output: String?
        var errors: [String] = []

        for layer in layers {
            if layer.type == "Input" {
                inputs += try inputLayerInputs(layer)
                continue
            }
            if CaffeLayer.dataTypes.contains(layer.type) {
                guard let top = layer.tops.first else { continue }
                let p = layer.parameters
                let batch = Int(layer.type == "ImageData" ? p.imageDataParam.batchSize : p.dataParam.batchSize)
                inputs.append(GraphInput(name: top, shape: [max(batch, 1), Self.unknownDimension, Self.unknownDimension, Self.unknownDimension]))
                preprocessing = Self.preprocessing(of: layer) ?? preprocessing
                dataSource = Self.dataSource(of: layer) ?? dataSource
                continue
            }
            if CaffeLayer.metricTypes.contains(layer.type) {
                if output == nil || layer.type == "Accuracy", let bottom = layer.bottoms.first {
                    output = bottom
                }
                continue
            }
            do {
                guard let op = try CaffeLayerCodecs.op(for: layer) else {
                    unsupported.append("'\(layer.name)' (\(layer.type.isEmpty ? "no type" : layer.type))")
                    continue
                }
                nodes.append(Node(name: layer.name, op: op, inputs: layer.bottoms, outputs: layer.tops))
            } catch let error as CaffeAttributeError {
                errors.append("layer '\(layer.name)': \(error.message)")
            }
        }
        guard unsupported.isEmpty else {
            throw FormatError(file: file, "unsupported layers: " + unsupported.joined(separator: ", "))
        }
        guard errors.isEmpty else { throw FormatError(file: file, errors.joined(separator: "; ")) }
        guard !inputs.isEmpty else {
            throw FormatError(file: file, "the net declares no input (no input/input_shape, Input layer or Data layer)")
        }
        guard let last = nodes.last else { throw FormatError(file: file, "the net has no layers to run at inference") }
        for node in nodes where node.inputs.isEmpty || node.outputs.isEmpty {
            throw FormatError(file: file, "layer '\(node.name)' needs at least one bottom and one top")
        }
        let resolvedOutput = output ?? last.outputs[0]
        var graph = Graph(name: net.name, inputs: inputs, nodes: nodes, output: resolvedOutput, preprocessing: preprocessing)
        graph.dataSource = dataSource
        graph.trainingDataSource = all.filter { CaffeLayer.dataTypes.contains($0.type) && isIncluded($0, in: .train) }
            .compactMap(Self.dataSource(of:)).last
        return graph
    }

    /// Caffe's rule check for the builder's phase at level 0 with no stages.
    func isIncluded(_ layer: CaffeLayer) -> Bool { isIncluded(layer, in: phase) }

    /// Caffe's rule check for `phase` at level 0 with no stages.
    func isIncluded(_ layer: CaffeLayer, in phase: Caffe_Phase) -> Bool {
        func meets(_ rule: Caffe_NetStateRule) -> Bool {
            if rule.hasPhase, rule.phase != phase { return false }
            if rule.hasMinLevel, 0 < rule.minLevel { return false }
            if rule.hasMaxLevel, 0 > rule.maxLevel { return false }
            if !rule.stage.isEmpty { return false }
            return true
        }
        if !layer.include.isEmpty { return layer.include.contains(where: meets) }
        if !layer.exclude.isEmpty { return !layer.exclude.contains(where: meets) }
        return true
    }

    func legacyInputs(_ net: Caffe_NetParameter) throws -> [GraphInput] {
        guard !net.input.isEmpty else { return [] }
        if !net.inputShape.isEmpty {
            guard net.inputShape.count == net.input.count else {
                throw FormatError(file: file, "\(net.input.count) inputs but \(net.inputShape.count) input_shape entries")
            }
            return try zip(net.input, net.inputShape).map { GraphInput(name: $0, shape: try shape($1.dim, for: $0)) }
        }
        guard net.inputDim.count == 4 * net.input.count else {
            throw FormatError(file: file, "\(net.input.count) inputs need \(4 * net.input.count) input_dim values, found \(net.inputDim.count)")
        }
        return try net.input.enumerated().map { index, name in
            GraphInput(name: name, shape: try shape(net.inputDim[(4 * index)..<(4 * index + 4)].map(Int64.init), for: name))
        }
    }

    func inputLayerInputs(_ layer: CaffeLayer) throws -> [GraphInput] {
        let shapes = layer.parameters.inputParam.shape
        guard !shapes.isEmpty, shapes.count == 1 || shapes.count == layer.tops.count else {
            throw FormatError(file: file, "Input layer '\(layer.name)' needs one shape, or one per top")
        }
        return try layer.tops.enumerated().map { index, top in
            GraphInput(name: top, shape: try shape(shapes[shapes.count == 1 ? 0 : index].dim, for: top))
        }
    }

    func shape(_ dims: [Int64], for name: String) throws -> Shape {
        guard !dims.isEmpty, dims.allSatisfy({ $0 > 0 && $0 <= Int64(Int32.max) }) else {
            throw FormatError(file: file, "input '\(name)' has an invalid shape \(dims)")
        }
        let shape = Shape(dims.map { Int($0) })
        guard shape.checkedCount != nil else { throw FormatError(file: file, "input '\(name)' shape overflows") }
        return shape
    }

    /// Where a Data or ImageData layer reads its images, with the transform's crop and colour
    /// settings (the legacy crop in `data_param`/`image_data_param` when there is no `transform_param`).
    static func dataSource(of layer: CaffeLayer) -> DataSourceDescription? {
        let p = layer.parameters
        let transform = p.transformParam
        let kind: DataSourceDescription.Kind
        let source: String, legacyCrop: UInt32
        switch layer.type {
        case "Data" where p.hasDataParam && !p.dataParam.source.isEmpty:
            kind = .database(p.dataParam.backend == .lmdb ? .lmdb : .leveldb)
            (source, legacyCrop) = (p.dataParam.source, p.dataParam.cropSize)
        case "ImageData" where p.hasImageDataParam && !p.imageDataParam.source.isEmpty:
            let d = p.imageDataParam
            kind = .imageList(rootFolder: d.rootFolder, newHeight: Int(d.newHeight), newWidth: Int(d.newWidth), isColor: d.isColor)
            (source, legacyCrop) = (d.source, d.cropSize)
        default:
            return nil
        }
        return DataSourceDescription(layer: layer.name, source: source, kind: kind,
                                     cropSize: Int(transform.hasCropSize ? transform.cropSize : legacyCrop),
                                     forceColor: transform.forceColor, forceGray: transform.forceGray)
    }

    /// The TEST data layer's `transform_param` (or the legacy scale/mean in `data_param`).
    static func preprocessing(of layer: CaffeLayer) -> Preprocessing? {
        let p = layer.parameters
        if p.hasTransformParam {
            let t = p.transformParam
            return Preprocessing(scale: t.scale, meanValues: t.meanValue, meanFile: t.hasMeanFile ? t.meanFile : nil)
        }
        if p.hasDataParam, p.dataParam.hasScale || p.dataParam.hasMeanFile {
            let d = p.dataParam
            return Preprocessing(scale: d.scale, meanFile: d.hasMeanFile ? d.meanFile : nil)
        }
        return nil
    }
}
