import FuzzSupport
import PackedFormat

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzPacked(_ start: UnsafeRawPointer, _ count: Int) -> CInt {
    FuzzInput.withFile(start, count, named: "model.bmq") { url in
        let (graph, _, _) = try PackedFormat().readQuantizedModel(from: url)
        FuzzInput.checkShapes(graph)
    }
    return 0
}
