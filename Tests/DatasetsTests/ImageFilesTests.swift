import Foundation
import TensorGraph
import Testing
import TestSupport
@testable import Datasets

/// Image reading against OpenCV, the library Caffe's data layers read images with: the fixtures
/// and what OpenCV decodes them to were made by scripts/make-image-fixtures.
@Suite struct ImageFilesTests {
    static let folder = SharedData.packageRoot.appendingPathComponent("Tests/Fixtures/images")

    struct Expected: Decodable {
        struct Image: Decodable {
            var shape: [Int]
            var pixels: [Int]
        }
        var decoded: [String: Image]
        var resized: [String: Image]
    }

    static let expected: Expected = {
        let data = try! Data(contentsOf: folder.appendingPathComponent("expected.json"))
        return try! JSONDecoder().decode(Expected.self, from: data)
    }()

    static let modes: [(String, ImageColorMode)] = [("asStored", .asStored), ("color", .color), ("gray", .gray)]

    @Test(arguments: ["color.png", "alpha.png", "gray.png", "photo.jpg", "gray.jpg"])
    func decodesAsOpenCVDoes(file: String) throws {
        for (name, mode) in Self.modes {
            let image = try ImageFiles.read(Self.folder.appendingPathComponent(file), mode: mode)
            let opencv = try #require(Self.expected.decoded["\(file) \(name)"])
            #expect(image.shape.dims == opencv.shape, "\(file) \(name)")
            #expect(image.pixels.map(Int.init) == opencv.pixels, "\(file) \(name)")
        }
    }

    @Test func resizesWithinOneLevelOfOpenCV() throws {
        var exact = 0, total = 0
        for (key, opencv) in Self.expected.resized {
            let parts = key.split(separator: " ")
            let size = parts[1].split(separator: "x").map { Int($0)! }
            let image = try ImageFiles.read(Self.folder.appendingPathComponent(String(parts[0])), mode: .asStored)
            let resized = ImageFiles.resized(image, height: size[0], width: size[1])
            #expect(resized.shape.dims == opencv.shape, "\(key)")
            let differences = zip(resized.pixels, opencv.pixels).map { abs(Int($0) - $1) }
            #expect(differences.allSatisfy { $0 <= 1 }, "\(key): largest difference \(differences.max() ?? 0)")
            exact += differences.filter { $0 == 0 }.count
            total += differences.count
        }
        // Most values are exact; OpenCV rounds some one level differently.
        #expect(total > 0 && Double(exact) / Double(total) > 0.95, "\(exact) of \(total) equal")
    }

    @Test func pngRoundTripKeepsChannelsAndValues() throws {
        for shape in [Shape([3, 4, 5]), Shape([1, 3, 2])] {
            let image = DecodedImage(shape: shape, pixels: (0..<shape.count).map { UInt8(($0 * 37) % 256) })
            let png = try ImageFiles.encodePNG(image, file: "memory")
            let back = try png.withUnsafeBytes { try ImageFiles.decode($0, mode: .asStored, file: "memory") }
            #expect(back == image)
        }
    }

    @Test func brokenImagesAreNamedErrors() throws {
        let file = Self.folder.appendingPathComponent("photo.jpg")
        let truncated = try Data(contentsOf: file).prefix(100)
        #expect(throws: FormatError.self) { try truncated.withUnsafeBytes { try ImageFiles.decode($0, mode: .color, file: "cut.jpg") } }
        let text = Data("not an image".utf8)
        let error = try #require(throws: FormatError.self) { try text.withUnsafeBytes { try ImageFiles.decode($0, mode: .color, file: "x.png") } }
        #expect(error.description.contains("x.png") && error.description.contains("neither a PNG nor a JPEG"))
        let png = try Data(contentsOf: Self.folder.appendingPathComponent("color.png"))
        var corrupt = png
        corrupt[corrupt.count - 20] ^= 0xFF
        #expect(throws: FormatError.self) { try corrupt.withUnsafeBytes { try ImageFiles.decode($0, mode: .color, file: "bad.png") } }
    }
}
