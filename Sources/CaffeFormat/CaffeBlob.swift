import TensorGraph

extension Caffe_BlobProto {
    /// The blob as a tensor, with its stored shape (BlobShape, or legacy num/channels/height/width).
    /// - Throws: `FormatError` when the data count does not match the shape.
    func tensor(file: String, layer: String, index: Int) throws -> Tensor {
        let dims: [Int64]
        if hasShape {
            dims = shape.dim
        } else if hasNum || hasChannels || hasHeight || hasWidth {
            dims = [Int64(num), Int64(channels), Int64(height), Int64(width)]
        } else {
            dims = [Int64(max(data.count, doubleData.count))]
        }
        let what = "layer '\(layer)' blob \(index)"
        guard dims.allSatisfy({ $0 >= 0 && $0 <= Int64(Int32.max) }) else {
            throw FormatError(file: file, "\(what) has an invalid shape \(dims)")
        }
        let shape = Shape(dims.map { Int($0) })
        guard let count = shape.checkedCount else { throw FormatError(file: file, "\(what): shape \(shape) overflows") }
        let values: [Float]
        if !data.isEmpty || doubleData.isEmpty {
            values = data
        } else {
            values = doubleData.map { Float($0) }
        }
        guard values.count == count else {
            throw FormatError(file: file, "\(what) has \(values.count) values, its shape \(shape) needs \(count)")
        }
        return Tensor(shape: shape, data: values)
    }

    init(_ tensor: Tensor) {
        self.init()
        shape.dim = tensor.shape.dims.map { Int64($0) }
        data = tensor.data
    }
}
