import Foundation
import Quantization
import Testing
import TestSupport

/// `bmq search` on the bundled LeNet and its bundled calibration images: runs on a fresh clone.
@Suite(.serialized) struct SearchCLITests {
    let net = CLI.example("lenet_train_test.prototxt"), weights = CLI.example("lenet_iter_10000.caffemodel")
    let calibration = CLI.example("train-5k-images-idx3-ubyte.gz"), data = CLI.example("t10k-images-idx3-ubyte.gz")

    @Test func searchWritesAPlanThatEvalReproducesAndAReportPage() throws {
        let directory = try SharedData.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let plan = directory.appendingPathComponent("plan.json").path, report = directory.appendingPathComponent("report").path
        let result = try CLI.run([
            "search", "--net", net, "--weights", weights, "--calibration", calibration, "--calibration-limit", "500",
            "--data", data, "--limit", "1000", "--bits", "3", "--layers", "conv", "--shortlist", "3", "-o", plan, "--report", report, "--json",
        ])
        #expect(result.status == 0, "\(result.stderr)")
        let json = try #require(try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any])
        let rows = try #require(json["comparison"] as? [[String: Any]])
        #expect(rows.map { $0["name"] as? String } == ["float", "plain", "pow2", "best", "max-abs", "mse", "per-channel"])
        let best = try #require(rows.first { $0["name"] as? String == "best" })
        let bestCorrect = try #require((best["test"] as? [String: Any])?["correct"] as? Int)
        #expect((json["calibration"] as? [String: Any])?["images"] as? Int == 500)

        let eval = try CLI.run(["eval", "--net", net, "--weights", weights, "--data", data, "--limit", "1000", "--plan", plan, "--json"])
        #expect(eval.status == 0, "\(eval.stderr)")
        let evalJSON = try #require(try JSONSerialization.jsonObject(with: Data(eval.stdout.utf8)) as? [String: Any])
        #expect(evalJSON["correct"] as? Int == bestCorrect)

        let page = try String(contentsOfFile: report + "/index.html", encoding: .utf8)
        #expect(page.contains("<svg") && page.contains("conv2") && page.contains("Final table"))
    }

    @Test func compensatedWeightsSurviveThePackedFile() throws {
        let directory = try SharedData.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let packed = directory.appendingPathComponent("searched.bmq").path
        let result = try CLI.run([
            "search", "--net", net, "--weights", weights, "--calibration", calibration, "--calibration-limit", "500",
            "--data", data, "--limit", "1000", "--bits", "3", "--shortlist", "3", "--compensate", "--compensation-images", "64", "--learning-steps", "50",
            "--no-compare", "--save-weights", packed, "--json",
        ])
        #expect(result.status == 0, "\(result.stderr)")
        let json = try #require(try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any])
        #expect(json["compensated"] as? Bool == true)
        // A bare --compensate is the best method, and the plan records it.
        let plan = try #require(json["plan"] as? [String: Any])
        #expect((plan["compensation"] as? [String: Any])?["method"] as? String == CompensationMethod.best.rawValue)
        #expect((plan["compensation"] as? [String: Any])?["images"] as? Int == 64)
        let best = try #require((json["comparison"] as? [[String: Any]])?.first { $0["name"] as? String == "best" })
        let bestCorrect = try #require((best["test"] as? [String: Any])?["correct"] as? Int)
        // Straight from the packed file: the weights the search scored, stored bit for bit.
        let eval = try CLI.run(["eval", packed, "--data", data, "--limit", "1000", "--json"])
        #expect(eval.status == 0, "\(eval.stderr)")
        let evalJSON = try #require(try JSONSerialization.jsonObject(with: Data(eval.stdout.utf8)) as? [String: Any])
        #expect(evalJSON["correct"] as? Int == bestCorrect)
    }

    @Test func badSearchRequestsNameWhatIsWrong() throws {
        let common = ["search", "--net", net, "--weights", weights, "--calibration", calibration, "--calibration-limit", "100"]
        let cases: [([String], String)] = [
            (["--bits", "1"], "bit width '1'"),
            (["--bits", "conv9=3"], "conv9"),
            (["--bits", "3", "--max-width", "2"], "--max-width"),
            (["--bits", "3", "--layers", "relu1"], "relu1"),
            ([], "--average-bits"),
            (["--bits", "3", "--average-bits", "3"], "give one of"),
            (["--average-bits", "3", "--budget", "adders=5k"], "give one of"),
            (["--budget", "luts=5"], "--budget: budget 'luts=5'"),
            (["--budget", "bits=100"], "--budget bits=100 comes to"),
            (["--average-bits", "1.5"], "--average-bits 1.5"),
            (["--bits", "3", "--save-weights", "model.tflite"], "cannot tell the output format"),
            // A misspelt method is refused with the known ones, not taken for a bare --compensate.
            (["--bits", "3", "--compensate", "gtpq"], "'gptq'"),
        ]
        for (arguments, message) in cases {
            let result = try CLI.run(common + arguments)
            #expect(result.status != 0, "\(arguments)")
            #expect(result.stderr.contains(message), "\(arguments): \(result.stderr)")
        }
        let missing = try CLI.run(["search", "--net", net, "--weights", weights, "--calibration", "/nonexistent/train", "--bits", "3"])
        #expect(missing.status != 0 && missing.stderr.contains("/nonexistent/train"))

        // Colour images for a net fed by a Data layer: the weights do not fit, and the data is named as the likely cause.
        let directory = try SharedData.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let cifar = directory.appendingPathComponent("batch.bin")
        try Data((0..<10).flatMap { label in [UInt8(label)] + [UInt8](repeating: 128, count: 3072) }).write(to: cifar)
        let colour = try CLI.run(["search", "--net", net, "--weights", weights, "--calibration", cifar.path, "--bits", "3"])
        #expect(colour.status != 0 && colour.stderr.contains("taken from the data"), "\(colour.stderr)")
    }
}
