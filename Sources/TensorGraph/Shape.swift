/// The dimensions of a tensor, outermost first (NCHW for images).
public struct Shape: Hashable, Sendable, CustomStringConvertible, ExpressibleByArrayLiteral {
    /// The dimensions, outermost first.
    public var dims: [Int]

    /// A shape of `dims`.
    public init(_ dims: [Int]) { self.dims = dims }
    public init(arrayLiteral elements: Int...) { self.dims = elements }

    /// The number of dimensions.
    public var rank: Int { dims.count }
    public subscript(index: Int) -> Int {
        get { dims[index] }
        set { dims[index] = newValue }
    }

    /// Number of elements, or nil when a dimension is negative or the product overflows.
    public var checkedCount: Int? {
        var total = 1
        for dim in dims {
            guard dim >= 0 else { return nil }
            let (product, overflow) = total.multipliedReportingOverflow(by: dim)
            if overflow { return nil }
            total = product
        }
        return total
    }

    /// Number of elements; only for shapes already validated (every graph shape is).
    public var count: Int { dims.reduce(1, *) }

    /// Product of the dimensions in `range` (e.g. the per-image size from axis 1 on).
    public func count(from axis: Int) -> Int { dims[axis...].reduce(1, *) }
    /// Product of the dimensions before `axis` (e.g. the rows an inner product sees).
    public func count(upTo axis: Int) -> Int { dims[..<axis].reduce(1, *) }

    /// The shape without leading dimensions of size 1 (how legacy 4-D Caffe blobs are compared).
    public var droppingLeadingOnes: Shape {
        Shape(Array(dims.drop(while: { $0 == 1 })))
    }

    public var description: String {
        dims.isEmpty ? "scalar" : dims.map(String.init).joined(separator: "x")
    }
}

extension Shape {
    /// Where the central `height` x `width` window of each plane lies in `images` images of this
    /// shape (C x H x W) laid one after another: one flat index range per cropped row, in order.
    /// The window starts at `(H - height) / 2`, `(W - width) / 2`, as Caffe's TEST-phase crop.
    public func centreCropRows(images: Int, height: Int, width: Int) -> [Range<Int>] {
        let (planeHeight, planeWidth) = (dims[rank - 2], dims[rank - 1])
        let top = (planeHeight - height) / 2, left = (planeWidth - width) / 2
        let planes = images * count / (planeHeight * planeWidth)
        return (0..<planes).flatMap { plane in
            (0..<height).map { row in
                let start = (plane * planeHeight + top + row) * planeWidth + left
                return start..<(start + width)
            }
        }
    }
}

/// Overflow-checked arithmetic for shape inference: every dimension read from a file goes through here.
public enum ShapeMath {
    /// `a` x `b`, or a `GraphError` naming `layer` on overflow.
    public static func multiply(_ a: Int, _ b: Int, layer: String) throws -> Int {
        let (value, overflow) = a.multipliedReportingOverflow(by: b)
        guard !overflow else { throw GraphError.invalidShape(layer: layer, reason: "\(a) x \(b) overflows") }
        return value
    }

    /// `a` + `b`, or a `GraphError` naming `layer` on overflow.
    public static func add(_ a: Int, _ b: Int, layer: String) throws -> Int {
        let (value, overflow) = a.addingReportingOverflow(b)
        guard !overflow else { throw GraphError.invalidShape(layer: layer, reason: "\(a) + \(b) overflows") }
        return value
    }

    /// The element count of `shape`, or a `GraphError` naming `layer` when it is negative or overflows.
    public static func count(_ shape: Shape, layer: String) throws -> Int {
        guard let count = shape.checkedCount else {
            throw GraphError.invalidShape(layer: layer, reason: "shape \(shape) has a negative or overflowing size")
        }
        return count
    }
}
