import FuzzSupport
import ONNXFormat

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzONNX(_ start: UnsafeRawPointer, _ count: Int) -> CInt {
    FuzzInput.withFile(start, count, named: "model.onnx") { url in
        FuzzInput.checkShapes(try ONNXFormat().readModel(from: url))
    }
    return 0
}
