import BMQKit
import Foundation
import PackedFormat
import Quantization
import TensorGraph
import Testing
import TestSupport

/// caffemodel → packed → decoded weights equal the in-memory quantized weights bit for bit, for
/// every shared model and every stored width from 2 to 8 (and the float-scale baselines).
@Suite(.enabled(if: SharedData.shouldRun, "shared data not found; set BMQ_SHARED"))
struct PackedRoundTripTests {
    static let references = CaffeReference.all().filter { !$0.weights.hasSuffix(".h5") }

    /// Schemes per stored width: a pattern with the two top magnitude bits masked, and baselines.
    static func schemes(bits: Int) -> [String] {
        var result = ["\(bits + 2)_2_0_1_0", "max-abs:\(bits)"]
        if bits == 4 { result += ["per-channel:4", "mse:4", "X0.0X0X"] }
        return result
    }

    @Test(arguments: references)
    func everyWidthRoundTrips(_ reference: CaffeReference) throws {
        let directory = try SharedData.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let source = ModelSource(net: reference.netURL, weights: reference.weightsURL, meanFile: reference.meanFile)
        let imageShape: Shape = reference.isMNIST ? [1, 28, 28] : [3, 32, 32]
        let model = try ModelLoader.load(source, imageShape: imageShape)
        // Evaluation is the slow part: LeNet and cifar10_quick at every width, the others at 4 bits.
        let small = reference.folder.hasPrefix("lenet") || reference.folder.hasPrefix("cifar10-quick")
        for bits in 2...8 {
            for (index, scheme) in Self.schemes(bits: bits).enumerated() {
                let request = try PlanRequest(patterns: [scheme], rounding: bits % 2 == 0 ? .nearest : .maskAfter)
                let plan = try #require(try request.plan(for: model.graph))
                let (quantized, _) = try QuantizePass.apply(plan, to: model.graph)
                let output = directory.appendingPathComponent("m\(bits)-\(index).bmq")
                _ = try Conversion.run(try ConversionRequest(model: source, quantization: request, output: output, imageShape: imageShape))
                let decoded = try PackedFormat().readModel(from: output)
                #expect(decoded.nodes.map(\.op) == quantized.nodes.map(\.op))
                for (a, b) in zip(decoded.nodes, quantized.nodes) {
                    #expect(zip(a.parameters, b.parameters).allSatisfy { $0.isBitIdentical(to: $1) }, "\(scheme): layer \(a.name)")
                }
                if index == 0, small || bits == 4 {
                    let limit = small ? 1000 : 200
                    let viaPlan = try Evaluation.run(try EvaluationRequest(model: source, data: reference.dataURL, limit: limit, quantization: request))
                    let viaPacked = try Evaluation.run(try EvaluationRequest(
                        model: ModelSource(net: nil, weights: output), data: reference.dataURL, limit: limit))
                    #expect(viaPlan.quantized?.correct == viaPacked.result.correct, "\(scheme)")
                }
            }
        }
    }
}

/// `inspect --verify` refuses a packed file whose network description cannot run, as eval would.
@Suite struct PackedVerifyTests {
    @Test(arguments: ["stride 0", "group 0", "reads a later value"])
    func unrunnableDescriptionsAreRefused(_ fault: String) throws {
        let directory = try SharedData.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        var convolution = ConvolutionAttributes(numOutput: 2, kernel: Size2(square: 1))
        if fault == "stride 0" { convolution.stride = Size2(square: 0) }
        if fault == "group 0" { convolution.group = 0 }
        let graph = Graph(name: "bad", inputs: [GraphInput(name: "x", shape: [1, 2, 3, 3])], nodes: [
            Node(name: "conv", op: .convolution(convolution), inputs: [fault == "reads a later value" ? "y" : "x"], outputs: ["c"],
                 parameters: [randomTensor([2, 2, 1, 1], seed: 1), randomTensor([2], seed: 2)]),
            Node(name: "relu", op: .relu(ReLUAttributes()), inputs: ["c"], outputs: ["y"]),
        ], output: "y")
        let file = directory.appendingPathComponent("bad.bmq")
        try Data(try PackedFormat().encode(graph, encodings: [:])).write(to: file)
        #expect(throws: Never.self) { try Inspection.packed(PackedInspectionRequest(file: file)) }
        #expect { try Inspection.packed(PackedInspectionRequest(file: file, verify: true)) } throws: {
            "\($0)".contains("bad.bmq") && "\($0)".contains("cannot run") && "\($0)".contains("conv")
        }
    }
}
