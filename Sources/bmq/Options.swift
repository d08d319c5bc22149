import ArgumentParser
import BMQKit
import Datasets
import Foundation

/// --net and --weights, shared by every command that loads a model.
struct ModelOptions: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp("Caffe net definition (.prototxt); a train_test file is read in its TEST phase.", valueName: "prototxt"))
    var net: String

    @Option(name: .long, help: ArgumentHelp("Trained weights (.caffemodel), matched to the net's layers by name.", valueName: "file"))
    var weights: String

    @OptionGroup var preprocessing: PreprocessingOptions

    var source: ModelSource {
        ModelSource(net: URL(fileURLWithPath: net), weights: URL(fileURLWithPath: weights),
                    meanFile: preprocessing.meanFile.map { URL(fileURLWithPath: $0) },
                    scale: preprocessing.scale, meanValues: preprocessing.meanValue.isEmpty ? nil : preprocessing.meanValue)
    }
}

/// Input preprocessing overrides: the model's TEST transform_param is used unless these are given.
struct PreprocessingOptions: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp(
        "Mean image (.binaryproto) to subtract; replaces the mean_file the prototxt names, which is resolved against the prototxt's folder otherwise.",
        valueName: "file"))
    var meanFile: String?

    @Option(name: .long, help: "Multiply inputs by this after the mean is subtracted (LeNet uses 0.00390625).")
    var scale: Float?

    @Option(name: .long, parsing: .singleValue, help: ArgumentHelp("Per-channel mean to subtract; repeat once per channel.", valueName: "value"))
    var meanValue: [Float] = []
}

/// A dataset and how much of it to use.
struct DataOptions: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp(
        "MNIST images file (labels found beside it) or a CIFAR-10/100 .bin batch.", valueName: "path"))
    var data: String

    @Option(name: .long, help: ArgumentHelp("Override content detection: mnist, cifar10 or cifar100.", valueName: "format"))
    var dataFormat: DatasetFormat?

    @Option(name: .long, help: "Use only the first N images.")
    var limit: Int?

    @Option(name: .long, help: "Images per forward pass.")
    var batchSize: Int = 100

    func validate() throws {
        if let limit, limit <= 0 { throw ValidationError("--limit must be positive") }
        if batchSize <= 0 { throw ValidationError("--batch-size must be positive") }
    }
}

extension DatasetFormat: ExpressibleByArgument {}
