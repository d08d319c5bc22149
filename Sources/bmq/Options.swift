import ArgumentParser
import BMQKit
import Datasets
import Quantization
import Foundation
import TensorGraph

/// --net and --weights (or one packed model), shared by every command that loads a model.
struct ModelOptions: ParsableArguments {
    @Argument(help: ArgumentHelp("A packed .bmq or an .onnx model, which carries its own network (instead of --net and --weights); detected by content.",
                                 valueName: "model"))
    var packedModel: String?

    @Option(name: .long, help: ArgumentHelp("Caffe net definition (.prototxt); a train_test file is read in its TEST phase. An .onnx or .bmq model here needs no --weights.", valueName: "prototxt"))
    var net: String?

    @Option(name: .long, help: ArgumentHelp(
        "Trained weights: .caffemodel, .caffemodel.h5 / Keras .h5, or .bmq (detected by content), matched to the net's layers by name.",
        valueName: "file"))
    var weights: String?

    /// `--net` naming a model that carries its own weights (an .onnx or .bmq file).
    var selfDescribingNet: String? {
        guard packedModel == nil, weights == nil, let net,
              (try? FormatRegistry.modelReader(for: URL(fileURLWithPath: net))) != nil else { return nil }
        return net
    }

    func validate() throws {
        switch (packedModel, weights) {
        case (nil, nil) where selfDescribingNet != nil: break
        case (nil, nil): throw ValidationError("give --net and --weights, or a packed .bmq or .onnx model")
        case let (.some(model), .some):
            // A stray word is usually the value of a misspelled option (`--patern 4_0_0`).
            guard FileManager.default.fileExists(atPath: model) else {
                throw ValidationError("unexpected argument '\(model)': it is no file; is an option before it misspelled?")
            }
            throw ValidationError("give either a packed model or --weights, not both")
        default: break
        }
    }

    @Option(name: .long, parsing: .singleValue, help: ArgumentHelp(
        "Take a net layer's weights from a differently named layer of the weights file: NET_LAYER=FILE_LAYER (repeatable, or comma-separated), e.g. ip1=dense_1 for Keras files.",
        valueName: "mapping"))
    var map: [String] = []

    @OptionGroup var preprocessing: PreprocessingOptions

    var source: ModelSource {
        get throws {
            var nameMap: [String: String] = [:]
            for pair in map.flatMap({ $0.split(separator: ",") }) {
                let parts = pair.split(separator: "=", maxSplits: 1).map { String($0).trimmingCharacters(in: .whitespaces) }
                guard parts.count == 2, !parts[0].isEmpty, !parts[1].isEmpty else {
                    throw ValidationError("--map takes NET_LAYER=FILE_LAYER, got '\(pair)'")
                }
                nameMap[parts[0]] = parts[1]
            }
            if let model = selfDescribingNet {
                return ModelSource(net: nil, weights: URL(fileURLWithPath: model), meanFile: preprocessing.meanFile.map { URL(fileURLWithPath: $0) },
                                   scale: preprocessing.scale.isEmpty ? nil : preprocessing.scale,
                                   meanValues: preprocessing.meanValue.isEmpty ? nil : preprocessing.meanValue)
            }
            return ModelSource(net: net.map { URL(fileURLWithPath: $0) }, weights: URL(fileURLWithPath: packedModel ?? weights ?? ""),
                               meanFile: preprocessing.meanFile.map { URL(fileURLWithPath: $0) },
                               scale: preprocessing.scale.isEmpty ? nil : preprocessing.scale, meanValues: preprocessing.meanValue.isEmpty ? nil : preprocessing.meanValue,
                               nameMap: nameMap)
        }
    }
}

/// Input preprocessing overrides: the model's TEST transform_param is used unless these are given.
struct PreprocessingOptions: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp(
        "Mean image (.binaryproto) to subtract; replaces the mean_file the prototxt names, which is resolved against the prototxt's folder otherwise.",
        valueName: "file"))
    var meanFile: String?

    @Option(name: .long, parsing: .singleValue, help: ArgumentHelp(
        "Multiply inputs by this after the mean is subtracted (LeNet uses 0.00390625); repeat once per channel for per-channel scales.",
        valueName: "scale"))
    var scale: [Float] = []

    func validate() throws {
        if let bad = scale.first(where: { !$0.isFinite || $0 == 0 }) { throw ValidationError("--scale \(bad) must be a finite, non-zero number") }
        if let bad = meanValue.first(where: { !$0.isFinite }) { throw ValidationError("--mean-value \(bad) must be a finite number") }
    }

    @Option(name: .long, parsing: .singleValue, help: ArgumentHelp("Per-channel mean to subtract; repeat once per channel.", valueName: "value"))
    var meanValue: [Float] = []
}

/// A dataset and how much of it to use.
struct DataOptions: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp(
        "MNIST images file (labels found beside it), a CIFAR-10/100 .bin batch, an LMDB or LevelDB folder of Caffe Datums, or an image list ('path label' lines). Default: the test images the prototxt's TEST Data or ImageData layer names, found from the working directory as Caffe finds them.",
        valueName: "path"))
    var data: String?

    @Option(name: .long, help: ArgumentHelp("Override content detection: mnist, cifar10, cifar100, lmdb, leveldb or image-list.", valueName: "format"))
    var dataFormat: DatasetFormat?

    /// The data given, or nil for the net's own.
    var dataURL: URL? { data.map { URL(fileURLWithPath: $0) } }

    @Option(name: .long, parsing: .unconditional, help: "Use only the first N images.")
    var limit: Int?

    @Option(name: .long, help: "Images per forward pass. 1 runs each image alone, one after another, and reports per-image latency.")
    var batchSize: Int = 100

}

extension DatasetFormat: ExpressibleByArgument {}

/// The quantization options shared by every command that quantizes.
struct QuantizationOptions: ParsableArguments {
    @Option(help: ArgumentHelp("A quantization plan (JSON, see formats/quantization-plan.md).", valueName: "plan.json"))
    var plan: String?

    @Option(name: .long, parsing: .singleValue, help: ArgumentHelp("""
        A bit pattern for every selected layer, or LAYER=PATTERN for one layer (repeatable). \
        Patterns are thesis labels n_m_p1_..._pm_s (5_2_0_1_0) or pictures (X0.0XX: X stored bit, \
        0 masked bit, '.' binary point after the one integer bit). Float-scale baselines at K stored \
        bits: max-abs:K, mse:K, per-channel:K (their float scales are not hardware shift-friendly).
        """, valueName: "pattern"))
    var pattern: [String] = []

    @Option(help: ArgumentHelp("Layers a plain --pattern applies to: conv, fc, all (default), or a comma list of names.", valueName: "layers"))
    var layers: String?

    @Option(help: ArgumentHelp("""
        How weights map onto a pattern. nearest (default): the closest representable value, ties to the larger \
        magnitude. mask-after: the thesis literally: round on the full n-bit grid, saturate, then clear the masked \
        bits, which can land far from the weight when high bits are masked (0.6 in X0.0XX gives 0.125, not 0.375).
        """, valueName: "mode"))
    var rounding: RoundingMode?

    @Option(help: ArgumentHelp("Also quantize biases with this pattern or baseline (biases stay float otherwise).", valueName: "pattern"))
    var biasPattern: String?

    var request: PlanRequest {
        get throws {
            try commandLineRequest {
                try PlanRequest(planFile: plan.map { URL(fileURLWithPath: $0) }, patterns: pattern, layers: layers, rounding: rounding,
                                biasPattern: biasPattern)
            }
        }
    }
}

extension RoundingMode: ExpressibleByArgument {}

/// Where a converting command writes, and the input shape for nets fed by a Data layer.
struct OutputOptions: ParsableArguments {
    @Option(name: .shortAndLong, help: ArgumentHelp("Output file; its name picks the format.", valueName: "file"))
    var output: String

    @Option(help: ArgumentHelp("Image shape C,H,W for nets fed by a Data layer.", valueName: "c,h,w"))
    var inputShape: String?

    var url: URL { URL(fileURLWithPath: output) }
    var imageShape: Shape? { get throws { try inputShape.map(parseShape) } }
}

extension RequestField {
    /// The option that sets this field.
    var flag: String {
        switch self {
        case .batchSize: "--batch-size"
        case .limit: "--limit"
        case .plan: "--plan"
        case .pattern: "--pattern"
        case .layers: "--layers"
        case .rounding: "--rounding"
        case .biasPattern: "--bias-pattern"
        case .runs: "--runs"
        case .convolution: "--convolution"
        case .net: "--net"
        case .weights: "--weights"
        case .meanFile: "--mean-file"
        case .dataFormat: "--data-format"
        case .calibration: "--calibration"
        case .calibrationLimit: "--calibration-limit"
        case .activationBits: "--activation-bits"
        case .datapath: "--datapath"
        case .objective: "--objective"
        case .scale: "--scale"
        case .qdq: "--qdq"
        case .meanValue: "--mean-value"
        case .data: "--data"
        case .count: "--count"
        case .start: "--start"
        case .calibrationFormat: "--calibration-format"
        case .inputShape: "--input-shape"
        case .maxWidth: "--max-width"
        case .averageBits: "--average-bits"
        case .learningSteps: "--learning-steps"
        case .budget: "--budget"
        case .to: "--to"
        }
    }
}

/// A mistake in the command line found while building a request (exit 64).
struct CommandLineMistake: Error {
    var message: String
}

/// Builds a library request from options; a pattern that does not parse is a command-line
/// mistake. (`RequestError`s are mapped to option names for every command in `BMQ.main`.)
func commandLineRequest<Request>(_ build: () throws -> Request) throws -> Request {
    do {
        return try build()
    } catch let error as PatternError {
        throw CommandLineMistake(message: error.description)
    }
}
