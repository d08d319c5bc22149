import CaffeFormat
import FuzzSupport

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzCaffemodel(_ start: UnsafeRawPointer, _ count: Int) -> CInt {
    FuzzInput.withFile(start, count, named: "model.caffemodel") { url in
        let (weights, topology) = try CaffeFormat().readRecordedModel(from: url)
        _ = weights.layers.count
        if case .success(let graph) = topology { FuzzInput.checkShapes(graph) }
    }
    return 0
}
