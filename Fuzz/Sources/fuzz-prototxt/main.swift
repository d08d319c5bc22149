import CaffeFormat
import FuzzSupport

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzPrototxt(_ start: UnsafeRawPointer, _ count: Int) -> CInt {
    FuzzInput.withFile(start, count, named: "net.prototxt") { url in
        let graph = try CaffeFormat().readNet(from: url)
        FuzzInput.checkShapes(graph)
        _ = CaffeFormat().line(ofLayer: graph.nodes.first?.name ?? "", in: url)
    }
    return 0
}
