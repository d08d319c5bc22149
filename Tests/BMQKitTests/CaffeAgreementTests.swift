import BMQKit
import Datasets
import Foundation
@testable import Inference
import TensorGraph
import Testing
import TestSupport

/// The engine against real Caffe: the same correct-count on every shared model's full test set.
@Suite(.enabled(if: SharedData.shouldRun, "shared data not found; set BMQ_SHARED"))
struct CaffeAgreementTests {
    static let references = CaffeReference.all()

    @Test func referenceTableIsPresent() {
        #expect(Self.references.count >= 7, "reference/caffe-accuracy.md not found or not parsed")
    }

    @Test(arguments: references)
    func correctCountEqualsCaffe(_ reference: CaffeReference) throws {
        let request = try EvaluationRequest(
            model: ModelSource(net: reference.netURL, weights: reference.weightsURL, meanFile: reference.meanFile),
            data: reference.dataURL)
        let report = try Evaluation.run(request)
        #expect(report.result.total == reference.total)
        #expect(report.result.correct == reference.correct, "Caffe: \(reference.correct)/\(reference.total)")
    }

    /// The same with the vector kernels switched off: what a CPU without AVX2 and FMA runs
    /// (im2col + OpenBLAS convolutions, BLAS inner products, scalar pooling and LRN).
    @Test(arguments: references)
    func portableKernelsCountAsCaffe(_ reference: CaffeReference) throws {
        let request = try EvaluationRequest(
            model: ModelSource(net: reference.netURL, weights: reference.weightsURL, meanFile: reference.meanFile),
            data: reference.dataURL, engine: EngineOptions(vectorKernels: false))
        #expect(request.engine.convolution == .gemm)
        let report = try Evaluation.run(request)
        #expect(report.result.total == reference.total)
        #expect(report.result.correct == reference.correct, "Caffe: \(reference.correct)/\(reference.total)")
    }

    /// Batch norm, scale and ReLU fused into the kernels before them, on 40 images in cache-sized
    /// slices, against every layer on its own over the whole batch: the same bits.
    @Test(arguments: references)
    func fusedEpiloguesGiveTheLayersOwnBits(_ reference: CaffeReference) throws {
        let data = try DatasetReader.read(reference.dataURL)
        let graph = try ModelLoader.load(ModelSource(net: reference.netURL, weights: reference.weightsURL, meanFile: reference.meanFile),
                                         imageShape: data.imageShape).graph
        let network = try Network(graph: graph)
        if network.options.vectorKernels, graph.nodes.contains(where: { if case .batchNorm = $0.op { true } else { false } }) {
            #expect(!network.epilogueChains.isEmpty)
        }
        let input = data.batch(0..<40, preprocessing: graph.preprocessing ?? .identity)
        let fused = try network.forward(input)
        let layered = try network.forward(input) { _, _ in }
        #expect(fused.isBitIdentical(to: layered))
    }
}
