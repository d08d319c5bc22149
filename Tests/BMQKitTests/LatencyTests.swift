import BMQKit
import Foundation
import Testing
import TestSupport

/// Batch size 1 is a latency measurement: each image alone, timed, with the same counts as batches.
@Suite(.enabled(if: SharedData.shouldRun, "shared data not found; set BMQ_SHARED"))
struct LatencyTests {
    @Test func oneImageAtATimeCountsAsBatchesDoAndTimesEachImage() throws {
        let lenet = SharedData.url("models/lenet-caffe")
        let model = ModelSource(net: lenet.appendingPathComponent("lenet_train_test.prototxt"),
                                weights: lenet.appendingPathComponent("lenet_iter_10000.caffemodel"))
        let single = try Evaluation.run(try EvaluationRequest(model: model, data: SharedData.mnistTest, limit: 300, batchSize: 1)).result
        let batched = try Evaluation.run(try EvaluationRequest(model: model, data: SharedData.mnistTest, limit: 300, batchSize: 100)).result
        #expect(single.correct == batched.correct && single.total == 300)
        let latency = try #require(single.latency)
        #expect(batched.latency == nil)
        #expect(latency.fastest > 0 && latency.fastest <= latency.median && latency.median <= latency.p90 && latency.p90 <= latency.p99)
        // Every image took at least the fastest time, all inside the pass's wall time.
        #expect(latency.fastest * 300 <= single.seconds)
        #expect(LatencyStatistics([3, 1, 2]).median == 2 && LatencyStatistics(Array(1...100).map(Double.init)).p90 == 90)
    }
}
