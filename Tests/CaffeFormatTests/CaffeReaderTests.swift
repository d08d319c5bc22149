import Foundation
import TensorGraph
import Testing
import TestSupport
@testable import CaffeFormat

/// A tiny two-layer net, small enough to try every truncation of its files.
func tinyGraph() -> Graph {
    func ramp(_ shape: Shape, _ scale: Float) -> Tensor {
        Tensor(shape: shape, data: (0..<shape.count).map { Float($0 % 7) * scale - 0.1 })
    }
    let conv = Node(name: "conv", op: .convolution(ConvolutionAttributes(numOutput: 2, kernel: Size2(square: 3), pad: Size2(square: 1))),
                    inputs: ["data"], outputs: ["conv"], parameters: [ramp([2, 1, 3, 3], 0.05), ramp([2], 0.1)])
    let relu = Node(name: "relu", op: .relu(ReLUAttributes(negativeSlope: 0)), inputs: ["conv"], outputs: ["conv"])
    let ip = Node(name: "ip", op: .innerProduct(InnerProductAttributes(numOutput: 3)), inputs: ["conv"], outputs: ["ip"],
                  parameters: [ramp([3, 32], 0.01), ramp([3], 0.2)])
    return Graph(name: "tiny", inputs: [GraphInput(name: "data", shape: [1, 1, 4, 4])], nodes: [conv, relu, ip], output: "ip")
}

@Suite struct CaffeReaderTests {
    let caffe = CaffeFormat()

    func write(_ text: String, _ name: String, in directory: URL) throws -> URL {
        let url = directory.appendingPathComponent(name)
        try Data(text.utf8).write(to: url)
        return url
    }

    @Test func dataLayersNameTheirTestSource() throws {
        let directory = try SharedData.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let tail = """
            layer { name: "ip" type: "InnerProduct" bottom: "data" top: "ip" inner_product_param { num_output: 2 } }
            """
        let database = try write("""
            layer { name: "train" type: "Data" top: "data" top: "label" include { phase: TRAIN }
                    data_param { source: "train_lmdb" backend: LMDB batch_size: 64 } }
            layer { name: "test" type: "Data" top: "data" top: "label" include { phase: TEST }
                    transform_param { crop_size: 28 force_gray: true }
                    data_param { source: "test_lmdb" backend: LMDB batch_size: 50 } }
            """ + tail, "db.prototxt", in: directory)
        let graph = try caffe.readTopology(from: database)
        #expect(graph.dataSource == DataSourceDescription(layer: "test", source: "test_lmdb", kind: .database(.lmdb), cropSize: 28, forceGray: true))
        #expect(graph.inputs[0].shape[0] == 50)
        #expect(graph.trainingDataSource == DataSourceDescription(layer: "train", source: "train_lmdb", kind: .database(.lmdb)))
        let list = try write("""
            layer { name: "images" type: "ImageData" top: "data" top: "label"
                    image_data_param { source: "list.txt" root_folder: "pictures/" new_height: 40 new_width: 30
                                       is_color: false batch_size: 10 crop_size: 24 } }
            """ + tail, "list.prototxt", in: directory)
        #expect(try caffe.readTopology(from: list).dataSource == DataSourceDescription(
            layer: "images", source: "list.txt", kind: .imageList(rootFolder: "pictures/", newHeight: 40, newWidth: 30, isColor: false),
            cropSize: 24))
        // LevelDB is Caffe's default backend; a legacy V1 DATA layer names its source the same way.
        let legacy = try write("""
            layers { name: "old" type: DATA top: "data" top: "label" data_param { source: "old_leveldb" batch_size: 5 } }
            layers { name: "ip" type: INNER_PRODUCT bottom: "data" top: "ip" inner_product_param { num_output: 2 } }
            """, "v1.prototxt", in: directory)
        #expect(try caffe.readTopology(from: legacy).dataSource?.kind == .database(.leveldb))
    }

    @Test func tinyModelRoundTrips() throws {
        let directory = try SharedData.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let graph = tinyGraph()
        let model = directory.appendingPathComponent("tiny.caffemodel")
        try caffe.write(graph, to: model)
        let net = try caffe.readNet(text: caffe.prototxt(for: graph))
        let (reread, report) = try net.attachingWeights(caffe.readWeights(from: model))
        #expect(reread == graph)
        #expect(report.unusedLayers.isEmpty)
    }

    @Test func everyTruncatedCaffemodelIsRejectedNamingTheFile() throws {
        let directory = try SharedData.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let graph = tinyGraph()
        let full = directory.appendingPathComponent("full.caffemodel")
        try caffe.write(graph, to: full)
        let bytes = try Data(contentsOf: full)
        let net = try caffe.readNet(text: caffe.prototxt(for: graph))
        let cut = directory.appendingPathComponent("cut.caffemodel")
        for length in 0..<bytes.count {
            try bytes.prefix(length).write(to: cut)
            do {
                _ = try net.attachingWeights(caffe.readWeights(from: cut))
                Issue.record("a \(length)-byte prefix of \(bytes.count) was accepted")
            } catch let error as FormatError {
                #expect(error.file == cut.path)
            } catch let error as GraphError {
                // A cut between two layers is a well-formed but incomplete file: the missing layer is named.
                #expect(error.description.contains("layer '"), "\(error)")
            }
        }
    }

    @Test func everyTruncatedPrototxtFailsCleanlyWithALine() throws {
        let text = try caffe.prototxt(for: tinyGraph())
        let full = try caffe.readNet(text: text)
        let bytes = Array(text.utf8)
        var rejected = 0
        for length in 0..<bytes.count {
            let prefix = String(decoding: bytes.prefix(length), as: UTF8.self)
            do {
                let graph = try caffe.readNet(text: prefix, file: "cut.prototxt")
                // Only cuts at a layer boundary parse, and they give the first layers of the net.
                #expect(graph.nodes.count <= full.nodes.count)
                #expect(Array(full.nodes.prefix(graph.nodes.count)).map(\.name) == graph.nodes.map(\.name))
            } catch let error as FormatError {
                #expect(error.file == "cut.prototxt")
                // A cut inside a block is a text error, which must say where.
                let open = prefix.filter { $0 == "{" }.count, closed = prefix.filter { $0 == "}" }.count
                if open != closed { #expect(error.line != nil, "no line for: \(error)") }
                rejected += 1
            }
        }
        #expect(rejected > bytes.count / 2)
    }

    @Test func randomByteFlipsNeverCrash() throws {
        let directory = try SharedData.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let graph = tinyGraph()
        let full = directory.appendingPathComponent("full.caffemodel")
        try caffe.write(graph, to: full)
        let model = try Data(contentsOf: full)
        let text = Data(try caffe.prototxt(for: graph).utf8)
        let net = try caffe.readNet(text: String(decoding: text, as: UTF8.self))
        var seed = UInt64(0x5EED)
        func nextIndex(_ count: Int) -> Int {
            seed = seed &* 6364136223846793005 &+ 1442695040888963407
            return Int((seed >> 33) % UInt64(count))
        }
        let flippedModel = directory.appendingPathComponent("flipped.caffemodel")
        let flippedText = directory.appendingPathComponent("flipped.prototxt")
        for _ in 0..<400 {
            var bytes = model
            let at = nextIndex(bytes.count)
            bytes[at] ^= UInt8(1 << nextIndex(8))
            try bytes.write(to: flippedModel)
            do {
                _ = try net.attachingWeights(caffe.readWeights(from: flippedModel))
            } catch let error as FormatError {
                #expect(error.file == flippedModel.path)
            } catch is GraphError {}

            var textBytes = text
            textBytes[nextIndex(textBytes.count)] ^= UInt8(1 << nextIndex(8))
            try textBytes.write(to: flippedText)
            do {
                _ = try caffe.readNet(from: flippedText)
            } catch let error as FormatError {
                #expect(error.file == flippedText.path)
            }
        }
    }

    @Test func unsupportedLayersAreAllNamed() throws {
        let text = """
            input: "data"
            input_shape { dim: 1 dim: 3 dim: 8 dim: 8 }
            layer { name: "up" type: "Deconvolution" bottom: "data" top: "up" convolution_param { num_output: 3 kernel_size: 2 } }
            layer { name: "act" type: "Power" bottom: "up" top: "up" }
            layer { name: "relu" type: "ReLU" bottom: "up" top: "up" }
            """
        #expect {
            try caffe.readNet(text: text, file: "net.prototxt")
        } throws: { error in
            let message = "\(error)"
            return message.contains("'up' (Deconvolution)") && message.contains("'act' (Power)") && message.contains("net.prototxt")
        }
    }

    @Test func emptyAndSolverFilesAreRecognised() throws {
        #expect { try caffe.readNet(text: "", file: "empty.prototxt") } throws: { "\($0)".contains("empty") }
        #expect { try caffe.readNet(text: "  \n# just a comment\n", file: "c.prototxt") } throws: { "\($0)".contains("no layers") }
        let solver = """
            net: "lenet_train_test.prototxt"
            test_iter: 100
            base_lr: 0.01
            lr_policy: "inv"
            max_iter: 10000
            solver_mode: CPU
            """
        #expect { try caffe.readNet(text: solver, file: "solver.prototxt") } throws: { "\($0)".contains("solver") }
    }

    @Test func textErrorsNameTheLine() throws {
        let text = """
            name: "x"
            input: "data"
            input_dim: 1
            input_dim: 1
            input_dim: 4
            input_dim: 4
            layer {
              name: "conv"
              type: "Convolution"
              bottom: "data"
              top: "conv"
              convolution_parm { num_output: 2 kernel_size: 3 }
            }
            """
        #expect { try caffe.readNet(text: text, file: "n.prototxt") } throws: { error in
            guard let error = error as? FormatError else { return false }
            return error.line == 12 && error.description.contains("convolution_parm")
        }
        #expect { try caffe.readNet(text: "layer {\n  name: \"a\n}\n", file: "q.prototxt") } throws: { error in
            (error as? FormatError)?.line == 2 && "\(error)".contains("unterminated")
        }
        #expect { try caffe.readNet(text: "layer {\n  name: \"a\"\n", file: "t.prototxt") } throws: { error in
            "\(error)".contains("truncated")
        }
    }

    @Test func misshapenWeightsNameTheLayerAndBlob() throws {
        let directory = try SharedData.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let model = directory.appendingPathComponent("tiny.caffemodel")
        try caffe.write(tinyGraph(), to: model)
        var wider = tinyGraph()
        wider.nodes[2].op = .innerProduct(InnerProductAttributes(numOutput: 4))
        let net = try caffe.readNet(text: caffe.prototxt(for: wider))
        #expect { try net.attachingWeights(caffe.readWeights(from: model)) } throws: { error in
            "\(error)" == "layer 'ip': weights has shape 3x32, the net needs 4x32"
        }
    }
}

@Suite(.enabled(if: SharedData.shouldRun, "shared data not found; set BMQ_SHARED"))
struct SharedModelReaderTests {
    let caffe = CaffeFormat()

    @Test func legacyAndCurrentFormatsGiveTheSameLeNet() throws {
        let v1 = try caffe.readNet(from: SharedData.url("models/lenet-everpeace/lenet.prototxt"))
        let current = try caffe.readNet(from: SharedData.url("models/lenet-caffe/lenet.prototxt"))
        #expect(v1.nodes == current.nodes)
        #expect(v1.inputs == current.inputs)
    }

    @Test func trainTestNetsUseTheTestPhase() throws {
        let graph = try caffe.readNet(from: SharedData.url("models/lenet-caffe/lenet_train_test.prototxt"))
        #expect(graph.inputs.map(\.name) == ["data"])
        #expect(graph.inputs[0].shape[0] == 100)  // TEST batch, not TRAIN's 64
        #expect(graph.output == "ip2")            // the Accuracy layer's bottom
        #expect(graph.preprocessing?.scale == 0.00390625)
        #expect(!graph.nodes.contains { $0.name == "loss" || $0.name == "accuracy" })
    }

    @Test func legacyBlobShapesAreAccepted() throws {
        // V1 files store biases as 1x1x1xN and inner-product weights as 1x1xOUTxIN.
        let weights = try caffe.readWeights(from: SharedData.url("models/lenet-everpeace/lenet_iter_10000.caffemodel"))
        #expect(weights.layer(named: "ip1")?.blobs.map(\.shape) == [[1, 1, 500, 800], [1, 1, 1, 500]])
        let net = try caffe.readNet(from: SharedData.url("models/lenet-everpeace/lenet.prototxt"))
        let (graph, _) = try net.attachingWeights(weights)
        #expect(graph.node(named: "ip1")?.parameters.map(\.shape) == [[500, 800], [500]])
    }

    @Test func autoInsertedSplitsInACaffemodelDoNotConfuseTheReader() throws {
        let weights = try caffe.readWeights(from: SharedData.url("models/resnet20-cifar10/ResNet_20.caffemodel"))
        #expect(weights.layers.contains { $0.type == "Split" })
        let stored = try caffe.readModelDefinition(from: SharedData.url("models/resnet20-cifar10/ResNet_20.caffemodel"))
        let net = try caffe.readNet(from: SharedData.url("models/resnet20-cifar10/res20_cifar_train_test.prototxt"))
        // The prototxt has no Split layers; the weights still attach to every parameterised layer by name.
        #expect(!net.nodes.contains { $0.op == .split(SplitAttributes()) })
        #expect(stored.nodes.contains { $0.op == .split(SplitAttributes()) })
        let (graph, report) = try net.withBatchAndImage().attachingWeights(weights)
        #expect(report.unusedLayers.isEmpty)
        #expect(graph.nodes.filter { !$0.op.parameterNames.isEmpty }.allSatisfy { !$0.parameters.isEmpty })
    }

    @Test func meanFileIsReadAsAnImage() throws {
        let mean = try caffe.readMeanImage(from: SharedData.meanFile)
        #expect(mean.shape == [3, 32, 32])
        #expect(mean.statistics.min > 0 && mean.statistics.max < 255)
    }
}

extension Graph {
    /// The ResNet train_test net with its Data-layer input given CIFAR's image shape.
    func withBatchAndImage() -> Graph {
        var copy = self
        copy.inputs[0].shape = [1, 3, 32, 32]
        return copy
    }
}
