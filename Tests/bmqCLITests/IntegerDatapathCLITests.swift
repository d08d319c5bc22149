import Foundation
import Testing
import TestSupport

/// `--datapath integer` and `--activation-bits` on the bundled LeNet: runs on a fresh clone.
@Suite(.serialized) struct IntegerDatapathCLITests {
    let net = CLI.example("lenet_train_test.prototxt"), weights = CLI.example("lenet_iter_10000.caffemodel")
    let calibration = CLI.example("train-5k-images-idx3-ubyte.gz"), data = CLI.example("t10k-images-idx3-ubyte.gz")

    func json(_ result: CLI.Result) throws -> [String: Any] {
        try #require(try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any])
    }

    /// Formats chosen on calibration images, written into a version-2 plan, and the same integer
    /// count from that plan alone; the integer count stays near the float-activation one.
    @Test func activationFormatsRoundTripThroughThePlan() throws {
        let directory = try SharedData.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let saved = directory.appendingPathComponent("plan-int8.json").path
        let chosen = try CLI.run([
            "eval", "--net", net, "--weights", weights, "--data", data, "--limit", "1000", "--pattern", "6_0_0", "--datapath", "integer",
            "--calibration", calibration, "--calibration-limit", "500", "--activation-bits", "8", "--save-plan", saved, "--json",
        ])
        #expect(chosen.status == 0, "\(chosen.stderr)")
        let first = try json(chosen)
        let integer = try #require(first["integer"] as? [String: Any])
        let correct = try #require(integer["correct"] as? Int)
        let floatActivations = try #require(first["correct"] as? Int)
        #expect(abs(correct - floatActivations) <= 10, "integer \(correct) vs float activations \(floatActivations) of 1000")
        #expect(integer["input_format"] as? String == "u8.8")
        for layer in try #require(integer["layers"] as? [[String: Any]]) {
            let bound = try #require(layer["accumulator_bound"] as? Int), seen = try #require(layer["largest_accumulator"] as? Int)
            #expect(seen <= bound, "\(layer)")
        }
        let plan = try String(contentsOfFile: saved, encoding: .utf8)
        #expect(plan.contains("\"version\" : 2") && plan.contains("\"activations\""))

        let replay = try CLI.run(["eval", "--net", net, "--weights", weights, "--data", data, "--limit", "1000", "--plan", saved,
                                  "--datapath", "integer", "--json"])
        #expect(replay.status == 0, "\(replay.stderr)")
        #expect((try json(replay)["integer"] as? [String: Any])?["correct"] as? Int == correct)
        // A plan with activation formats is still a plan for the float commands.
        let float = try CLI.run(["eval", "--net", net, "--weights", weights, "--data", data, "--limit", "1000", "--plan", saved, "--json"])
        #expect(float.status == 0)
        #expect(try json(float)["correct"] as? Int == floatActivations)
    }

    @Test func searchRecordsFormatsAndTestsTheIntegerNetwork() throws {
        let directory = try SharedData.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let plan = directory.appendingPathComponent("plan.json").path, saved = directory.appendingPathComponent("searched.bmq").path
        let result = try CLI.run([
            "search", "--net", net, "--weights", weights, "--calibration", calibration, "--calibration-limit", "300",
            "--data", data, "--limit", "500", "--bits", "4", "--shortlist", "2", "--no-compare", "--activation-bits", "8", "-o", plan,
            "--save-weights", saved, "--json",
        ])
        #expect(result.status == 0, "\(result.stderr)")
        let report = try json(result)
        let integer = try #require(report["integer"] as? [String: Any])
        let tested = try #require((integer["test"] as? [String: Any])?["correct"] as? Int)
        // One profile per activation: the input, then conv1, conv2, ip1, ip2; every calibration value counted.
        let profiles = try #require(integer["profiles"] as? [[String: Any]])
        #expect(profiles.compactMap { $0["layer"] as? String } == ["data", "conv1", "conv2", "ip1", "ip2"])
        let inputValues = (profiles[0]["counts"] as? [Int] ?? []).reduce(0, +) + (profiles[0]["zeros"] as? Int ?? 0)
        #expect(inputValues == 300 * 784)
        let replay = try CLI.run(["eval", "--net", net, "--weights", weights, "--data", data, "--limit", "500", "--plan", plan,
                                  "--datapath", "integer", "--json"])
        #expect(replay.status == 0, "\(replay.stderr)")
        #expect((try json(replay)["integer"] as? [String: Any])?["correct"] as? Int == tested)
        // The deployable the search saves records the datapath too.
        let fromSearch = try CLI.run(["eval", saved, "--data", data, "--limit", "500", "--datapath", "integer", "--json"])
        #expect(fromSearch.status == 0, "\(fromSearch.stderr)")
        #expect((try json(fromSearch)["integer"] as? [String: Any])?["correct"] as? Int == tested)

        // The packed deployable records the datapath: the same count from the file alone.
        let packed = directory.appendingPathComponent("lenet.bmq").path
        let convert = try CLI.run(["convert", "--net", net, "--weights", weights, "--plan", plan, "--input-shape", "1,28,28", "-o", packed])
        #expect(convert.status == 0, "\(convert.stderr)")
        let fromFile = try CLI.run(["eval", packed, "--data", data, "--limit", "500", "--datapath", "integer", "--json"])
        #expect(fromFile.status == 0, "\(fromFile.stderr)")
        #expect((try json(fromFile)["integer"] as? [String: Any])?["correct"] as? Int == tested)
        // Timed beside the float engine, the integer engine counts the same; formats may also come
        // from --calibration instead of the file.
        for formats in [[], ["--calibration", calibration, "--calibration-limit", "200"]] {
            let bench = try CLI.run(["bench", packed, "--data", data, "--limit", "500", "--runs", "1", "--datapath", "float", "integer"] + formats)
            #expect(bench.status == 0, "\(bench.stderr)")
            let lines = bench.stdout.split(separator: "\n")
            #expect(lines.contains { $0.hasPrefix("integer: min") }, "\(bench.stdout)")
            // The speedup line is the ratio of the two summaries' median images/s.
            func medianRate(_ label: String) -> Double? {
                lines.first { $0.hasPrefix("\(label): min") }.flatMap { line in
                    line.components(separatedBy: "median ").last?.split(separator: "(").dropFirst().first.flatMap { Double($0.split(separator: " ")[0]) }
                }
            }
            let floatLabel = lines.first { $0.contains(": min ") }.map { String($0.split(separator: ":")[0]) } ?? "?"
            let speedup = lines.first { $0.hasPrefix("integer: ") && $0.contains("x \(floatLabel)'s images/s") }
                .flatMap { Double($0.dropFirst("integer: ".count).split(separator: "x")[0]) }
            if let speedup, let integer = medianRate("integer"), let float = medianRate(floatLabel) {
                #expect(abs(speedup - integer / float) < 0.01 + 0.001 * speedup, "\(bench.stdout)")
            } else {
                Issue.record("no speedup line or medians: \(bench.stdout)")
            }
            if formats.isEmpty { #expect(bench.stdout.contains("integer: ") && bench.stdout.contains("\(tested)/500 correct"), "\(bench.stdout)") }
        }
        let inspect = try CLI.run(["inspect", packed])
        #expect(inspect.status == 0 && inspect.stdout.contains("integer datapath") && inspect.stdout.contains("adders per weight"))

        // Test vectors from the deployable: written, checked, and a corrupted or changed file caught.
        let vectors = directory.appendingPathComponent("vectors")
        let written = try CLI.run(["vectors", packed, "--data", data, "--count", "20", "-o", vectors.path])
        #expect(written.status == 0, "\(written.stderr)")
        let manifest = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: vectors.appendingPathComponent("manifest.json"))) as? [String: Any])
        let files = try #require(manifest["values"] as? [[String: Any]]).compactMap { $0["file"] as? String }
        #expect(files == ["data.hex", "conv1.hex", "pool1.hex", "conv2.hex", "pool2.hex", "ip1.hex", "ip2.hex"])
        let checked = try CLI.run(["vectors", packed, "--check", vectors.path])
        #expect(checked.status == 0 && checked.stdout.contains("20 images, 0 mismatches"), "\(checked.stdout)\(checked.stderr)")
        // A later part of the set: images 15 to 19 again, the same values as in the first folder.
        let part = directory.appendingPathComponent("part")
        #expect(try CLI.run(["vectors", packed, "--data", data, "--start", "15", "--count", "5", "-o", part.path]).status == 0)
        let whole = try String(contentsOf: vectors.appendingPathComponent("ip2.hex"), encoding: .utf8).split(separator: "\n")
        let tail = try String(contentsOf: part.appendingPathComponent("ip2.hex"), encoding: .utf8).split(separator: "\n")
        #expect(Array(whole.suffix(50)) == tail)
        let past = try CLI.run(["vectors", packed, "--data", data, "--start", "20000", "-o", directory.appendingPathComponent("past").path])
        #expect(past.status == 64 && past.stderr.contains("--start"))
        let pool = vectors.appendingPathComponent("pool1.hex")
        var lines = try String(contentsOf: pool, encoding: .utf8).components(separatedBy: "\n")
        let original = lines[6]
        lines[6] = original == "00" ? "01" : "00"
        try lines.joined(separator: "\n").write(to: pool, atomically: true, encoding: .utf8)
        let changed = try CLI.run(["vectors", packed, "--check", vectors.path])
        #expect(changed.status != 0 && changed.stdout.contains("1 mismatches") && changed.stdout.contains("pool1.hex:7"), "\(changed.stdout)")
        lines[6] = "xyz"
        try lines.joined(separator: "\n").write(to: pool, atomically: true, encoding: .utf8)
        let corrupt = try CLI.run(["vectors", packed, "--check", vectors.path])
        #expect(corrupt.status != 0 && corrupt.stderr.contains("pool1.hex:7"), "\(corrupt.stderr)")

        // A float deployable records no bit patterns to run in integers.
        let float = directory.appendingPathComponent("float.bmq").path
        #expect(try CLI.run(["convert", "--net", net, "--weights", weights, "--input-shape", "1,28,28", "-o", float]).status == 0)
        let refused = try CLI.run(["eval", float, "--data", data, "--limit", "10", "--datapath", "integer"])
        #expect(refused.status == 64 && refused.stderr.contains("bit-pattern"))
        let noDatapath = try CLI.run(["vectors", float, "--data", data, "-o", directory.appendingPathComponent("none").path])
        #expect(noDatapath.status != 0 && noDatapath.stderr.contains("records no integer datapath"))
    }

    @Test func badRequestsNameWhatIsWrong() throws {
        let noPlan = try CLI.run(["eval", "--net", net, "--weights", weights, "--data", data, "--limit", "10", "--datapath", "integer"])
        #expect(noPlan.status == 64 && noPlan.stderr.contains("--datapath integer") && noPlan.stderr.contains("--plan"))

        let baseline = try CLI.run(["eval", "--net", net, "--weights", weights, "--data", data, "--limit", "10", "--pattern", "max-abs:4",
                                    "--datapath", "integer", "--calibration", calibration, "--calibration-limit", "20"])
        #expect(baseline.status != 0 && baseline.stderr.contains("conv1") && baseline.stderr.contains("bit patterns"))

        let partial = try CLI.run(["eval", "--net", net, "--weights", weights, "--data", data, "--limit", "10", "--pattern", "4_0_0",
                                   "--layers", "conv", "--datapath", "integer", "--calibration", calibration, "--calibration-limit", "20"])
        #expect(partial.status != 0 && partial.stderr.contains("ip1") && partial.stderr.contains("float"))

        let noFormats = try CLI.run(["eval", "--net", net, "--weights", weights, "--data", data, "--limit", "10",
                                     "--plan", CLI.example("plan-3bit.json"), "--datapath", "integer"])
        #expect(noFormats.status == 64 && noFormats.stderr.contains("--calibration"))

        let wide = try CLI.run(["eval", "--net", net, "--weights", weights, "--data", data, "--limit", "10", "--pattern", "4_0_0",
                                "--datapath", "integer", "--calibration", calibration, "--activation-bits", "40"])
        #expect(wide.status == 64 && wide.stderr.contains("--activation-bits"))
        let unknown = try CLI.run(["eval", "--net", net, "--weights", weights, "--data", data, "--limit", "10", "--pattern", "4_0_0",
                                   "--datapath", "integer", "--calibration", calibration, "--calibration-limit", "20", "--activation-bits", "8,pool1=6"])
        #expect(unknown.status == 64 && unknown.stderr.contains("pool1") && unknown.stderr.contains("--activation-bits"))

        let unwritable = try CLI.run(["eval", "--net", net, "--weights", weights, "--data", data, "--limit", "10", "--pattern", "4_0_0",
                                      "--datapath", "integer", "--calibration", calibration, "--save-plan", "/nonexistent-folder/p.json"])
        #expect(unwritable.status != 0 && unwritable.stderr.contains("/nonexistent-folder"))
    }

    /// An op without an integer definition is refused by name: LeNet with its ReLU made a TanH.
    @Test(.enabled(if: SharedData.shouldRun, "needs ../shared")) func unsupportedLayerIsNamed() throws {
        let directory = try SharedData.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let model = SharedData.url("models/lenet-caffe")
        let original = try String(contentsOf: model.appendingPathComponent("lenet_train_test.prototxt"), encoding: .utf8)
        let net = directory.appendingPathComponent("lenet_tanh.prototxt")
        try original.replacingOccurrences(of: "type: \"ReLU\"", with: "type: \"TanH\"").write(to: net, atomically: true, encoding: .utf8)
        let result = try CLI.run([
            "eval", "--net", net.path, "--weights", model.appendingPathComponent("lenet_iter_10000.caffemodel").path,
            "--data", SharedData.mnistTest.path, "--limit", "10", "--pattern", "6_0_0", "--datapath", "integer",
            "--calibration", SharedData.url("data/mnist/train-images-idx3-ubyte").path, "--calibration-limit", "10",
        ])
        #expect(result.status != 0 && result.stderr.contains("relu1") && result.stderr.contains("TanH"), "\(result.stderr)")
    }
}

/// The CIFAR-10 nets whose layers cover every kernel a fallback replaces: cifar10_full (LRN, both
/// poolings, an inner product) and ResNet-20 (residual sums, strided convolutions, BatchNorm).
enum CIFARNets {
    static let fallbackCoverage = [
        ("models/cifar10-full-everpeace/cifar10_full_train_test.prototxt", "models/cifar10-full-everpeace/cifar10_full_iter_70000.caffemodel"),
        ("models/resnet20-cifar10/res20_cifar_train_test.prototxt", "models/resnet20-cifar10/ResNet_20.caffemodel"),
    ]
}

/// The integer engine's fallbacks on a CPU that has faster units: limited to AVX2, or to the
/// portable C and float-exact kernels, bmq counts and measures exactly what it does with every
/// unit. cifar10_full brings LRN and both poolings, ResNet-20 the residual sums and strided convolutions.
@Suite(.enabled(if: SharedData.shouldRun, "shared data not found; set BMQ_SHARED"))
struct IntegerFallbackCLITests {
    @Test(arguments: CIFARNets.fallbackCoverage)
    func fallbacksGiveTheSameIntegers(net: String, weights: String) throws {
        let directory = try SharedData.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let packed = directory.appendingPathComponent("model.bmq").path
        let convert = try CLI.run(["convert", "--net", SharedData.url(net).path, "--weights", SharedData.url(weights).path,
                                   "--mean-file", SharedData.meanFile.path, "--input-shape", "3,32,32", "--pattern", "8_1_0_0", "-o", packed])
        #expect(convert.status == 0, "\(convert.stderr)")
        func integerRun(_ units: String?) throws -> [String: Any] {
            let run = try CLI.run(["eval", packed, "--data", SharedData.cifar10Test.path, "--limit", "100", "--datapath", "integer",
                                   "--calibration", SharedData.url("data/cifar10/data_batch_1.bin").path, "--calibration-limit", "50", "--json"],
                                  environment: units.map { ["BMQ_INTEGER_UNITS": $0] } ?? [:])
            #expect(run.status == 0, "\(run.stderr)")
            var integer = try #require((try JSONSerialization.jsonObject(with: Data(run.stdout.utf8)) as? [String: Any])?["integer"] as? [String: Any])
            integer["images_per_second"] = nil
            return integer
        }
        let every = try integerRun(nil)
        #expect((every["layers"] as? [Any])?.isEmpty == false)
        for units in ["avx2", "portable"] {
            #expect(NSDictionary(dictionary: try integerRun(units)).isEqual(to: every), "\(units)")
        }
    }
}

/// The float kernels' AVX2 build on a CPU that has AVX-512 (`BMQ_VECTOR_UNIT=avx2`) counts as the
/// AVX-512 build does (the kernel tests compare the two builds' bits): cifar10_full brings LRN,
/// both poolings and the inner product, ResNet-20 Winograd with fused BatchNorm epilogues.
@Suite(.enabled(if: SharedData.shouldRun, "shared data not found; set BMQ_SHARED"))
struct FloatKernelBuildsCLITests {
    @Test(arguments: CIFARNets.fallbackCoverage)
    func bothBuildsCountAlike(net: String, weights: String) throws {
        func evaluation(_ unit: String?) throws -> [String: Any] {
            let run = try CLI.run(["eval", "--net", SharedData.url(net).path, "--weights", SharedData.url(weights).path,
                                   "--mean-file", SharedData.meanFile.path, "--data", SharedData.cifar10Test.path, "--limit", "500",
                                   "--pattern", "6_0_0", "--json"],
                                  environment: unit.map { ["BMQ_VECTOR_UNIT": $0] } ?? [:])
            #expect(run.status == 0, "\(run.stderr)")
            var json = try #require(try JSONSerialization.jsonObject(with: Data(run.stdout.utf8)) as? [String: Any])
            for key in ["images_per_second", "seconds"] { json[key] = nil }
            for key in ["float", "quantized"] {
                if var part = json[key] as? [String: Any] {
                    part["images_per_second"] = nil
                    part["seconds"] = nil
                    json[key] = part
                }
            }
            return json
        }
        let wide = try evaluation(nil)
        #expect(!wide.isEmpty)
        #expect(NSDictionary(dictionary: try evaluation("avx2")).isEqual(to: wide))
    }
}

/// A packed model quantized with BatchNorm unfolded makes the integer datapath fold it and round
/// again: eval says so. `--fold-batchnorm` quantizes the folded weights, which the datapath then
/// runs as stored (the same weights as the quantized float model, no warning).
@Suite(.enabled(if: SharedData.shouldRun, "shared data not found; set BMQ_SHARED"))
struct FoldedBatchNormCLITests {
    @Test func foldingBeforeQuantizingIsOfferedAndItsAbsenceNamed() throws {
        let directory = try SharedData.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        func convert(_ name: String, _ extra: [String]) throws -> String {
            let packed = directory.appendingPathComponent(name).path
            let convert = try CLI.run(["convert", "--net", SharedData.url("models/resnet20-cifar10/res20_cifar_train_test.prototxt").path,
                                       "--weights", SharedData.url("models/resnet20-cifar10/ResNet_20.caffemodel").path,
                                       "--mean-file", SharedData.meanFile.path, "--input-shape", "3,32,32", "--pattern", "8_1_0_0", "-o", packed] + extra)
            #expect(convert.status == 0, "\(convert.stderr)")
            return packed
        }
        func eval(_ packed: String) throws -> (warning: Bool, quantized: Int, integer: Int, layers: Int) {
            let run = try CLI.run(["eval", packed, "--data", SharedData.cifar10Test.path, "--limit", "200", "--datapath", "integer",
                                   "--calibration", SharedData.url("data/cifar10/data_batch_1.bin").path, "--calibration-limit", "50", "--json"])
            #expect(run.status == 0, "\(run.stderr)")
            let report = try #require(try JSONSerialization.jsonObject(with: Data(run.stdout.utf8)) as? [String: Any])
            let quantized = try #require(report["correct"] as? Int)  // the quantized model's float count
            let integer = try #require((report["integer"] as? [String: Any])?["correct"] as? Int)
            let inspect = try CLI.run(["inspect", packed])
            let batchNorms = inspect.stdout.split(separator: "\n").filter { $0.contains("BatchNorm") }.count
            return (run.stderr.contains("BatchNorm or Scale follows Convolution1,"), quantized, integer, batchNorms)
        }
        let unfolded = try eval(try convert("unfolded.bmq", []))
        #expect(unfolded.warning && unfolded.layers > 0)
        let folded = try eval(try convert("folded.bmq", ["--fold-batchnorm"]))
        #expect(!folded.warning && folded.layers == 0)
        // The datapath runs the stored weights: only its 8-bit activations separate it from the float model.
        #expect(abs(folded.integer - folded.quantized) <= 6, "\(folded)")
    }
}
