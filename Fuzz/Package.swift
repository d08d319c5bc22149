// swift-tools-version:6.0
// libFuzzer targets for bmq's readers. Built only by scripts/fuzz (swift build --sanitize=fuzzer
// --sanitize=address), never by the main package: each executable's main is libFuzzer's.
import PackageDescription

let targets = ["fuzz-caffemodel", "fuzz-prototxt", "fuzz-packed", "fuzz-plan", "fuzz-dataset", "fuzz-onnx"]

let package = Package(
    name: "bmq-fuzz",
    dependencies: [.package(name: "bmq", path: "..")],
    targets: [
        .target(name: "FuzzSupport", dependencies: [.product(name: "BMQReaders", package: "bmq")]),
    ] + targets.map { name in
        .executableTarget(name: name, dependencies: ["FuzzSupport", .product(name: "BMQReaders", package: "bmq")], path: "Sources/\(name)")
    },
    swiftLanguageModes: [.v6]
)
