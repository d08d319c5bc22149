import Foundation
import Testing
import TestSupport

/// A new user's rough edges, each with the exit status and message it gives now.
@Suite(.enabled(if: SharedData.shouldRun, "needs ../shared")) struct RoughEdgeTests {
    static let lenet = SharedData.url("models/lenet-caffe")
    static let quick = SharedData.url("models/cifar10-quick-everpeace")
    static var lenetSource: [String] {
        ["--net", lenet.appendingPathComponent("lenet_train_test.prototxt").path,
         "--weights", lenet.appendingPathComponent("lenet_iter_10000.caffemodel").path]
    }

    /// An output that cannot be written is refused before the search runs, not after.
    @Test func searchOutputsAreCheckedFirst() throws {
        let common = ["search"] + Self.lenetSource + ["--calibration", SharedData.url("data/mnist/train-images-idx3-ubyte").path, "--bits", "3"]
        for (option, path) in [("-o", "/nonexistent-folder/plan.json"), ("--save-weights", "/nonexistent-folder/w.caffemodel"),
                               ("--report", "/nonexistent-folder/report")] {
            let result = try CLI.run(common + [option, path])
            #expect(result.status != 0 && result.stderr.contains(path) && result.stderr.contains("does not exist"), "\(option): \(result.stderr)")
            #expect(!result.stderr.contains("scan"), "\(option): the search ran first")
        }
    }

    /// A train_test net converted without data says which option gives the image shape.
    @Test func missingImageShapeNamesTheOption() throws {
        let result = try CLI.run(["convert", "--net", Self.quick.appendingPathComponent("cifar10_quick_train_test.prototxt").path,
                                  "--weights", Self.quick.appendingPathComponent("cifar10_quick_iter_5000.caffemodel").path,
                                  "-o", FileManager.default.temporaryDirectory.appendingPathComponent("never.caffemodel").path])
        #expect(result.status == 64 && result.stderr.contains("--input-shape C,H,W"), "\(result.stderr)")
    }

    /// CIFAR-100 images given to a 10-class net are refused, not scored as mistakes.
    @Test func labelsBeyondTheNetsClassesAreRefused() throws {
        let data = SharedData.url("data/cifar100/test_first20.bin").path
        let result = try CLI.run(["eval", "--net", Self.quick.appendingPathComponent("cifar10_quick_train_test.prototxt").path,
                                  "--weights", Self.quick.appendingPathComponent("cifar10_quick_iter_5000.caffemodel").path,
                                  "--mean-file", SharedData.meanFile.path, "--data", data])
        #expect(result.status != 0 && result.stderr.contains(data) && result.stderr.contains("scores 10 classes"), "\(result.stderr)")
    }

    /// A pattern for a layer the net lacks names the net's weight layers, not a plan nobody gave.
    @Test func unknownLayersInPatternsListTheRealOnes() throws {
        let result = try CLI.run(["eval"] + Self.lenetSource + ["--data", SharedData.mnistTest.path, "--limit", "10", "--pattern", "foo=3_0_0"])
        #expect(result.status != 0 && result.stderr.contains("no layer 'foo'") && result.stderr.contains("conv1, conv2, ip1, ip2"))
        #expect(!result.stderr.contains("plan"))
    }

    /// Widths out of range and a misspelled option are command-line mistakes (exit 64) that say so.
    @Test func mistakesNameTheirCause() throws {
        let search = ["search"] + Self.lenetSource + ["--calibration", SharedData.url("data/mnist/train-images-idx3-ubyte").path]
        for bits in ["0", "40"] {
            let result = try CLI.run(search + ["--bits", bits])
            #expect(result.status == 64 && result.stderr.contains("--bits: bit width '\(bits)'"), "\(result.stderr)")
        }
        let typo = try CLI.run(["eval"] + Self.lenetSource + ["--data", SharedData.mnistTest.path, "--patern", "4_0_0"])
        #expect(typo.status == 64 && typo.stderr.contains("unexpected argument '4_0_0'") && typo.stderr.contains("misspelled"), "\(typo.stderr)")
    }

    /// The command-line mistakes of the new user's list: each exits 64 and names the option.
    @Test func listedMistakesExit64() throws {
        let deploy = ["--net", Self.lenet.appendingPathComponent("lenet.prototxt").path,
                      "--weights", Self.lenet.appendingPathComponent("lenet_iter_10000.caffemodel").path]
        let output = FileManager.default.temporaryDirectory.appendingPathComponent("never-\(UUID().uuidString).bmq").path
        let calibration = ["--calibration", SharedData.url("data/mnist/train-images-idx3-ubyte").path]
        let cases: [([String], String)] = [
            (["quantize"] + deploy + ["--pattern", "9_9", "-o", output], "9_9: a label needs"),
            (["quantize"] + deploy + ["-o", output], "give --plan or --pattern"),
            (["search"] + deploy + calibration + ["--bits", "3", "--max-width", "0"], "--max-width 0 must be between 2"),
            (["search"] + deploy + calibration + ["--average-bits", "0"], "--average-bits 0.0 must be between 2"),
            (["bench"] + deploy + ["--data", SharedData.mnistTest.path, "--runs", "0"], "--runs must be positive"),
        ]
        for (arguments, message) in cases {
            let result = try CLI.run(arguments)
            #expect(result.status == 64 && result.stderr.contains(message), "\(arguments.first!): \(result.stderr)")
        }
        #expect(!FileManager.default.fileExists(atPath: output))
        // Weights of another net are refused by inspect too, naming the layer and both shapes.
        let mismatch = try CLI.run(["inspect", Self.quick.appendingPathComponent("cifar10_quick.prototxt").path,
                                    Self.lenet.appendingPathComponent("lenet_iter_10000.caffemodel").path])
        #expect(mismatch.status == 1 && mismatch.stderr.contains("layer 'conv1': weights has shape 20x1x5x5, the net needs 32x3x5x5"),
                "\(mismatch.stderr)")
        let help = try CLI.run(["convert", "--help"])
        #expect(help.stdout.contains(".bmq (the packed deployable"))
    }

    /// A killed convert leaves no hidden temporary file: the output has no name until it is complete.
    @Test func aKilledConvertLeavesNoTemporaryFile() throws {
        let directory = try SharedData.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let resnet = SharedData.url("models/resnet20-cifar10")
        for delay in [20_000, 60_000, 120_000, 200_000] as [UInt32] {
            let process = Process()
            process.executableURL = CLI.binary
            process.arguments = ["convert", "--net", resnet.appendingPathComponent("res20_cifar_train_test.prototxt").path,
                                 "--weights", resnet.appendingPathComponent("ResNet_20.caffemodel").path, "--input-shape", "3,32,32",
                                 "--mean-file", SharedData.meanFile.path, "-o", directory.appendingPathComponent("r.caffemodel").path]
            process.standardOutput = FileHandle.nullDevice
            process.standardError = FileHandle.nullDevice
            try process.run()
            usleep(delay)
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
            let hidden = try FileManager.default.contentsOfDirectory(atPath: directory.path).filter { $0.hasPrefix(".") }
            #expect(hidden.isEmpty, "after \(delay) µs: \(hidden)")
        }
    }

    /// Folders that cannot be made are named in words, not as a Foundation error dump.
    @Test func unusableFoldersAreNamed() throws {
        let directory = try SharedData.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let file = directory.appendingPathComponent("plain-file")
        try Data("x".utf8).write(to: file)
        let files = [Self.lenet.appendingPathComponent("lenet_train_test.prototxt").path,
                     Self.lenet.appendingPathComponent("lenet_iter_10000.caffemodel").path]
        let inspect = try CLI.run(["inspect"] + files + ["--pattern", "4_0_0", "--svg", file.path])
        #expect(inspect.status != 0 && inspect.stderr.contains("is a file, not a folder") && !inspect.stderr.contains("NSCocoaErrorDomain"))
        let below = try CLI.run(["inspect"] + files + ["--pattern", "4_0_0", "--svg", file.appendingPathComponent("svg").path])
        #expect(below.status != 0 && below.stderr.contains("cannot be created") && !below.stderr.contains("NSCocoaErrorDomain"))
    }

    /// A mistake in the prototxt's own attributes blames the prototxt, not the weights or the data.
    @Test func prototxtMistakesBlameThePrototxt() throws {
        let directory = try SharedData.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let original = try String(contentsOf: Self.quick.appendingPathComponent("cifar10_quick_train_test.prototxt"), encoding: .utf8)
        let net = directory.appendingPathComponent("bad_pool.prototxt")
        try original.replacingOccurrences(of: "kernel_size: 3", with: "kernel_size: 0").write(to: net, atomically: true, encoding: .utf8)
        let result = try CLI.run(["eval", "--net", net.path, "--weights", Self.quick.appendingPathComponent("cifar10_quick_iter_5000.caffemodel").path,
                                  "--mean-file", SharedData.meanFile.path, "--data", SharedData.cifar10Test.path, "--limit", "10"])
        #expect(result.status != 0 && result.stderr.contains("bad_pool.prototxt") && result.stderr.contains("'pool1'"), "\(result.stderr)")
        #expect(!result.stderr.contains("caffemodel") && !result.stderr.contains("dataset"), "\(result.stderr)")
        // The error points at the layer's line.
        let lines = original.components(separatedBy: "\n")
        let line = try #require(lines.firstIndex { $0.trimmingCharacters(in: .whitespaces) == "name: \"pool1\"" }) + 1
        #expect(result.stderr.contains("bad_pool.prototxt:\(line): layer 'pool1'"), "\(result.stderr)")
    }

    /// A plan file that is not JSON gives the line and column where it stops being JSON.
    @Test func corruptPlanGivesLineAndColumn() throws {
        let directory = try SharedData.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let plan = directory.appendingPathComponent("plan.json")
        try Data("{\n  \"entries\": [\n    {\"layer\": \"conv1\", \n  ]\n}\n".utf8).write(to: plan)
        let result = try CLI.run(["quantize"] + Self.lenetSource + ["--input-shape", "1,28,28", "--plan", plan.path, "-o", directory.appendingPathComponent("x.bmq").path])
        #expect(result.status == 1 && result.stderr.contains("plan.json:4: column 3: expected a quoted key"), "\(result.stderr)")
    }

    /// A damaged caffemodel is called corrupt, in words.
    @Test func corruptCaffemodelSaysSoInWords() throws {
        let directory = try SharedData.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        var bytes = try Data(contentsOf: Self.lenet.appendingPathComponent("lenet_iter_10000.caffemodel"))
        let name = try #require(bytes.range(of: Data("conv1".utf8)))
        bytes[name.lowerBound + 1] = 0xFF
        let weights = directory.appendingPathComponent("bad.caffemodel")
        try bytes.write(to: weights)
        let result = try CLI.run(["eval", "--net", Self.lenet.appendingPathComponent("lenet.prototxt").path, "--weights", weights.path,
                                  "--data", SharedData.mnistTest.path, "--limit", "10"])
        #expect(result.status == 1 && result.stderr.contains("bad.caffemodel: not a valid .caffemodel: a name or text field is not valid UTF-8"),
                "\(result.stderr)")
        #expect(!result.stderr.contains("invalidUTF8"))
    }

    /// --pattern naming a layer the net lacks is a command-line mistake naming the real layers.
    @Test func patternForAMissingLayerIsAMistake() throws {
        let result = try CLI.run(["quantize"] + Self.lenetSource + ["--input-shape", "1,28,28", "--pattern", "foo=3_0_0",
                                                                     "-o", FileManager.default.temporaryDirectory.appendingPathComponent("never.bmq").path])
        #expect(result.status == 64 && result.stderr.contains("no layer 'foo'") && result.stderr.contains("conv1, conv2, ip1, ip2"), "\(result.stderr)")
    }

    /// A packed model with --net runs the given net with the packed weights (matched by layer name).
    @Test func packedWeightsRunUnderTheGivenNet() throws {
        let directory = try SharedData.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let packed = directory.appendingPathComponent("lenet.bmq").path
        let made = try CLI.run(["convert"] + Self.lenetSource + ["--input-shape", "1,28,28", "--pattern", "6_2_0_1_0", "-o", packed])
        #expect(made.status == 0, "\(made.stderr)")
        let data = ["--data", SharedData.mnistTest.path, "--limit", "500"]
        let alone = try CLI.run(["eval", packed] + data)
        let underNet = try CLI.run(["eval", packed, "--net", Self.lenet.appendingPathComponent("lenet.prototxt").path, "--scale", "0.00390625"] + data)
        #expect(alone.status == 0 && underNet.status == 0, "\(underNet.stderr)")
        #expect(alone.stdout.split(separator: "\n").first == underNet.stdout.split(separator: "\n").first)
        let wrongNet = try CLI.run(["eval", packed, "--net", Self.quick.appendingPathComponent("cifar10_quick.prototxt").path] + data)
        #expect(wrongNet.status != 0 && wrongNet.stderr.contains("3x32x32"), "\(wrongNet.stderr)")
    }

    /// Negative counts are values refused by name, not a missing value.
    @Test func negativeCountsAreRefusedByName() throws {
        let eval = try CLI.run(["eval"] + Self.lenetSource + ["--data", SharedData.mnistTest.path, "--limit", "-1"])
        #expect(eval.status == 64 && eval.stderr.contains("--limit must be positive"), "\(eval.stderr)")
        let search = try CLI.run(["search"] + Self.lenetSource + ["--calibration", SharedData.url("data/mnist/train-images-idx3-ubyte").path,
                                                                   "--bits", "3", "--calibration-limit", "-5"])
        #expect(search.status == 64 && search.stderr.contains("--calibration-limit must be positive"), "\(search.stderr)")
    }

    /// Preprocessing values that cannot be right are command-line mistakes (exit 64).
    @Test func badPreprocessingIsAMistake() throws {
        let base = ["eval"] + Self.lenetSource + ["--data", SharedData.mnistTest.path, "--limit", "10"]
        for (arguments, text) in [(["--scale", "nan"], "--scale nan"), (["--scale", "0"], "--scale 0"),
                                  (["--scale", "1", "--scale", "2"], "--scale has 2 values")] {
            let result = try CLI.run(base + arguments)
            #expect(result.status == 64 && result.stderr.contains(text), "\(arguments): \(result.stderr)")
        }
    }
}
