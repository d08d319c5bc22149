import Foundation
import Testing
import TestSupport

/// Runs the built `bmq` executable as a user would.
struct CLI {
    struct Result {
        var status: Int32
        var stdout: String
        var stderr: String
    }

    static let binary: URL = {
        if let path = ProcessInfo.processInfo.environment["BMQ_BINARY"] { return URL(fileURLWithPath: path) }
        // The test bundle sits in the build folder beside the executable.
        var folder = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        if folder.lastPathComponent.hasSuffix(".xctest") { folder.deleteLastPathComponent() }
        return folder.appendingPathComponent("bmq")
    }()

    static func run(_ arguments: [String], in directory: URL? = nil, environment: [String: String] = [:]) throws -> Result {
        try runProgram(binary.path, arguments, in: directory, environment: environment)
    }

    /// A helper program that did not give what a test needs.
    struct Failure: Error, CustomStringConvertible {
        var description: String
        init(_ description: String) { self.description = description }
    }

    /// Runs any program (in `directory`, or the tests' own; with `environment` added to this
    /// process's) and collects its output.
    static func runProgram(_ path: String, _ arguments: [String], in directory: URL? = nil,
                           environment: [String: String] = [:]) throws -> Result {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: path)
        process.arguments = arguments
        if let directory { process.currentDirectoryURL = directory }
        if !environment.isEmpty { process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 } }
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        try process.run()
        let stdout = out.fileHandleForReading.readDataToEndOfFile()
        let stderr = err.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return Result(status: process.terminationStatus, stdout: String(decoding: stdout, as: UTF8.self),
                      stderr: String(decoding: stderr, as: UTF8.self))
    }

    static func example(_ name: String) -> String {
        SharedData.packageRoot.appendingPathComponent("examples/lenet-mnist/\(name)").path
    }
}

@Suite(.serialized) struct CLITests {
    @Test func helpListsTheCommands() throws {
        let result = try CLI.run(["--help"])
        #expect(result.status == 0)
        for command in ["inspect", "eval", "bench"] { #expect(result.stdout.contains(command)) }
        let eval = try CLI.run(["eval", "--help"])
        #expect(eval.stdout.contains("--mean-file") && eval.stdout.contains("--data-format"))
    }

    @Test func evalOnTheBundledExampleMatchesCaffe() throws {
        let result = try CLI.run([
            "eval", "--net", CLI.example("lenet_train_test.prototxt"), "--weights", CLI.example("lenet_iter_10000.caffemodel"),
            "--data", CLI.example("t10k-images-idx3-ubyte.gz"), "--json",
        ])
        #expect(result.status == 0, "\(result.stderr)")
        let json = try #require(try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any])
        // Real Caffe: 9904 / 10000 on this model (shared/models/lenet-caffe/SOURCE.txt).
        #expect(json["correct"] as? Int == 9904)
        #expect(json["total"] as? Int == 10000)
        #expect((json["accuracy"] as? Double).map { abs($0 - 0.9904) < 1e-9 } == true)
        #expect((json["images_per_second"] as? Double ?? 0) > 0)
    }

    @Test func deployNetTakesPreprocessingFromFlags() throws {
        let result = try CLI.run([
            "eval", "--net", CLI.example("lenet.prototxt"), "--weights", CLI.example("lenet_iter_10000.caffemodel"),
            "--data", CLI.example("t10k-images-idx3-ubyte.gz"), "--scale", "0.00390625", "--limit", "500", "--batch-size", "64",
        ])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout.contains("/ 500"))
        #expect(result.stdout.contains("chance 0.1000"))
    }

    @Test func inspectPrintsEveryLayer() throws {
        let result = try CLI.run(["inspect", CLI.example("lenet.prototxt"), CLI.example("lenet_iter_10000.caffemodel"), "--json"])
        #expect(result.status == 0, "\(result.stderr)")
        let json = try #require(try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any])
        let layers = try #require(json["layers"] as? [[String: Any]])
        #expect(layers.map { $0["name"] as? String } == ["conv1", "pool1", "conv2", "pool2", "ip1", "relu1", "ip2", "prob"])
        #expect(json["parameter_count"] as? Int == 431_080)
        let table = try CLI.run(["inspect", CLI.example("lenet_iter_10000.caffemodel"), "--input-shape", "1,28,28"])
        #expect(table.status == 0 && table.stdout.contains("conv2") && table.stdout.contains("50x20x5x5"))
    }

    @Test func badInputFailsWithAClearMessage() throws {
        let directory = try SharedData.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let net = CLI.example("lenet_train_test.prototxt"), weights = CLI.example("lenet_iter_10000.caffemodel")
        let data = CLI.example("t10k-images-idx3-ubyte.gz")

        let missing = try CLI.run(["eval", "--net", net, "--weights", "/nonexistent/w.caffemodel", "--data", data])
        #expect(missing.status != 0 && missing.stderr.contains("/nonexistent/w.caffemodel") && missing.stderr.contains("no such file"))

        let truncated = directory.appendingPathComponent("cut.caffemodel")
        try Data(contentsOf: URL(fileURLWithPath: weights)).prefix(100_000).write(to: truncated)
        let cut = try CLI.run(["eval", "--net", net, "--weights", truncated.path, "--data", data])
        #expect(cut.status != 0 && cut.stderr.contains(truncated.path) && cut.stderr.contains("truncated"))

        let empty = directory.appendingPathComponent("empty.prototxt")
        try Data().write(to: empty)
        let emptyRun = try CLI.run(["eval", "--net", empty.path, "--weights", weights, "--data", data])
        #expect(emptyRun.status != 0 && emptyRun.stderr.contains("empty"))

        let swapped = try CLI.run(["eval", "--net", weights, "--weights", net, "--data", data])
        #expect(swapped.status != 0 && swapped.stderr.contains("not a text file"))

        let format = try CLI.run(["eval", "--net", net, "--weights", weights, "--data", data, "--data-format", "imagenet"])
        #expect(format.status == 64)

        let wrongData = try CLI.run(["eval", "--net", net, "--weights", weights, "--data", net])
        #expect(wrongData.status != 0 && wrongData.stderr.contains("not a dataset"))
    }
}

@Suite(.enabled(if: SharedData.shouldRun, "shared data not found; set BMQ_SHARED"))
struct SharedCLITests {
    @Test func cifarNetsNeedTheirMeanFile() throws {
        let folder = SharedData.url("models/cifar10-quick-everpeace")
        let args = ["eval", "--net", folder.appendingPathComponent("cifar10_quick_train_test.prototxt").path,
                    "--weights", folder.appendingPathComponent("cifar10_quick_iter_5000.caffemodel").path,
                    "--data", SharedData.cifar10Test.path, "--limit", "200"]
        let without = try CLI.run(args)
        #expect(without.status != 0 && without.stderr.contains("--mean-file"))
        let with = try CLI.run(args + ["--mean-file", SharedData.meanFile.path])
        #expect(with.status == 0 && with.stdout.contains("/ 200"), "\(with.stderr)")
    }

    @Test func solverFileIsRecognised() throws {
        let result = try CLI.run(["inspect", SharedData.url("models/lenet-caffe/lenet_solver.prototxt").path])
        #expect(result.status != 0 && result.stderr.contains("solver"))
    }
}

@Suite struct QuantizationCLITests {
    let net = CLI.example("lenet.prototxt"), weights = CLI.example("lenet_iter_10000.caffemodel")

    @Test func badPatternsExitWithTheReason() throws {
        let result = try CLI.run(["inspect", net, weights, "--pattern", "5_3_0_1_0"])
        #expect(result.status != 0 && result.stderr.contains("5_3_0_1_0: declares 3 masked positions but lists 2"))
        let layer = try CLI.run(["inspect", net, weights, "--pattern", "pool1=4_0_0"])
        #expect(layer.status != 0 && layer.stderr.contains("layer 'pool1' is a Pooling layer"))
    }

    @Test func inspectShowsHistogramsAndWritesSVG() throws {
        let directory = try SharedData.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let result = try CLI.run(["inspect", net, weights, "--layers", "conv", "--pattern", "X0.0XX", "--svg", directory.path])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout.contains("quantized: 5_2_0_1_0 (X0.0XX), nearest rounding"))
        #expect(result.stdout.contains("become zero"))
        let files = try FileManager.default.contentsOfDirectory(atPath: directory.path).sorted()
        #expect(files == ["conv1.svg", "conv2.svg"])
        let svg = try String(contentsOf: directory.appendingPathComponent("conv1.svg"), encoding: .utf8)
        // 3 stored bits: 7 representable values (0 and three magnitudes of each sign) as ticks.
        #expect(svg.components(separatedBy: "stroke=\"#c0392b\"").count - 1 == 7)
    }

    @Test func quantizeWritesACaffemodel() throws {
        let directory = try SharedData.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let output = directory.appendingPathComponent("q.caffemodel").path
        let result = try CLI.run(["quantize", "--net", net, "--weights", weights, "--pattern", "4_0_0", "--layers", "conv", "-o", output])
        #expect(result.status == 0, "\(result.stderr)")
        let json = try CLI.run(["inspect", net, output, "--json"])
        let object = try #require(try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any])
        let layers = try #require(object["layers"] as? [[String: Any]])
        let conv1 = try #require(layers.first { $0["name"] as? String == "conv1" })
        let stats = try #require((conv1["blobs"] as? [[String: Any]])?.first?["statistics"] as? [String: Any])
        // 4_0_0 values are multiples of 0.25.
        #expect((stats["max"] as? Double).map { ($0 * 4).rounded() == $0 * 4 } == true)
        let again = try CLI.run(["quantize", "--net", net, "--weights", weights, "--pattern", "4_0_0", "-o", weights])
        #expect(again.status != 0 && again.stderr.contains("is an input"))
    }
}

@Suite struct ConvertCLITests {
    let net = CLI.example("lenet_train_test.prototxt"), weights = CLI.example("lenet_iter_10000.caffemodel")
    let data = CLI.example("t10k-images-idx3-ubyte.gz")

    @Test func kerasWeightsEvaluateLikeCaffe() throws {
        let keras = SharedData.packageRoot.appendingPathComponent("Tests/Fixtures/keras/lenet_keras.h5").path
        let result = try CLI.run(["eval", "--net", net, "--weights", keras, "--map", "ip1=dense_1", "--map", "ip2=dense_2", "--data", data, "--json"])
        #expect(result.status == 0, "\(result.stderr)")
        let json = try #require(try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any])
        #expect(json["correct"] as? Int == 9904)
    }

    @Test func caffemodelToH5AndBack() throws {
        let directory = try SharedData.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let h5 = directory.appendingPathComponent("lenet.caffemodel.h5").path
        let back = directory.appendingPathComponent("lenet.caffemodel").path
        let deploy = CLI.example("lenet.prototxt")
        #expect(try CLI.run(["convert", "--net", deploy, "--weights", weights, "-o", h5]).status == 0)
        #expect(try CLI.run(["convert", "--net", deploy, "--weights", h5, "-o", back]).status == 0)
        let result = try CLI.run(["eval", "--net", net, "--weights", back, "--data", data, "--limit", "1000"])
        #expect(result.status == 0 && result.stdout.contains("/ 1000"), "\(result.stderr)")
        let unknown = try CLI.run(["convert", "--net", deploy, "--weights", weights, "-o", directory.appendingPathComponent("x.tflite").path])
        #expect(unknown.status != 0 && unknown.stderr.contains("cannot tell the output format"))
    }
}
