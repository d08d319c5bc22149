import Datasets
import Foundation
import Inference
import TensorGraph

/// Top-1 accuracy of a network over a dataset.
public struct EvaluationResult: Sendable, Codable, Equatable {
    /// Images whose true class scored strictly highest.
    public var correct: Int
    /// Images evaluated.
    public var total: Int
    /// `correct` / `total`.
    public var accuracy: Double
    /// The accuracy of guessing: 1 / classes.
    public var chanceLevel: Double
    /// Wall time of the pass, preprocessing and scoring included.
    public var seconds: Double
    /// `total` / `seconds`.
    public var imagesPerSecond: Double
    /// Per-image latency, when the images were run one at a time (batch size 1).
    public var latency: LatencyStatistics? = nil

    enum CodingKeys: String, CodingKey {
        case correct, total, accuracy, seconds, latency
        case chanceLevel = "chance_level"
        case imagesPerSecond = "images_per_second"
    }
}

/// How long one image took, from its preprocessing to its scores, over many images.
public struct LatencyStatistics: Sendable, Codable, Equatable {
    /// Seconds: the median image.
    public var median: Double
    /// Seconds: 90 % of the images took at most this.
    public var p90: Double
    /// Seconds: 99 % of the images took at most this.
    public var p99: Double
    /// Seconds: the fastest image.
    public var fastest: Double

    /// The statistics of `seconds` (one entry per image; not empty).
    public init(_ seconds: [Double]) {
        let sorted = seconds.sorted()
        func quantile(_ q: Double) -> Double { sorted[min(sorted.count - 1, Int((q * Double(sorted.count)).rounded(.up)) - 1)] }
        median = sorted[sorted.count / 2]
        p90 = quantile(0.9)
        p99 = quantile(0.99)
        fastest = sorted[0]
    }
}

/// Runs a network over a dataset and counts correct predictions.
public enum Evaluator {
    /// Runs `network` over every image of `dataset` in batches and counts correct predictions
    /// the way Caffe's Accuracy layer does: an image is correct only when no other class scores
    /// at least as high as the true one (ties count as wrong).
    /// - Parameters:
    ///   - network: the checked network to run.
    ///   - dataset: the images and their labels.
    ///   - preprocessing: how the dataset's bytes become the network's input.
    ///   - batchSize: images per forward pass; one batch runs per core at a time.
    ///   - progress: called after each batch with the number of images done.
    public static func evaluate(_ network: Network, on dataset: Dataset, preprocessing: Preprocessing,
                                batchSize: Int, progress: ((Int) -> Void)? = nil) throws -> EvaluationResult {
        if batchSize == 1, dataset.count > 0 { return try evaluateOneAtATime(network, on: dataset, preprocessing: preprocessing, progress: progress) }
        let start = Date()
        var correct = 0
        let ranges = dataset.batchRanges(size: batchSize)
        // One whole batch per core at a time: fewer synchronisation points than splitting every
        // kernel (measured 12% faster on LeNet and cifar10_quick).
        for round in Parallel.rounds(ranges.count) {
            correct += try Parallel.map(round.count) { slot in
                let range = ranges[round.lowerBound + slot]
                return countCorrect(try network.forward(dataset.batch(range, preprocessing: preprocessing)), labels: Array(dataset.labels[range]))
            }.reduce(0, +)
            progress?(ranges[round.upperBound - 1].upperBound)
        }
        return result(correct: correct, of: dataset, seconds: Date().timeIntervalSince(start))
    }

    /// `correct` of `dataset`'s images in `seconds`, with the derived accuracy and rate.
    static func result(correct: Int, of dataset: Dataset, seconds: Double, latency: LatencyStatistics? = nil) -> EvaluationResult {
        EvaluationResult(correct: correct, total: dataset.count, accuracy: dataset.count == 0 ? 0 : Double(correct) / Double(dataset.count),
                         chanceLevel: dataset.chanceLevel, seconds: seconds, imagesPerSecond: seconds > 0 ? Double(dataset.count) / seconds : 0,
                         latency: latency)
    }

    /// Batch size 1 means latency: each image alone, one after another, timed from its
    /// preprocessing to its scores (what a camera feeding one image at a time sees).
    static func evaluateOneAtATime(_ network: Network, on dataset: Dataset, preprocessing: Preprocessing,
                                   progress: ((Int) -> Void)?) throws -> EvaluationResult {
        var correct = 0
        var latencies: [Double] = []
        latencies.reserveCapacity(dataset.count)
        let start = DispatchTime.now().uptimeNanoseconds
        for image in 0..<dataset.count {
            let began = DispatchTime.now().uptimeNanoseconds
            let scores = try network.forward(dataset.batch(image..<(image + 1), preprocessing: preprocessing))
            latencies.append(Double(DispatchTime.now().uptimeNanoseconds - began) / 1e9)
            correct += countCorrect(scores, labels: [dataset.labels[image]])
            if image % 100 == 99 || image == dataset.count - 1 { progress?(image + 1) }
        }
        return result(correct: correct, of: dataset, seconds: Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9,
                      latency: LatencyStatistics(latencies))
    }

    /// Caffe's Accuracy rule (top-1) on a batch of class scores [N, classes, ...].
    public static func countCorrect(_ scores: Tensor, labels: [Int]) -> Int {
        let classes = scores.count / max(labels.count, 1)
        var correct = 0
        for (row, label) in labels.enumerated() where label < classes {
            let base = row * classes
            let truth = scores.data[base + label]
            var atLeastAsHigh = 0
            for c in 0..<classes where scores.data[base + c] >= truth { atLeastAsHigh += 1 }
            if atLeastAsHigh == 1 { correct += 1 }
        }
        return correct
    }
}
