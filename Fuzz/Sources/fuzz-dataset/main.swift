import Datasets
import Foundation
import FuzzSupport

/// One input exercises every dataset reader: MNIST IDX and CIFAR records (by content), image
/// lists, and a Datum record with its PNG or JPEG payload, as LMDB and LevelDB hold them.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzDataset(_ start: UnsafeRawPointer, _ count: Int) -> CInt {
    FuzzInput.withFile(start, count, named: "t10k-images-idx3-ubyte") { url in
        let dataset = try DatasetReader.read(url)
        _ = dataset.batch(0..<min(dataset.count, 2), preprocessing: .identity)
    }
    FuzzInput.withFile(start, count, named: "list.txt") { url in _ = try CaffeDataSources.readImageList(url, limit: 4) }
    let bytes = UnsafeRawBufferPointer(start: start, count: count)
    do { _ = try CaffeDataSources.decodeDatum(bytes, record: 0, file: "fuzz", encodedImages: .asStored) } catch {}
    do { _ = try ImageFiles.decode(bytes, mode: .gray, file: "fuzz") } catch {}
    return 0
}
