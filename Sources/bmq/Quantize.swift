import ArgumentParser
import BMQKit
import Foundation
import TensorGraph

struct Quantize: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Write a model's weights quantized by a plan, as float values Caffe can run.",
        discussion: """
            The output holds every quantized weight as its exact float value, so `caffe test` \
            (or `bmq eval`) on it reproduces the quantized accuracy. The format follows the \
            output name: .caffemodel or .caffemodel.h5.

            Example:
              bmq quantize --net lenet.prototxt --weights lenet_iter_10000.caffemodel \\
                           --pattern 5_2_0_1_0 --layers conv -o lenet_3bit.caffemodel
            """)

    @OptionGroup var model: ModelOptions
    @OptionGroup var quantization: QuantizationOptions

    @OptionGroup var destination: OutputOptions

    @Flag(name: .customLong("fold-batchnorm"),
          help: "Fold BatchNorm and Scale into their convolutions before quantizing, so that the stored pattern weights are the ones the integer datapath multiplies (without it, the datapath folds them later and rounds the folded weights onto the patterns again).")
    var foldBatchNorm = false

    func run() throws {
        let report = try Conversion.run(try ConversionRequest(
            model: try model.source, quantization: try quantization.request, output: destination.url,
            imageShape: try destination.imageShape, requirePlan: true, foldBatchNorm: foldBatchNorm))
        print("quantized \(report.layers.count) layers (\((report.plan?.rounding ?? .nearest).rawValue) rounding):")
        for layer in report.layers {
            print(layerLine(layer))
        }
        print("wrote \(destination.output)")
    }
}

/// Parses C,H,W (or N,C,H,W without the batch) from the command line.
func parseShape(_ text: String) throws -> Shape {
    let dims = text.split(separator: ",").map { Int($0.trimmingCharacters(in: .whitespaces)) }
    guard !dims.isEmpty, dims.allSatisfy({ ($0 ?? 0) > 0 }) else {
        throw ValidationError("an input shape takes positive integers such as 1,28,28")
    }
    return Shape(dims.compactMap { $0 })
}
