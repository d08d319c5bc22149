/// One operation applied to named input values, producing named output values.
///
/// Values follow Caffe's rules: a node may write a value that already exists
/// (in-place layers such as ReLU), and later nodes then read the new contents.
public struct Node: Sendable, Equatable {
    /// The layer's name, unique in its graph.
    public var name: String
    /// The operation and its attributes.
    public var op: Op
    /// The values the node reads, in the order its operation takes them.
    public var inputs: [String]
    /// The values the node writes (an in-place layer writes a value it reads).
    public var outputs: [String]
    /// Parameter blobs in the order of `op.parameterNames`; empty until weights are attached.
    public var parameters: [Tensor]

    /// A node; its parameters are usually attached later from a weights file.
    public init(name: String, op: Op, inputs: [String], outputs: [String], parameters: [Tensor] = []) {
        self.name = name
        self.op = op
        self.inputs = inputs
        self.outputs = outputs
        self.parameters = parameters
    }
}

/// A named network input with its shape (the first dimension is the batch).
public struct GraphInput: Sendable, Equatable {
    /// The value name the first layer reads.
    public var name: String
    /// The input's shape, batch first; a 0 marks a dimension not yet known (a Data layer's image shape).
    public var shape: Shape
    /// An input named `name` of shape `shape`.
    public init(name: String, shape: Shape) {
        self.name = name
        self.shape = shape
    }
}

/// How raw dataset bytes become the network's input: `(pixel - mean) * scale`, as Caffe's data transformer does.
public struct Preprocessing: Sendable, Equatable {
    /// The factor applied after the mean is subtracted (when `channelScales` is empty).
    public var scale: Float
    /// One factor per channel, replacing `scale` when not empty (`(x/255 - mean_c) / std_c` is
    /// `(x - 255 mean_c) × 1/(255 std_c)`).
    public var channelScales: [Float] = []
    /// One mean per channel (Caffe's `mean_value`), or empty.
    public var meanValues: [Float]
    /// The mean file named by the model, as written there (may not exist on this machine).
    public var meanFile: String?
    /// The per-pixel mean image (C x H x W), once loaded.
    public var meanImage: Tensor?

    /// Preprocessing as Caffe's `transform_param` describes it.
    public init(scale: Float = 1, meanValues: [Float] = [], meanFile: String? = nil, meanImage: Tensor? = nil) {
        self.scale = scale
        self.meanValues = meanValues
        self.meanFile = meanFile
        self.meanImage = meanImage
    }

    /// The factor for `channel` of `channels`.
    public func scale(ofChannel channel: Int) -> Float {
        channelScales.isEmpty ? scale : channelScales[channelScales.count == 1 ? 0 : channel]
    }

    /// Raw values as stored: scale 1, no mean.
    public static let identity = Preprocessing()
}

/// Where a net definition says its test images come from: Caffe's TEST-phase Data layer (a
/// database of Datum records) or ImageData layer (a list of image files and labels).
public struct DataSourceDescription: Sendable, Equatable {
    /// A key-value database's engine, as Caffe's `data_param.backend` names it.
    public enum Backend: String, Sendable, Equatable {
        case lmdb, leveldb
    }

    /// What `source` names.
    public enum Kind: Sendable, Equatable {
        /// A database of Datum records, read in key order.
        case database(Backend)
        /// A text file of `path label` lines; paths are appended to `rootFolder` as written;
        /// images are resized to `newHeight` x `newWidth` when both are positive, and read as
        /// colour (blue, green, red) or gray.
        case imageList(rootFolder: String, newHeight: Int, newWidth: Int, isColor: Bool)
    }

    /// The layer that names the source.
    public var layer: String
    /// The database or list, as written in the net definition (Caffe resolves it against the
    /// working directory).
    public var source: String
    /// What `source` names.
    public var kind: Kind
    /// The side of the square cut from each image's centre, or 0 for the whole image.
    public var cropSize: Int
    /// Encoded images are decoded as colour (Caffe's `force_color`), else as `forceGray` says, else as stored.
    public var forceColor: Bool
    /// Encoded images are decoded as gray (Caffe's `force_gray`).
    public var forceGray: Bool

    /// A source named by `layer`.
    public init(layer: String, source: String, kind: Kind, cropSize: Int = 0, forceColor: Bool = false, forceGray: Bool = false) {
        self.layer = layer
        self.source = source
        self.kind = kind
        self.cropSize = cropSize
        self.forceColor = forceColor
        self.forceGray = forceGray
    }
}

/// A network: inputs, an ordered list of nodes, and what its output means.
public struct Graph: Sendable, Equatable {
    /// The network's name, as its file gives it.
    public var name: String
    /// The network's inputs; the engine runs networks with exactly one.
    public var inputs: [GraphInput]
    /// Nodes in execution order.
    public var nodes: [Node]
    /// The value that holds class scores (Caffe's Accuracy bottom, or the last node's output).
    public var output: String
    /// Preprocessing the model was trained with, when the model says.
    public var preprocessing: Preprocessing?
    /// Where the net definition says its test images are, when it says (a Caffe Data or ImageData layer).
    public var dataSource: DataSourceDescription?
    /// Where it says its training images are (the TRAIN phase's data layer): calibration images.
    public var trainingDataSource: DataSourceDescription?

    /// A graph of `nodes` in execution order reading `inputs`, whose class scores are `output`.
    public init(name: String, inputs: [GraphInput], nodes: [Node], output: String, preprocessing: Preprocessing? = nil) {
        self.name = name
        self.inputs = inputs
        self.nodes = nodes
        self.output = output
        self.preprocessing = preprocessing
    }

    /// The node called `name`, if any.
    public func node(named name: String) -> Node? { nodes.first { $0.name == name } }

    /// Total number of parameter values over all nodes.
    public var parameterCount: Int {
        nodes.reduce(0) { $0 + $1.parameters.reduce(0) { $0 + $1.count } }
    }

    /// The same graph with every input's batch dimension set to `batch`.
    public func withBatch(_ batch: Int) -> Graph {
        var copy = self
        for index in copy.inputs.indices where copy.inputs[index].shape.rank > 0 {
            copy.inputs[index].shape[0] = batch
        }
        return copy
    }
}
