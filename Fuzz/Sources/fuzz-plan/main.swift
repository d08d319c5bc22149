import Foundation
import FuzzSupport
import Quantization
import TensorGraph

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzPlan(_ start: UnsafeRawPointer, _ count: Int) -> CInt {
    FuzzInput.withFile(start, count, named: "plan.json") { url in
        _ = JSONSyntax.firstError(in: Data(bytes: start, count: count))
        let plan = try QuantizationPlan.read(from: url)
        _ = plan.entries.count
    }
    return 0
}
