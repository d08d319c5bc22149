import Foundation
import PackedFormat
import Testing
import TestSupport

@Suite(.serialized) struct PackedCLITests {
    let net = CLI.example("lenet_train_test.prototxt"), weights = CLI.example("lenet_iter_10000.caffemodel")
    let data = CLI.example("t10k-images-idx3-ubyte.gz"), plan = CLI.example("plan-3bit.json")

    func packed(in directory: URL) throws -> URL {
        let output = directory.appendingPathComponent("lenet.bmq")
        let result = try CLI.run(["convert", "--net", net, "--weights", weights, "--plan", plan, "--input-shape", "1,28,28", "-o", output.path])
        try #require(result.status == 0, "\(result.stderr)")
        return output
    }

    @Test func packedEvalEqualsThePlanOnTheOriginal() throws {
        let directory = try SharedData.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let model = try packed(in: directory)
        func correct(_ arguments: [String]) throws -> Int? {
            let result = try CLI.run(arguments + ["--data", data, "--json"])
            let json = try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any]
            return json?["correct"] as? Int
        }
        let fromPlan = try correct(["eval", "--net", net, "--weights", weights, "--plan", plan])
        let fromPacked = try correct(["eval", model.path])
        #expect(fromPlan != nil && fromPlan == fromPacked)

        // Size: 3 stored bits per weight, within 2% of the bit minimum plus float32 biases and a small header.
        let size = try #require(try FileManager.default.attributesOfItem(atPath: model.path)[.size] as? Int)
        let minimum = (430_500 * 3 + 7) / 8, biases = 580 * 4
        #expect(size <= Int(Double(minimum) * 1.02) + biases + 4096, "\(size) bytes")
        let inspect = try CLI.run(["inspect", model.path, "--verify"])
        #expect(inspect.status == 0 && inspect.stdout.contains("verified: every CRC matches"))
    }

    @Test func cHeaderCompilesAndDecodesLikeTheTool() throws {
        let directory = try SharedData.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let model = try packed(in: directory)
        let export = try CLI.run(["export", model.path, "--to", "c", "-o", directory.path])
        try #require(export.status == 0, "\(export.stderr)")
        let header = directory.appendingPathComponent("LeNet.h")
        let program = directory.appendingPathComponent("decode.c")
        try Data("""
            #include <stdio.h>
            #include <math.h>
            #include "LeNet.h"
            /* Decodes conv2's weights from the header alone, as a hardware engineer's code would. */
            int main(void) {
                const unsigned k = LENET_CONV2_WEIGHTS_BITS, count = LENET_CONV2_WEIGHTS_COUNT;
                for (unsigned i = 0; i < count; i++) {
                    unsigned bit = i * k, index = bit / 32;
                    unsigned long long pair = LENET_CONV2_WEIGHTS_DATA[index];
                    if (index + 1 < LENET_CONV2_WEIGHTS_WORDS) pair |= (unsigned long long)LENET_CONV2_WEIGHTS_DATA[index + 1] << 32;
                    unsigned word = (unsigned)(pair >> (bit % 32)) & ((1u << k) - 1);
                    double magnitude = 0;
                    for (unsigned b = 0; b < k - 1; b++)
                        if (word & (1u << (k - 2 - b))) magnitude += ldexp(1.0, -(LENET_CONV2_WEIGHTS_POSITIONS[b] + LENET_CONV2_WEIGHTS_SHIFT));
                    printf("%.9g\\n", (word >> (k - 1)) ? -magnitude : magnitude);
                }
                return 0;
            }
            """.utf8).write(to: program)
        func run(_ tool: String, _ arguments: [String]) throws -> (Int32, String) {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            process.arguments = [tool] + arguments
            process.currentDirectoryURL = directory
            let pipe = Pipe()
            process.standardOutput = pipe
            process.standardError = pipe
            try process.run()
            let output = pipe.fileHandleForReading.readDataToEndOfFile()
            process.waitUntilExit()
            return (process.terminationStatus, String(decoding: output, as: UTF8.self))
        }
        let compile = try run("cc", ["-c", "-Wall", "-Werror", "-x", "c", header.path, "-o", directory.appendingPathComponent("h.o").path])
        #expect(compile.0 == 0, "\(compile.1)")
        let build = try run("cc", ["-Wall", "-Werror", "-o", "decode", program.path, "-lm"])
        try #require(build.0 == 0, "\(build.1)")
        let decoded = try run(directory.appendingPathComponent("decode").path, [])
        let cValues = decoded.1.split(separator: "\n").compactMap { Float(String($0)) }
        let tool = try PackedFormat().read(from: model).tensors.first { $0.name == "conv2/weights" }
        #expect(cValues == tool?.values.data)
        #expect(cValues.count == 25_000)
    }

    @Test func otherExportsAndBadFiles() throws {
        let directory = try SharedData.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let model = try packed(in: directory)
        #expect(try CLI.run(["export", model.path, "--to", "hex", "-o", directory.path]).status == 0)
        let hex = try String(contentsOf: directory.appendingPathComponent("conv1_weights.hex"), encoding: .utf8)
        #expect(hex.split(separator: "\n").count == 501)  // a comment and 500 values
        #expect(try CLI.run(["export", model.path, "--to", "coe", "-o", directory.path]).status == 0)
        let coe = try String(contentsOf: directory.appendingPathComponent("ip2_weights.coe"), encoding: .utf8)
        #expect(coe.contains("memory_initialization_radix=16;") && coe.hasSuffix(";\n"))

        var bytes = try Data(contentsOf: model)
        bytes[bytes.count / 2] ^= 0x10
        let corrupt = directory.appendingPathComponent("corrupt.bmq")
        try bytes.write(to: corrupt)
        let result = try CLI.run(["eval", corrupt.path, "--data", data])
        #expect(result.status != 0 && result.stderr.contains("CRC mismatch") && result.stderr.contains("section"))
        let overwrite = try CLI.run(["convert", "--net", net, "--weights", weights, "-o", weights])
        #expect(overwrite.status != 0 && overwrite.stderr.contains("is an input"))
    }
}
