import Foundation
import Testing
@testable import TensorGraph

@Suite struct JSONSyntaxTests {
    @Test func pointsAtTheFirstMistake() {
        let cases: [(String, Int, Int, String)] = [
            ("{\n  \"a\": [1, 2,\n  ]\n}", 3, 3, "expected a value"),
            ("{\"a\" 1}", 1, 6, "expected ':' after the key"),
            ("[1, 2", 1, 6, "expected ',' or ']'"),
            ("{\"a\": \"b}", 1, 10, "unterminated string"),
            ("{} x", 1, 4, "unexpected text after the JSON value"),
        ]
        for (text, line, column, message) in cases {
            let error = JSONSyntax.firstError(in: Data(text.utf8))
            #expect(error?.line == line && error?.column == column && error?.message == message, "\(text): \(String(describing: error))")
        }
        #expect(JSONSyntax.firstError(in: Data(#"{"a": [1, -2.5e3, true, null, {"b": "c\"d"}]}"#.utf8)) == nil)
    }

    /// Against Foundation's parser: every one-byte change of a plan-like document is valid for
    /// both or for neither.
    @Test func agreesWithFoundationOnEveryOneByteChange() throws {
        let document = Data(#"{"entries": [{"layer": "conv1", "weights": {"pattern": "5_2_0_1_0"}, "bits": [1, 2.5]}], "x": null}"#.utf8)
        var disagreements: [String] = []
        for index in document.indices {
            for replacement in Array("{}[],:\" x1-.e".utf8) {
                var changed = document
                changed[index] = replacement
                let foundation = (try? JSONSerialization.jsonObject(with: changed, options: [.fragmentsAllowed])) != nil
                let ours = JSONSyntax.firstError(in: changed) == nil
                if foundation != ours { disagreements.append(String(decoding: changed, as: UTF8.self)) }
            }
        }
        #expect(disagreements.isEmpty, "\(disagreements.prefix(5))")
    }
}
