import ArgumentParser
import BMQKit
import Foundation

struct DatasetCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dataset",
        abstract: "Convert labelled images into a Caffe data source: LMDB, LevelDB or an image list.",
        discussion: """
            Writes what Caffe's convert tools write, so a Data or ImageData layer reads it: \
            Datum records keyed by index (%08d) in an LMDB or LevelDB folder, the pixels stored \
            as they are (convert_mnist_data, convert_cifar_data) or, with --encoding png, as PNG \
            files (convert_imageset --encoded); or a folder of PNG files with list.txt \
            ('file label' lines) for an ImageData layer whose root_folder is that folder. \
            Three-channel images are stored as blue, green, red, the order Caffe reads them in, \
            so every reader gives back the input's values. The output folder must not exist; \
            nothing is left there unless the whole set was written.

            Examples:
              bmq dataset t10k-images-idx3-ubyte --to lmdb -o mnist_test_lmdb
              bmq dataset test_batch.bin --to leveldb -o cifar10_test_leveldb
              bmq dataset test_batch.bin --to image-list -o cifar10_test_png
              bmq eval --net lenet_train_test.prototxt --weights lenet.caffemodel --data mnist_test_lmdb
            """)

    @Argument(help: ArgumentHelp("Images to convert: any dataset bmq reads (MNIST, CIFAR, LMDB, LevelDB, image list).", valueName: "input"))
    var input: String

    @Option(help: ArgumentHelp("Override the input's content detection: mnist, cifar10, cifar100, lmdb, leveldb or image-list.", valueName: "format"))
    var dataFormat: DatasetFormat?

    @Option(help: ArgumentHelp("The output: lmdb, leveldb or image-list.", valueName: "format"))
    var to: DatasetFormat

    @Option(name: .shortAndLong, help: ArgumentHelp("The folder to create.", valueName: "dir"))
    var output: String

    @Option(help: ArgumentHelp("How a database stores each image: raw (default) or png.", valueName: "encoding"))
    var encoding: DatasetEncoding = .raw

    @Option(name: .long, parsing: .unconditional, help: "Convert only the first N images.")
    var limit: Int?

    func run() throws {
        let request = try DatasetConversionRequest(
            input: URL(fileURLWithPath: input), inputFormat: dataFormat, limit: limit, outputFormat: to,
            output: URL(fileURLWithPath: output), encoding: encoding)
        let progress = ProgressLine(label: "writing")
        let count = try DatasetConversion.run(request, progress: progress.update)
        progress.finish()
        print("wrote \(count) images to \(output) (\(to.rawValue)\(to == .imageList ? "" : ", \(encoding.rawValue)"))")
    }
}

extension DatasetEncoding: ExpressibleByArgument {}
