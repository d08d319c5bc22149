import CZlib
import Foundation
import TensorGraph

/// Inflates gzip data (MNIST files are often distributed as `.gz`).
enum Gzip {
    static func isGzip(_ data: Data) -> Bool {
        data.count >= 2 && data[data.startIndex] == 0x1F && data[data.startIndex + 1] == 0x8B
    }

    static func decompress(_ data: Data, file: String) throws -> Data {
        var stream = z_stream()
        // 15 + 32: accept gzip or zlib headers.
        guard CZlib_inflateInit2(&stream, 15 + 32) == Z_OK else { throw FormatError(file: file, "cannot start gzip decompression") }
        defer { inflateEnd(&stream) }
        var output = Data()
        var chunk = [UInt8](repeating: 0, count: 1 << 20)
        var status = Z_OK
        try data.withUnsafeBytes { (input: UnsafeRawBufferPointer) in
            stream.next_in = UnsafeMutablePointer(mutating: input.bindMemory(to: Bytef.self).baseAddress)
            stream.avail_in = uInt(input.count)
            repeat {
                try chunk.withUnsafeMutableBufferPointer { buffer in
                    stream.next_out = buffer.baseAddress
                    stream.avail_out = uInt(buffer.count)
                    status = inflate(&stream, Z_NO_FLUSH)
                    guard status == Z_OK || status == Z_STREAM_END else {
                        throw FormatError(file: file, "corrupt or truncated gzip data")
                    }
                    output.append(buffer.baseAddress!, count: buffer.count - Int(stream.avail_out))
                }
                if status == Z_OK, stream.avail_in == 0, stream.avail_out != 0 {
                    throw FormatError(file: file, "truncated gzip data")
                }
            } while status != Z_STREAM_END
        }
        return output
    }
}
