import Foundation
import TensorGraph

/// Builds a graph from an ONNX model: initializers and Constant nodes become parameters or folded
/// constants, shape arithmetic (PyTorch's `Shape → Gather → Unsqueeze → Concat → Reshape` for
/// `view`) is folded with the batch dimension kept symbolic, and each remaining node maps onto one
/// op (or merges into the one before it: a MatMul's Add, a Pad before a Convolution).
struct ONNXImporter {
    /// A constant tensor; integers and floats alike are held as doubles (exact for both).
    struct Constant {
        var dims: [Int]
        var values: [Double]
        var count: Int { values.count }
    }

    /// Stands for the batch size in folded shape arithmetic.
    static let batch = -Double(1 << 40)
    static let defaultDomains: Set<String> = ["", "ai.onnx"]
    static let opsets = 7...21

    let model: Onnx_ModelProto
    let file: URL
    var constants: [String: Constant] = [:]
    /// ONNX value name → the graph value that holds it (Identity, Dropout, Flatten of a flat value).
    var aliases: [String: String] = [:]
    /// Values a Pad node produced: the padded value and the pads (top, left, bottom, right).
    var padded: [String: (source: String, pads: [Int])] = [:]
    var nodes: [Node] = []
    var input: GraphInput?
    var unsupported: [String] = []
    var usedNames: Set<String> = []
    /// The node being imported, for `add` and `refuse`.
    var current: (node: Onnx_NodeProto, index: Int)?
    /// `(x - mean) × scale` found on the input, as bmq writes a model's preprocessing.
    var preprocessing: Preprocessing?

    init(model: Onnx_ModelProto, file: URL) {
        self.model = model
        self.file = file
    }

    func fail(_ message: String) -> FormatError { FormatError(file: file.path, message) }

    mutating func graph() throws -> Graph {
        let opset = model.opsetImport.first { Self.defaultDomains.contains($0.domain) }?.version ?? 1
        guard Self.opsets.contains(Int(opset)) else {
            throw fail("uses opset \(opset) of the default domain; bmq reads opsets \(Self.opsets.lowerBound) to \(Self.opsets.upperBound)")
        }
        let graph = model.graph
        for tensor in graph.initializer { constants[tensor.name] = try constant(tensor) }
        let dynamic = graph.input.filter { constants[$0.name] == nil }
        guard dynamic.count == 1, let first = dynamic.first else {
            throw fail("has \(dynamic.count) inputs besides its initializers (\(dynamic.map(\.name).joined(separator: ", "))); bmq runs nets with one")
        }
        input = GraphInput(name: first.name, shape: try inputShape(first))
        var index = foldPreprocessing(graph.node)
        while index < graph.node.count {
            if let lrn = withinChannelLRN(graph.node, at: index) {
                current = (graph.node[index + 5], index + 5)
                add(.lrn(lrn.attributes), [resolve(lrn.input)])
                current = nil
                index += 6
                continue
            }
            try importNode(graph.node[index], index: index, opset: Int(opset))
            index += 1
        }
        if !unsupported.isEmpty {
            throw fail("has nodes bmq does not run: " + unsupported.joined(separator: ", "))
        }
        guard let output = graph.output.first else { throw fail("declares no output") }
        guard let input else { throw fail("declares no input") }
        let result = Graph(name: graph.name.isEmpty ? file.deletingPathExtension().lastPathComponent : graph.name, inputs: [input],
                           nodes: nodes, output: resolve(output.name), preprocessing: preprocessing)
        do {
            _ = try ShapeInference.infer(result)
        } catch let error as GraphError {
            throw fail(error.description)
        }
        return result
    }

    /// The input's shape with the batch dimension 1 (a symbolic or fixed batch alike: the engine
    /// runs any batch size).
    func inputShape(_ value: Onnx_ValueInfoProto) throws -> Shape {
        guard case let .tensorType(tensor)? = value.type.value, tensor.hasShape else {
            throw fail("input '\(value.name)' has no tensor shape")
        }
        let dims = try tensor.shape.dim.enumerated().map { index, dim -> Int in
            if index == 0 { return 1 }
            guard case let .dimValue(size)? = dim.value, size > 0 else {
                throw fail("input '\(value.name)' has a dynamic dimension \(index) ('\(dim.dimParam)'); only the batch may be dynamic")
            }
            return Int(size)
        }
        guard (2...4).contains(dims.count) else {
            throw fail("input '\(value.name)' has shape \(dims); bmq reads images as [batch, channels, height, width], "
                       + "[batch, height, width, channels] or flattened [batch, values]")
        }
        return Shape(dims)
    }

    func resolve(_ name: String) -> String {
        var name = name
        while let target = aliases[name] { name = target }
        return name
    }

    /// A unique layer name from the node's name (or its op type and position).
    mutating func layerName(_ node: Onnx_NodeProto, index: Int) -> String {
        var name = node.name.isEmpty ? "\(node.opType)_\(index)" : node.name
        while usedNames.contains(name) { name += "_" }
        usedNames.insert(name)
        return name
    }

    /// Folds the `Sub(input, mean)` and `Mul(·, scale)` nodes bmq writes for a model's
    /// preprocessing (named `preprocessing.mean` and `preprocessing.scale`) back into it; other
    /// models' arithmetic stays in the graph. Returns the first node left to import.
    mutating func foldPreprocessing(_ graphNodes: [Onnx_NodeProto]) -> Int {
        guard let input else { return 0 }
        let channels = input.shape[1], pixels = input.shape.count(from: 1)
        var position = 0
        var value = input.name
        var result = Preprocessing()
        func operand(_ node: Onnx_NodeProto) -> Constant? {
            node.input.count == 2 && node.input[0] == value ? constants[node.input[1]] : nil
        }
        if position < graphNodes.count, graphNodes[position].opType == "Sub", graphNodes[position].name == "preprocessing.mean",
           let mean = operand(graphNodes[position]),
           [1, channels, pixels].contains(mean.count) {
            if mean.count == pixels {
                result.meanImage = Tensor(shape: Shape(Array(input.shape.dims.dropFirst())), data: mean.values.map(Float.init))
            } else {
                result.meanValues = mean.values.map(Float.init)
            }
            value = graphNodes[position].output[0]
            aliases[value] = input.name
            position += 1
        }
        if position < graphNodes.count, graphNodes[position].opType == "Mul", graphNodes[position].name == "preprocessing.scale",
           let scale = operand(graphNodes[position]),
           [1, channels].contains(scale.count) {
            if scale.count == 1 { result.scale = Float(scale.values[0]) } else { result.channelScales = scale.values.map(Float.init) }
            aliases[graphNodes[position].output[0]] = input.name
            position += 1
        }
        if position > 0 { preprocessing = result }
        return position
    }

    /// Caffe's within-channel LRN as bmq writes it: `Mul(x, x)`, an n×n `AveragePool` counting
    /// padding, `Mul` by α, `Add` 1, `Pow` by -β, `Mul` by x.
    func withinChannelLRN(_ graphNodes: [Onnx_NodeProto], at index: Int) -> (attributes: LRNAttributes, input: String)? {
        guard index + 5 < graphNodes.count else { return nil }
        let chain = Array(graphNodes[index...(index + 5)])
        let x = chain[0].input.first ?? ""
        func scalar(_ node: Onnx_NodeProto, _ op: String) -> Double? {
            guard node.opType == op, node.input.count == 2, let c = constants[node.input[1]], c.count == 1 else { return nil }
            return c.values[0]
        }
        guard chain[0].opType == "Mul", chain[0].input == [x, x], constants[x] == nil,
              chain[1].opType == "AveragePool", chain[1].input == chain[0].output,
              let alpha = scalar(chain[2], "Mul"), chain[2].input[0] == chain[1].output[0],
              scalar(chain[3], "Add") == 1, chain[3].input[0] == chain[2].output[0],
              let exponent = scalar(chain[4], "Pow"), chain[4].input[0] == chain[3].output[0],
              chain[5].opType == "Mul", Set(chain[5].input) == [x, chain[4].output[0]] else { return nil }
        let a = ONNXAttributes(chain[1])
        guard let kernel = a.ints("kernel_shape"), kernel.count == 2, kernel[0] == kernel[1], kernel[0] % 2 == 1,
              (a.ints("strides") ?? [1, 1]) == [1, 1], a.ints("pads") == [Int](repeating: (kernel[0] - 1) / 2, count: 4),
              a.int("count_include_pad", 0) == 1 else { return nil }
        return (LRNAttributes(localSize: kernel[0], alpha: Float(alpha), beta: Float(-exponent), region: .withinChannel), x)
    }

    // MARK: Tensors

    func constant(_ tensor: Onnx_TensorProto) throws -> Constant {
        let dims = tensor.dims.map(Int.init)
        guard dims.allSatisfy({ $0 >= 0 }) else { throw fail("tensor '\(tensor.name)' has a negative dimension") }
        guard let count = Shape(dims).checkedCount else { throw fail("tensor '\(tensor.name)' has a shape \(dims) too large to hold") }
        let values: [Double]
        if tensor.dataLocation == .external {
            values = try decode(raw: try externalData(tensor), type: tensor.dataType, name: tensor.name)
        } else if !tensor.rawData.isEmpty {
            values = try decode(raw: tensor.rawData, type: tensor.dataType, name: tensor.name)
        } else {
            switch tensor.dataType {
            case 1: values = tensor.floatData.map(Double.init)
            case 11: values = tensor.doubleData
            case 7: values = tensor.int64Data.map(Double.init)
            case 2, 3, 4, 5, 6, 9: values = tensor.int32Data.map(Double.init)
            case 12, 13: values = tensor.uint64Data.map(Double.init)
            default: throw fail("tensor '\(tensor.name)' has data type \(tensor.dataType), which bmq does not read")
            }
        }
        guard values.count == count else {
            throw fail("tensor '\(tensor.name)' holds \(values.count) values, its shape \(dims) needs \(count)")
        }
        return Constant(dims: dims, values: values)
    }

    /// Little-endian element bytes as doubles.
    func decode(raw: Data, type: Int32, name: String) throws -> [Double] {
        let size: Int
        switch type {
        case 1, 6, 12: size = 4
        case 7, 11, 13: size = 8
        case 2, 3, 9: size = 1
        case 4, 5: size = 2
        default: throw fail("tensor '\(name)' has data type \(type), which bmq does not read")
        }
        guard raw.count % size == 0 else { throw fail("tensor '\(name)' has \(raw.count) raw bytes, not a whole number of \(size)-byte values") }
        return raw.withUnsafeBytes { bytes in
            (0..<(raw.count / size)).map { index in
                let offset = index * size
                switch type {
                case 1: return Double(Float(bitPattern: UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: offset, as: UInt32.self))))
                case 11: return Double(bitPattern: UInt64(littleEndian: bytes.loadUnaligned(fromByteOffset: offset, as: UInt64.self)))
                case 6: return Double(Int32(littleEndian: bytes.loadUnaligned(fromByteOffset: offset, as: Int32.self)))
                case 12: return Double(UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: offset, as: UInt32.self)))
                case 7: return Double(Int64(littleEndian: bytes.loadUnaligned(fromByteOffset: offset, as: Int64.self)))
                case 13: return Double(UInt64(littleEndian: bytes.loadUnaligned(fromByteOffset: offset, as: UInt64.self)))
                case 2, 9: return Double(bytes[offset])
                case 3: return Double(Int8(bitPattern: bytes[offset]))
                case 4: return Double(UInt16(littleEndian: bytes.loadUnaligned(fromByteOffset: offset, as: UInt16.self)))
                default: return Double(Int16(littleEndian: bytes.loadUnaligned(fromByteOffset: offset, as: Int16.self)))
                }
            }
        }
    }

    /// The bytes of a tensor stored beside the model (`location`, `offset`, `length`).
    func externalData(_ tensor: Onnx_TensorProto) throws -> Data {
        let entries = Dictionary(tensor.externalData.map { ($0.key, $0.value) }, uniquingKeysWith: { a, _ in a })
        guard let location = entries["location"], !location.isEmpty, !location.hasPrefix("/"), !location.contains("..") else {
            throw fail("tensor '\(tensor.name)' is stored outside the file without a usable location")
        }
        let url = file.deletingLastPathComponent().appendingPathComponent(location)
        guard FileManager.default.fileExists(atPath: url.path) else {
            throw fail("tensor '\(tensor.name)' is stored in '\(location)', which is not at \(url.path)")
        }
        let data = try FileIO.read(url)
        let offset = Int(entries["offset"] ?? "0") ?? -1
        let length = entries["length"].flatMap { Int($0) } ?? (data.count - max(offset, 0))
        guard offset >= 0, length >= 0, offset + length <= data.count else {
            throw fail("tensor '\(tensor.name)': bytes \(offset)..<\(offset + length) are not inside '\(location)' (\(data.count) bytes)")
        }
        return data.subdata(in: offset..<(offset + length))
    }

    // MARK: Shapes

    /// The shape of a graph value computed so far (batch 1).
    func shape(of value: String) throws -> [Int] {
        guard let input else { throw fail("declares no input") }
        let name = resolve(value)
        if name == input.name { return input.shape.dims }
        let partial = Graph(name: "partial", inputs: [input], nodes: nodes, output: name)
        do {
            guard let shape = try ShapeInference.infer(partial).valueShapes[name] else { throw fail("no node produces '\(value)'") }
            return shape.dims
        } catch let error as GraphError {
            throw fail(error.description)
        }
    }
}
