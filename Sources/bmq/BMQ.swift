import ArgumentParser
import BMQKit

@main
struct BMQ: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bmq",
        abstract: "Read, run, inspect and quantize Caffe CNNs for fixed-point hardware.",
        discussion: """
            Models are a Caffe net definition (.prototxt, new `layer` or legacy V1 `layers`) plus \
            weights (.caffemodel, Caffe .caffemodel.h5, Keras-style .h5), or a packed .bmq \
            deployable that carries its own network. Datasets are MNIST IDX files (raw or .gz) \
            and CIFAR-10/100 binary batches. Files are recognised by their content.

            Start with: bmq inspect NET.prototxt WEIGHTS, then bmq eval, then bmq convert -o OUT.bmq.
            """,
        subcommands: [Inspect.self, Eval.self, Quantize.self, Search.self, Convert.self, Export.self, ReproduceThesis.self, Bench.self, BenchQuantize.self])
}
