import CImageCodecs
import Foundation
import TensorGraph

/// How an image file's colours are read, as OpenCV's imread flags (which Caffe's readers pass) say.
public enum ImageColorMode: Sendable {
    /// Gray images stay gray, colour images are read as blue, green, red.
    case asStored
    /// Always three channels: blue, green, red.
    case color
    /// Always one channel.
    case gray

    var codecMode: bmq_image_mode {
        switch self {
        case .asStored: BMQ_IMAGE_NATIVE
        case .color: BMQ_IMAGE_COLOR
        case .gray: BMQ_IMAGE_GRAY
        }
    }
}

/// One decoded image: 8-bit values, channel-major (C x H x W), channels in the order Caffe's
/// readers hand them to a net (blue, green, red for colour).
public struct DecodedImage: Sendable, Equatable {
    /// Channels x height x width.
    public var shape: Shape
    /// The values, channel-major.
    public var pixels: [UInt8]
}

/// PNG and JPEG reading and PNG writing (Debian's libpng and libjpeg-turbo).
public enum ImageFiles {
    /// Decodes a PNG or JPEG held in `bytes`.
    /// - Throws: `FormatError` naming `file` when the bytes are no image bmq reads.
    public static func decode(_ bytes: UnsafeRawBufferPointer, mode: ImageColorMode, file: String) throws -> DecodedImage {
        var image = bmq_image()
        var message = [CChar](repeating: 0, count: 256)
        let status = bmq_image_decode(bytes.baseAddress?.assumingMemoryBound(to: UInt8.self), bytes.count, mode.codecMode, &image,
                                      &message, message.count)
        guard status == 0, let interleaved = image.pixels else {
            throw FormatError(file: file, "cannot be read as an image: " + text(of: message))
        }
        defer { bmq_image_free(&image) }
        let (height, width, channels) = (Int(image.height), Int(image.width), Int(image.channels))
        let plane = height * width
        var pixels = [UInt8](repeating: 0, count: plane * channels)
        for channel in 0..<channels {
            for i in 0..<plane { pixels[channel * plane + i] = interleaved[i * channels + channel] }
        }
        return DecodedImage(shape: [channels, height, width], pixels: pixels)
    }

    /// Reads the PNG or JPEG file at `url`.
    /// - Throws: `FormatError` naming the file.
    public static func read(_ url: URL, mode: ImageColorMode) throws -> DecodedImage {
        let data = try FileIO.read(url)
        return try data.withUnsafeBytes { try decode($0, mode: mode, file: url.path) }
    }

    /// `image` as PNG bytes; a three-channel image's channels are taken as blue, green, red, so
    /// that reading the file back gives the same channels.
    /// - Throws: `FormatError` naming `file` for an image libpng refuses.
    public static func encodePNG(_ image: DecodedImage, file: String) throws -> Data {
        let (channels, height, width) = (image.shape[0], image.shape[1], image.shape[2])
        guard channels == 1 || channels == 3 else {
            throw FormatError(file: file, "\(channels)-channel images cannot be written as PNG (1 or 3 channels)")
        }
        let plane = height * width
        var interleaved = [UInt8](repeating: 0, count: plane * channels)
        for channel in 0..<channels {
            for i in 0..<plane { interleaved[i * channels + channel] = image.pixels[channel * plane + i] }
        }
        var png: UnsafeMutablePointer<UInt8>?
        var size = 0
        var message = [CChar](repeating: 0, count: 256)
        guard bmq_png_encode(interleaved, Int32(width), Int32(height), Int32(channels), &png, &size, &message, message.count) == 0,
              let png else {
            throw FormatError(file: file, "cannot be written as PNG: " + text(of: message))
        }
        defer { free(png) }
        return Data(bytes: png, count: size)
    }

    /// The codec's NUL-terminated message.
    static func text(of message: [CChar]) -> String {
        String(decoding: message.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// `image` resized to `height` x `width` as OpenCV's INTER_LINEAR resizes 8-bit images for
    /// Caffe's `new_height`/`new_width`: pixel centres aligned, edges clamped, 11-bit weights
    /// rounded from single-precision positions, and the rows combined with the rounding of its
    /// vectorised path. Values agree with OpenCV's to within one level (exactly for most).
    public static func resized(_ image: DecodedImage, height: Int, width: Int) -> DecodedImage {
        let (channels, sourceHeight, sourceWidth) = (image.shape[0], image.shape[1], image.shape[2])
        if sourceHeight == height, sourceWidth == width { return image }
        let one: Float = 2048
        // For each output coordinate: the two source indices and their weights.
        func taps(_ count: Int, _ sourceCount: Int) -> [(Int, Int, Int, Int)] {
            let scale = Double(sourceCount) / Double(count)
            return (0..<count).map { index in
                let position = Float((Double(index) + 0.5) * scale - 0.5)
                var first = Int(position.rounded(.down))
                var fraction = position - Float(first)
                if first < 0 { (first, fraction) = (0, 0) }
                if first >= sourceCount - 1 { (first, fraction) = (sourceCount - 1, 0) }
                return (first, min(first + 1, sourceCount - 1), Int(((1 - fraction) * one).rounded()), Int((fraction * one).rounded()))
            }
        }
        let rows = taps(height, sourceHeight), columns = taps(width, sourceWidth)
        var pixels = [UInt8](repeating: 0, count: channels * height * width)
        var horizontal = [Int](repeating: 0, count: sourceHeight * width)
        for channel in 0..<channels {
            let source = channel * sourceHeight * sourceWidth
            for row in 0..<sourceHeight {
                let base = source + row * sourceWidth
                for (x, (left, right, a0, a1)) in columns.enumerated() {
                    horizontal[row * width + x] = Int(image.pixels[base + left]) * a0 + Int(image.pixels[base + right]) * a1
                }
            }
            for (y, (top, bottom, b0, b1)) in rows.enumerated() {
                for x in 0..<width {
                    let upper = ((horizontal[top * width + x] >> 4) * b0) >> 16
                    let lower = ((horizontal[bottom * width + x] >> 4) * b1) >> 16
                    pixels[(channel * height + y) * width + x] = UInt8(clamping: (upper + lower + 2) >> 2)
                }
            }
        }
        return DecodedImage(shape: [channels, height, width], pixels: pixels)
    }
}
