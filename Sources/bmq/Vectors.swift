import ArgumentParser
import BMQKit
import Foundation

struct Vectors: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Write RTL test vectors of a packed model's integer datapath, or check a folder of them.",
        discussion: """
            Writes the quantized input and every layer's integer output of the first --count images \
            as $readmemh files (two's complement, one value a line, ceil(bits/4) hex digits), with \
            manifest.json (files, shapes, formats, labels, predicted classes). The model must be a \
            .bmq written from a plan with activation formats (formats/datapath/SPEC.md).

            --check recomputes every layer from the folder's input vectors and compares every file, \
            so outputs dumped by a simulation in the same form are checked value by value.

            Examples:
              bmq vectors lenet.bmq --data t10k-images-idx3-ubyte --count 100 -o vectors/
              bmq vectors lenet.bmq --check vectors/
            """)

    @Argument(help: ArgumentHelp("A packed .bmq model that records an integer datapath.", valueName: "model.bmq"))
    var model: String

    @Option(help: ArgumentHelp("Images to write vectors for: MNIST, CIFAR-10/100, an LMDB or LevelDB folder, or an image list.", valueName: "path"))
    var data: String?

    @Option(help: ArgumentHelp("Override content detection: mnist, cifar10, cifar100, lmdb, leveldb or image-list.", valueName: "format"))
    var dataFormat: DatasetFormat?

    @Option(parsing: .unconditional, help: "Images to write (N from --start).")
    var count: Int = 100

    @Option(parsing: .unconditional, help: "Images of the dataset to skip first, to write a large set in parts.")
    var start: Int = 0

    @Option(name: .shortAndLong, help: ArgumentHelp("Folder to write the vectors into (created if needed).", valueName: "dir"))
    var output: String?

    @Option(help: ArgumentHelp("A vectors folder to check against the model instead of writing one.", valueName: "dir"))
    var check: String?

    func validate() throws {
        switch (output, check) {
        case (nil, nil): throw ValidationError("give -o DIR to write vectors, or --check DIR to check them")
        case (.some, .some): throw ValidationError("give either -o or --check, not both")
        default: break
        }
    }

    func run() throws {
        let request = try VectorRequest(packed: URL(fileURLWithPath: model), data: data.map { URL(fileURLWithPath: $0) },
                                        dataFormat: dataFormat, count: count, start: start, directory: URL(fileURLWithPath: check ?? output ?? ""))
        if check != nil {
            let result = try VectorGeneration.check(request)
            print("\(result.images) images, \(result.mismatches) mismatches")
            if let first = result.firstMismatch {
                print("first: \(first)")
                throw ExitCode.failure
            }
            return
        }
        let manifest = try VectorGeneration.write(request)
        let correct = zip(manifest.predictions, manifest.labels).filter { $0 == $1 }.count
        print("wrote \(manifest.values.count) files of \(manifest.images) images into \(output ?? "") "
              + "(\(correct)/\(manifest.images) predicted correctly); manifest.json lists them")
    }
}
