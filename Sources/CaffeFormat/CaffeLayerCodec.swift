import TensorGraph

/// How one operation reads and writes itself as a Caffe layer. Each operation conforms in its
/// own file under `Layers/`; the plug-in finds them through `Op.catalog`.
protocol CaffeLayerCodec: OperatorAttributes {
    /// The attributes from a layer's parameter message (either layer form).
    /// - Throws: `CaffeAttributeError` when the layer asks for something bmq does not run.
    init(caffe layer: CaffeLayer) throws
    /// Sets the layer's parameter message; fields at Caffe's defaults are left unset.
    func write(to layer: inout Caffe_LayerParameter)
}

/// A Caffe layer's parameters that bmq cannot represent; the builder adds the file and layer.
struct CaffeAttributeError: Error {
    var message: String
    init(_ message: String) { self.message = message }
}

enum CaffeLayerCodecs {
    /// Every operation the Caffe plug-in reads and writes, by Caffe layer type: those in the
    /// graph's catalog whose attributes conform to `CaffeLayerCodec`.
    static let byType: [String: any CaffeLayerCodec.Type] = Dictionary(
        uniqueKeysWithValues: Op.catalog.compactMap { $0 as? any CaffeLayerCodec.Type }.map { ($0.typeName, $0) })

    /// The operation for a layer, or nil when the type is not supported.
    static func op(for layer: CaffeLayer) throws -> Op? {
        try byType[layer.type].map { try $0.init(caffe: layer).op }
    }

    /// The current-format layer definition of a graph node (used by the writers).
    /// - Throws: `GraphError` naming the layer when its operation has no Caffe form.
    static func layerParameter(for node: Node) throws -> Caffe_LayerParameter {
        guard let codec = node.op.attributes as? any CaffeLayerCodec else {
            throw GraphError.invalidAttribute(layer: node.name, reason: "a \(node.op.typeName) layer cannot be written as Caffe")
        }
        var layer = Caffe_LayerParameter()
        layer.name = node.name
        layer.type = node.op.typeName
        layer.bottom = node.inputs
        layer.top = node.outputs
        codec.write(to: &layer)
        return layer
    }

    /// Caffe's repeated-or-explicit size fields: `size` (0, 1 or 2 values) or the `_h`/`_w` pair.
    static func size2(_ values: [UInt32], h: UInt32?, w: UInt32?, default fallback: Int?, name: String) throws -> Size2 {
        if let h, let w { return Size2(Int(h), Int(w)) }
        guard h == nil, w == nil else { throw CaffeAttributeError("\(name)_h and \(name)_w must be given together") }
        switch values.count {
        case 0:
            guard let fallback else { throw CaffeAttributeError("\(name) is not set") }
            return Size2(square: fallback)
        case 1: return Size2(square: Int(values[0]))
        case 2: return Size2(Int(values[0]), Int(values[1]))
        default: throw CaffeAttributeError("\(values.count) \(name) values: only 2-D is supported")
        }
    }
}
