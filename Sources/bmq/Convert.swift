import ArgumentParser
import BMQKit
import Foundation

struct Convert: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Convert weights between formats, optionally quantizing them on the way.",
        discussion: """
            Reads the net definition and weights in any supported format (.caffemodel, Caffe \
            .caffemodel.h5, Keras-style .h5 with --map where names differ), or a model that carries \
            its own network (.onnx, .bmq), and writes the format the output name asks for: \
            .caffemodel, .caffemodel.h5 / .h5 (Caffe's HDF5 layout), or .bmq (the packed \
            deployable: only the stored bits of each quantized weight; give a plan or a pattern).

            Examples:
              bmq convert --net lenet.prototxt --weights lenet_iter_10000.caffemodel -o lenet.caffemodel.h5
              bmq convert --net lenet.prototxt --weights keras.h5 --map ip1=dense_1,ip2=dense_2 -o lenet.caffemodel
              bmq convert --net lenet.prototxt --weights lenet_iter_10000.caffemodel --plan plan.json -o lenet.bmq
              bmq convert model.onnx --scale 0.00392156862745098 --plan plan.json -o model.bmq
            """)

    @OptionGroup var model: ModelOptions
    @OptionGroup var quantization: QuantizationOptions

    @OptionGroup var destination: OutputOptions

    @Flag(name: .customLong("fold-batchnorm"),
          help: "Fold BatchNorm and Scale into their convolutions before quantizing, so that the stored pattern weights are the ones the integer datapath multiplies (without it, the datapath folds them later and rounds the folded weights onto the patterns again).")
    var foldBatchNorm = false

    @Flag(help: "In an .onnx output, store each bit-pattern layer's weights as integer codes (int8 where they fit, else int32) with a power-of-two scale, dequantized in the model (DequantizeLinear): exact, and the integers hardware multiplies.")
    var qdq = false

    func run() throws {
        let report = try Conversion.run(try ConversionRequest(
            model: try model.source, quantization: try quantization.request, output: destination.url,
            imageShape: try destination.imageShape, integerWeights: qdq, foldBatchNorm: foldBatchNorm))
        if let plan = report.plan { print("quantized \(report.layers.count) layers (\(plan.rounding.rawValue) rounding)") }
        print("wrote \(destination.output)")
    }
}
