// swift-tools-version:6.0
import PackageDescription

// The register kernels are built for AVX2 + FMA on x86-64 (every x86-64 server since 2013); the
// engine checks the CPU at run time and falls back to OpenBLAS without them. AArch64 has FMA in
// its base instruction set.
// SIMDKernelsAVX512 is the same source (symbolic links) built for AVX-512, with vectors of sixteen
// floats in one register; SIMDKernels hands a kernel to it when the engine asks for `wide` kernels
// (the CPU has AVX-512 F, BW, VL and DQ).
#if arch(x86_64)
let vectorUnitFlags: [SwiftSetting] = [.unsafeFlags(["-Xcc", "-mavx2", "-Xcc", "-mfma"])]
let wideVectorUnitFlags: [SwiftSetting] = [
    .define("AVX512_TWIN"),
    .unsafeFlags(["-Xcc", "-mavx2", "-Xcc", "-mfma",
                  "-Xcc", "-mavx512f", "-Xcc", "-mavx512bw", "-Xcc", "-mavx512vl", "-Xcc", "-mavx512dq"]),
]
#else
let vectorUnitFlags: [SwiftSetting] = []
let wideVectorUnitFlags: [SwiftSetting] = [.define("AVX512_TWIN")]
#endif

let package = Package(
    name: "bmq",
    platforms: [.macOS(.v13)],
    products: [
        .executable(name: "bmq", targets: ["bmq"]),
        .library(name: "BMQKit", targets: ["BMQKit"]),
        // The format readers on their own, for the fuzz targets in Fuzz/.
        .library(name: "BMQReaders", targets: ["TensorGraph", "CaffeFormat", "PackedFormat", "ONNXFormat", "Quantization", "Datasets"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-protobuf", from: "1.39.0"),
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/swiftlang/swift-docc-plugin", from: "1.5.0"),
    ],
    targets: [
        // System libraries: one C module per library, each imported by exactly one Swift module.
        .systemLibrary(
            name: "COpenBLAS", pkgConfig: "openblas",
            providers: [.apt(["libopenblas-dev"])]),
        .systemLibrary(
            name: "CHDF5", pkgConfig: "hdf5",
            providers: [.apt(["libhdf5-dev"])]),
        .systemLibrary(
            name: "CZlib", pkgConfig: "zlib",
            providers: [.apt(["zlib1g-dev"])]),
        .systemLibrary(
            name: "CLMDB", pkgConfig: "lmdb",
            providers: [.apt(["liblmdb-dev"])]),
        .systemLibrary(name: "CLevelDB", providers: [.apt(["libleveldb-dev"])]),
        // PNG and JPEG through libpng and libjpeg-turbo, in C because libjpeg reports errors by longjmp.
        .target(
            name: "CImageCodecs",
            linkerSettings: [.linkedLibrary("png16"), .linkedLibrary("jpeg")]),

        // The integer datapath's kernels: byte dot products (AVX-512 VNNI, AVX2), requantization and
        // pooling, in C for the intrinsics; each compiled for its instructions by a target attribute
        // and chosen at run time.
        .target(name: "CIntegerKernels"),
        .target(name: "CProcessor"),
        .target(name: "CVectorMath"),

        .target(name: "TensorGraph"),
        .target(
            name: "CaffeFormat",
            dependencies: ["TensorGraph", .product(name: "SwiftProtobuf", package: "swift-protobuf")]),
        .target(name: "HDF5Format", dependencies: ["TensorGraph", "CHDF5"]),
        .target(
            name: "ONNXFormat",
            dependencies: ["TensorGraph", .product(name: "SwiftProtobuf", package: "swift-protobuf")]),
        .target(name: "SIMDKernels", dependencies: ["SIMDKernelsAVX512", "CVectorMath"], swiftSettings: vectorUnitFlags),
        .target(name: "SIMDKernelsAVX512", dependencies: ["CVectorMath"], swiftSettings: wideVectorUnitFlags),
        .target(name: "Inference", dependencies: ["TensorGraph", "COpenBLAS", "SIMDKernels", "CProcessor"]),
        .target(name: "BitPacking"),
        .target(name: "Quantization", dependencies: ["TensorGraph"]),
        .target(name: "PackedFormat", dependencies: ["TensorGraph", "BitPacking", "Quantization"]),
        .target(name: "IntegerDatapath", dependencies: ["TensorGraph", "Quantization", "Inference", "CIntegerKernels"]),
        .target(
            name: "Datasets",
            dependencies: ["TensorGraph", "CZlib", "CLMDB", "CLevelDB", "CImageCodecs",
                           .product(name: "SwiftProtobuf", package: "swift-protobuf")]),
        .target(
            name: "BMQKit",
            dependencies: ["TensorGraph", "CaffeFormat", "HDF5Format", "ONNXFormat", "PackedFormat", "BitPacking", "Inference", "IntegerDatapath", "Datasets",
                           "Quantization"]),
        .executableTarget(
            name: "bmq",
            dependencies: ["BMQKit", "Datasets", "Quantization", "TensorGraph", .product(name: "ArgumentParser", package: "swift-argument-parser")]),

        .target(name: "TestSupport", dependencies: ["TensorGraph"], path: "Tests/TestSupport"),
        .testTarget(name: "TensorGraphTests", dependencies: ["TensorGraph"]),
        .testTarget(name: "BitPackingTests", dependencies: ["BitPacking"]),
        .testTarget(name: "SIMDKernelsTests", dependencies: ["SIMDKernels", "Inference", "TensorGraph", "TestSupport"]),
        .testTarget(name: "CaffeFormatTests", dependencies: ["CaffeFormat", "TensorGraph", "TestSupport"]),
        .testTarget(name: "ONNXFormatTests", dependencies: ["ONNXFormat", "Inference", "TensorGraph", "TestSupport"]),
        .testTarget(name: "HDF5FormatTests", dependencies: ["HDF5Format", "CaffeFormat", "TensorGraph", "TestSupport"]),
        .testTarget(name: "QuantizationTests", dependencies: ["Quantization", "TensorGraph", "TestSupport"]),
        .testTarget(name: "PackedFormatTests", dependencies: ["PackedFormat", "BitPacking", "Quantization", "TensorGraph", "TestSupport"]),
        .testTarget(name: "IntegerDatapathTests", dependencies: ["IntegerDatapath", "Quantization", "TensorGraph", "TestSupport"]),
        .testTarget(name: "InferenceTests", dependencies: ["Inference", "SIMDKernels", "TensorGraph", "TestSupport"]),
        .testTarget(name: "DatasetsTests", dependencies: ["Datasets", "TensorGraph", "TestSupport"]),
        .testTarget(
            name: "BMQKitTests",
            dependencies: ["BMQKit", "CaffeFormat", "Datasets", "HDF5Format", "Inference", "IntegerDatapath", "ONNXFormat", "PackedFormat", "Quantization",
                           "TensorGraph", "TestSupport"]),
        .testTarget(name: "bmqCLITests", dependencies: ["PackedFormat", "Quantization", "TestSupport"]),
    ],
    swiftLanguageModes: [.v6]
)
