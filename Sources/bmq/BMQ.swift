import ArgumentParser
import BMQKit
import Foundation
import Quantization
import TensorGraph

@main
struct BMQ: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bmq",
        abstract: "Read, run, inspect and quantize Caffe CNNs for fixed-point hardware.",
        discussion: """
            Models are a Caffe net definition (.prototxt, new `layer` or legacy V1 `layers`) plus \
            weights (.caffemodel, Caffe .caffemodel.h5, Keras-style .h5), or a packed .bmq \
            deployable that carries its own network. Datasets are MNIST IDX files (raw or .gz), \
            CIFAR-10/100 binary batches, and Caffe's own sources: LMDB and LevelDB folders of Datums \
            and ImageData lists of PNG/JPEG files. Files are recognised by their content. Like caffe \
            test, a train_test prototxt given without --data reads its TEST data layer's source from \
            the working directory.

            Start with: bmq inspect NET.prototxt WEIGHTS, then bmq eval, then bmq convert -o OUT.bmq.
            """,
        subcommands: [Inspect.self, Eval.self, Quantize.self, Search.self, Convert.self, Export.self, Vectors.self, DatasetCommand.self, ReproduceThesis.self, Bench.self, BenchQuantize.self])

    /// Runs the command; a request the library refuses is a command-line mistake (exit 64),
    /// reported with the options' names.
    static func main() {
        var command: any ParsableCommand
        do {
            command = try parseAsRoot(givingBareOptionsTheirDefaults(Array(CommandLine.arguments.dropFirst())))
        } catch {
            exit(withError: error)
        }
        let interruptions = removeOutputsOnInterrupt()
        defer { interruptions.forEach { $0.cancel() } }
        let outcome = Result { try command.run() }
        waitIfInterrupted()
        do {
            try outcome.get()
        } catch let error as RequestError {
            reportMistake(error.message { $0.flag }, in: command)
        } catch let error as CommandLineMistake {
            reportMistake(error.message, in: command)
        } catch {
            exit(withError: error)
        }
    }

    /// `--compensate` may stand alone (argument-parser options always take a value): followed by
    /// nothing, by another option or by an existing file (the model), it means the best method.
    /// Any other word stays its value, so a misspelt method is refused with the known ones.
    static func givingBareOptionsTheirDefaults(_ arguments: [String]) -> [String] {
        var result: [String] = []
        for (index, argument) in arguments.enumerated() {
            result.append(argument)
            // After "--" everything is a positional argument.
            if argument == "--" { return result + arguments[(index + 1)...] }
            guard argument == "--compensate" else { continue }
            let next = index + 1 < arguments.count ? arguments[index + 1] : nil
            if next.map({ $0.hasPrefix("-") || FileManager.default.fileExists(atPath: $0) }) ?? true {
                result.append(CompensationMethod.best.rawValue)
            }
        }
        return result
    }

    /// While an interruption removes the outputs, the command's own ending (often an error from
    /// the output vanishing) waits: the process ends as the signal says, not as the command failed.
    static func waitIfInterrupted() {
        while TemporaryOutputs.isInterrupted { sleep(1) }
    }

    /// On SIGINT, SIGTERM or SIGHUP, removes the outputs still being written, then exits as the
    /// signal would (128 + its number).
    static func removeOutputsOnInterrupt() -> [any DispatchSourceSignal] {
        [SIGINT, SIGTERM, SIGHUP].map { number in
            signal(number, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: number, queue: .global())
            source.setEventHandler {
                TemporaryOutputs.removeAll()
                Foundation.exit(128 + number)
            }
            source.resume()
            return source
        }
    }

    static func reportMistake(_ message: String, in command: any ParsableCommand) -> Never {
        let name = type(of: command).configuration.commandName ?? type(of: command)._commandName
        FileHandle.standardError.write(Data("Error: \(message)\nSee 'bmq \(name) --help'.\n".utf8))
        Foundation.exit(ExitCode.validationFailure.rawValue)
    }
}
