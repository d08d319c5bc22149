import Foundation
import TensorGraph
import Testing
import TestSupport
@testable import Datasets

@Suite struct CaffeDataSourceTests {
    /// Three 3x4x5 byte images with labels 0, 7, 2.
    static let images = Dataset(format: .cifar10, imageShape: [3, 4, 5], pixels: .bytes((0..<180).map { UInt8(($0 * 29 + 3) % 256) }),
                                labels: [0, 7, 2], classCount: 10, source: "memory")

    /// A Datum as Caffe's wire format spells it, byte by byte: channels (field 1), height (2),
    /// width (3) as varints, data (4) length-delimited, label (5) varint.
    static func handEncodedDatum(channels: UInt8, height: UInt8, width: UInt8, pixels: [UInt8], label: UInt8) -> Data {
        Data([0x08, channels, 0x10, height, 0x18, width, 0x22, UInt8(pixels.count)] + pixels + [0x28, label])
    }

    @Test func datumsAreCaffesWireFormat() throws {
        let folder = try SharedData.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: folder) }
        let one = Dataset(format: .mnist, imageShape: [1, 2, 3], pixels: .bytes([9, 8, 7, 6, 5, 4]), labels: [3], classCount: 10, source: "m")
        let expected = Self.handEncodedDatum(channels: 1, height: 2, width: 3, pixels: [9, 8, 7, 6, 5, 4], label: 3)
        #expect(try DatasetWriter.datum(one, 0, encoding: .raw, file: "m") == expected)
        // A database holding hand-made records reads back as the images they spell.
        let database = folder.appendingPathComponent("hand_lmdb")
        try FileManager.default.createDirectory(at: database, withIntermediateDirectories: true)
        try KeyValueStore.writeLMDB(database, count: 2) { index in
            Self.handEncodedDatum(channels: 1, height: 2, width: 3, pixels: (0..<6).map { UInt8(index * 10 + $0) }, label: UInt8(index + 4))
        }
        let read = try CaffeDataSources.readDatabase(database, backend: .lmdb)
        #expect(read.imageShape == [1, 2, 3] && read.labels == [4, 5])
        #expect(read.pixels == .bytes([0, 1, 2, 3, 4, 5, 10, 11, 12, 13, 14, 15]))
        #expect(KeyValueStore.key(7) == "00000007" && KeyValueStore.key(123_456_789) == "123456789")
    }

    @Test(arguments: [DatasetFormat.lmdb, .leveldb])
    func databasesRoundTripRawAndPNG(format: DatasetFormat) throws {
        let folder = try SharedData.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: folder) }
        for encoding in DatasetWriter.Encoding.allCases {
            let url = folder.appendingPathComponent("\(encoding.rawValue)_db")
            try DatasetWriter.write(Self.images, as: format, to: url, encoding: encoding)
            // The folder alone tells its kind.
            let read = try DatasetReader.read(url)
            #expect(read.format == format)
            #expect(read.imageShape == Self.images.imageShape && read.pixels == Self.images.pixels && read.labels == Self.images.labels)
        }
        let floats = Dataset(format: .mnist, imageShape: [1, 2, 2], pixels: .floats([0.5, -1, 3.25, 8, 1, 2, 3, 4]), labels: [1, 0],
                             classCount: 2, source: "f")
        let url = folder.appendingPathComponent("float_db")
        try DatasetWriter.write(floats, as: format, to: url)
        let read = try DatasetReader.read(url, format: format)
        #expect(read.pixels == floats.pixels && read.labels == [1, 0])
        #expect(read.batch(1..<2, preprocessing: Preprocessing(scale: 2, meanValues: [1])).data == [0, 2, 4, 6])
    }

    /// A JPEG-encoded Datum (convert_imageset --encoded) decodes as OpenCV decodes the file,
    /// in colour or gray as the transform's force_color / force_gray say.
    @Test func jpegEncodedDatumsDecodeAsOpenCV() throws {
        let folder = try SharedData.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: folder) }
        let jpeg = [UInt8](try Data(contentsOf: ImageFilesTests.folder.appendingPathComponent("photo.jpg")))
        var datum = Data([0x22]) + Data(varint(jpeg.count)) + Data(jpeg)
        datum += Data([0x28, 0x05, 0x38, 0x01])  // label 5, encoded true
        let database = folder.appendingPathComponent("jpeg_leveldb")
        try KeyValueStore.writeLevelDB(database, count: 1) { _ in datum }
        for (mode, key) in [(ImageColorMode.asStored, "asStored"), (.gray, "gray")] {
            let read = try CaffeDataSources.readDatabase(database, backend: .leveldb, encodedImages: mode)
            let opencv = try #require(ImageFilesTests.expected.decoded["photo.jpg \(key)"])
            #expect(read.imageShape.dims == opencv.shape && read.labels == [5])
            #expect(read.pixels == .bytes(opencv.pixels.map { UInt8($0) }))
        }
        let description = DataSourceDescription(layer: "data", source: "jpeg_leveldb", kind: .database(.leveldb), forceGray: true)
        #expect(try CaffeDataSources.read(description, workingDirectory: folder).imageShape == [1, 14, 20])
    }

    func varint(_ value: Int) -> [UInt8] {
        var bytes: [UInt8] = [], rest = value
        repeat {
            bytes.append(UInt8(rest & 0x7F) | (rest >= 0x80 ? 0x80 : 0))
            rest >>= 7
        } while rest > 0
        return bytes
    }

    @Test func imageListsRoundTripAndResolvePaths() throws {
        let folder = try SharedData.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: folder) }
        let url = folder.appendingPathComponent("pngs")
        try DatasetWriter.write(Self.images, as: .imageList, to: url)
        let list = url.appendingPathComponent("list.txt")
        #expect(try String(contentsOf: list, encoding: .utf8) == "00000000.png 0\n00000001.png 7\n00000002.png 2\n")
        let read = try DatasetReader.read(list)
        #expect(read.format == .imageList && read.pixels == Self.images.pixels && read.labels == Self.images.labels)
        // As a net names it: root_folder prepended as a string, relative to the working directory.
        let description = DataSourceDescription(layer: "data", source: "pngs/list.txt",
                                                kind: .imageList(rootFolder: "pngs/", newHeight: 0, newWidth: 0, isColor: false))
        let gray = try CaffeDataSources.read(description, workingDirectory: folder)
        #expect(gray.imageShape == [1, 4, 5] && gray.labels == [0, 7, 2])
        let resized = DataSourceDescription(layer: "data", source: "pngs/list.txt",
                                            kind: .imageList(rootFolder: "pngs/", newHeight: 8, newWidth: 10, isColor: true), cropSize: 6)
        #expect(try CaffeDataSources.read(resized, workingDirectory: folder).imageShape == [3, 6, 6])
    }

    @Test func seededSubsetsAreReproducibleAndDistinct() throws {
        let many = Dataset(format: .mnist, imageShape: [1, 1, 2], pixels: .bytes((0..<200).map { UInt8($0) }), labels: (0..<100).map { $0 % 10 },
                           classCount: 10, source: "m")
        let a = many.randomSubset(count: 30, seed: 1), again = many.randomSubset(count: 30, seed: 1), b = many.randomSubset(count: 30, seed: 2)
        #expect(a.count == 30 && a.pixels == again.pixels && a.labels == again.labels)
        #expect(a.pixels != b.pixels)
        // Each drawn image is one of the set's, with its own label, in the set's order, none twice.
        guard case .bytes(let values) = a.pixels else { Issue.record("bytes expected"); return }
        let indices = stride(from: 0, to: values.count, by: 2).map { Int(values[$0]) / 2 }
        #expect(indices == indices.sorted() && Set(indices).count == 30)
        #expect(zip(indices, a.labels).allSatisfy { $0 % 10 == $1 } && (0..<30).allSatisfy { values[2 * $0 + 1] == values[2 * $0] + 1 })
        #expect(many.randomSubset(count: 500, seed: 3).count == 100)
    }

    @Test func centreCropTakesCaffesOffsets() throws {
        let cropped = try Self.images.centreCropped(to: 3)
        #expect(cropped.imageShape == [3, 3, 3])
        // Rows 0...2 of 4 ((4 - 3) / 2 = 0), columns 1...3 of 5 ((5 - 3) / 2 = 1).
        guard case .bytes(let all) = Self.images.pixels, case .bytes(let cut) = cropped.pixels else { Issue.record("bytes expected"); return }
        let image = 1, channel = 2, row = 2, column = 0
        #expect(cut[((image * 3 + channel) * 3 + row) * 3 + column] == all[((image * 3 + channel) * 4 + row) * 5 + column + 1])
        #expect(throws: FormatError.self) { try Self.images.centreCropped(to: 5) }
    }

    @Test func mistakesNameTheFileLineOrRecord() throws {
        let folder = try SharedData.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: folder) }
        func message(_ body: () throws -> Any) -> String {
            do { _ = try body() } catch { return "\(error)" }
            return "no error"
        }
        // A list line without a label, and a listed image that is missing.
        let list = folder.appendingPathComponent("list.txt")
        try Data("a.png 1\n\nb.png\n".utf8).write(to: list)
        #expect(message { try CaffeDataSources.readImageList(list) }.contains("line 3"))
        try Data("missing.png 1\n".utf8).write(to: list)
        let missing = message { try CaffeDataSources.readImageList(list) }
        #expect(missing.contains("line 1") && missing.contains("no image at"))
        // Records that are not Datums, and records of different sizes.
        let garbage = folder.appendingPathComponent("garbage_lmdb")
        try FileManager.default.createDirectory(at: garbage, withIntermediateDirectories: true)
        try KeyValueStore.writeLMDB(garbage, count: 1) { _ in Data([0xFF, 0xFF, 0xFF]) }
        #expect(message { try DatasetReader.read(garbage) }.contains("record 0 is not a Caffe Datum"))
        let mixed = folder.appendingPathComponent("mixed_lmdb")
        try FileManager.default.createDirectory(at: mixed, withIntermediateDirectories: true)
        try KeyValueStore.writeLMDB(mixed, count: 2) { index in
            Self.handEncodedDatum(channels: 1, height: 1, width: UInt8(index + 1), pixels: [UInt8](repeating: 1, count: index + 1), label: 0)
        }
        #expect(message { try DatasetReader.read(mixed) }.contains("record 1 is a 1x1x2 image, but the first is 1x1x1"))
        let short = folder.appendingPathComponent("short_lmdb")
        try FileManager.default.createDirectory(at: short, withIntermediateDirectories: true)
        try KeyValueStore.writeLMDB(short, count: 1) { _ in Self.handEncodedDatum(channels: 1, height: 2, width: 2, pixels: [1, 2, 3], label: 0) }
        #expect(message { try DatasetReader.read(short) }.contains("record 0 holds 3 values for a 1x2x2 image"))
        // Not a database; an output that exists; PNG of floats: refused, nothing left behind.
        #expect(message { try DatasetReader.read(folder) }.contains("not a dataset bmq knows"))
        #expect(message { try DatasetWriter.write(Self.images, as: .lmdb, to: garbage) }.contains("exists already"))
        let floats = Dataset(format: .mnist, imageShape: [1, 1, 1], pixels: .floats([1]), labels: [0], classCount: 2, source: "f")
        #expect(message { try DatasetWriter.write(floats, as: .imageList, to: folder.appendingPathComponent("out")) }.contains("float images"))
        let left = try FileManager.default.contentsOfDirectory(atPath: folder.path).filter { $0.hasPrefix(".") || $0 == "out" }
        #expect(left.isEmpty, "left behind: \(left)")
    }
}
