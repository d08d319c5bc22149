import ArgumentParser
import BMQKit
import Foundation

struct Inspect: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Show a model's layers, shapes and weight statistics.")
    func run() throws {}
}
