import Foundation
import Testing
import TestSupport

/// The generated C reference against bmq's own test vectors on the shared models: every value of
/// every layer must agree (`formats/datapath/SPEC.md`, sections 1-12).
@Suite(.serialized, .enabled(if: SharedData.shouldRun, "needs ../shared"))
struct CReferenceTests {
    struct Model: Sendable, CustomStringConvertible {
        var name: String
        var net: String
        var weights: String
        var mean: Bool
        var data: String
        var calibration: String
        var images: Int
        var description: String { name }
    }

    static let models = [
        Model(name: "LeNet", net: "models/lenet-caffe/lenet_train_test.prototxt", weights: "models/lenet-caffe/lenet_iter_10000.caffemodel",
              mean: false, data: "data/mnist/t10k-images-idx3-ubyte", calibration: "data/mnist/train-images-idx3-ubyte", images: 300),
        Model(name: "cifar10_quick", net: "models/cifar10-quick-everpeace/cifar10_quick_train_test.prototxt",
              weights: "models/cifar10-quick-everpeace/cifar10_quick_iter_5000.caffemodel", mean: true, data: "data/cifar10/test_batch.bin",
              calibration: "data/cifar10/data_batch_1.bin", images: 200),
        Model(name: "cifar10_full", net: "models/cifar10-full-everpeace/cifar10_full_train_test.prototxt",
              weights: "models/cifar10-full-everpeace/cifar10_full_iter_70000.caffemodel", mean: true, data: "data/cifar10/test_batch.bin",
              calibration: "data/cifar10/data_batch_1.bin", images: 100),
        Model(name: "ResNet-20", net: "models/resnet20-cifar10/res20_cifar_train_test.prototxt",
              weights: "models/resnet20-cifar10/ResNet_20.caffemodel", mean: true, data: "data/cifar10/test_batch.bin",
              calibration: "data/cifar10/data_batch_1.bin", images: 100),
    ]

    static var compiler: String? {
        ["/usr/bin/cc", "/usr/bin/gcc", "/usr/bin/clang"].first { FileManager.default.isExecutableFile(atPath: $0) }
    }

    @Test(arguments: models)
    func cReferenceAgreesOnEveryLayer(_ model: Model) throws {
        let compiler = try #require(Self.compiler, "no C compiler (cc) on this machine")
        let directory = try SharedData.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let plan = directory.appendingPathComponent("plan.json").path, packed = directory.appendingPathComponent("model.bmq").path
        let source = [
            "--net", SharedData.url(model.net).path, "--weights", SharedData.url(model.weights).path,
        ] + (model.mean ? ["--mean-file", SharedData.meanFile.path] : [])
        let chosen = try CLI.run(["eval"] + source + [
            "--data", SharedData.url(model.data).path, "--limit", "10", "--pattern", "8_0_0", "--datapath", "integer",
            "--calibration", SharedData.url(model.calibration).path, "--calibration-limit", "200", "--save-plan", plan,
        ])
        #expect(chosen.status == 0, "\(chosen.stderr)")
        let convert = try CLI.run(["convert"] + source + ["--plan", plan, "--input-shape", model.mean ? "3,32,32" : "1,28,28", "-o", packed])
        #expect(convert.status == 0, "\(convert.stderr)")
        let vectors = directory.appendingPathComponent("vectors").path
        let written = try CLI.run(["vectors", packed, "--data", SharedData.url(model.data).path, "--count", String(model.images), "-o", vectors])
        #expect(written.status == 0, "\(written.stderr)")
        let reference = directory.appendingPathComponent("c").path
        let export = try CLI.run(["export", packed, "--to", "c-reference", "-o", reference])
        #expect(export.status == 0, "\(export.stderr)")

        let build = try CLI.runProgram(compiler, ["-std=c99", "-O1", "-Wall", "-Werror", "-o", reference + "/bmq_ref", reference + "/bmq_ref.c"])
        #expect(build.status == 0, "\(build.stderr)")
        let checked = try CLI.runProgram(reference + "/bmq_ref", [vectors])
        #expect(checked.status == 0 && checked.stdout.contains("\(model.images) images, 0 mismatches"), "\(checked.stdout)\(checked.stderr)")

        // A changed value in the first layer's file is caught, naming its file and line.
        let manifest = try #require(try JSONSerialization.jsonObject(
            with: Data(contentsOf: URL(fileURLWithPath: vectors).appendingPathComponent("manifest.json"))) as? [String: Any])
        let layer = try #require((manifest["values"] as? [[String: Any]])?[1]["file"] as? String)
        let url = URL(fileURLWithPath: vectors).appendingPathComponent(layer)
        var lines = try String(contentsOf: url, encoding: .utf8).components(separatedBy: "\n")
        lines[2] = lines[2].allSatisfy { $0 == "0" } ? String(lines[2].dropLast()) + "1" : String(repeating: "0", count: lines[2].count)
        try lines.joined(separator: "\n").write(to: url, atomically: true, encoding: .utf8)
        let changed = try CLI.runProgram(reference + "/bmq_ref", [vectors])
        #expect(changed.status == 1 && changed.stdout.contains("\(layer):3") && changed.stdout.contains("1 mismatches"), "\(changed.stdout)")
    }
}
