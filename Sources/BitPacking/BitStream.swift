/// Appends fixed-width values to a little-endian bit stream: value i occupies stream bits
/// [offset, offset + width), and stream bit j is bit (j mod 8) of byte j / 8.
public struct BitWriter: Sendable {
    public private(set) var bytes: [UInt8] = []
    private var accumulator: UInt64 = 0
    private var pending = 0  // bits in the accumulator

    public init(capacity bytes: Int = 0) { self.bytes.reserveCapacity(bytes) }

    /// Appends the low `width` bits of `value` (width 1...32).
    public mutating func append(_ value: UInt32, width: Int) {
        accumulator |= UInt64(value & UInt32(truncatingIfNeeded: (UInt64(1) << width) - 1)) << pending
        pending += width
        while pending >= 8 {
            bytes.append(UInt8(truncatingIfNeeded: accumulator))
            accumulator >>= 8
            pending -= 8
        }
    }

    /// Flushes a partial byte (zero-filled) and pads with zero bytes to a multiple of `alignment`.
    public mutating func finish(alignment: Int = 1) -> [UInt8] {
        if pending > 0 {
            bytes.append(UInt8(truncatingIfNeeded: accumulator))
            accumulator = 0
            pending = 0
        }
        while bytes.count % alignment != 0 { bytes.append(0) }
        return bytes
    }
}

/// Reads fixed-width values from a little-endian bit stream written by `BitWriter`.
public struct BitReader {
    let bytes: UnsafeRawBufferPointer
    private var position = 0  // next bit

    public init(_ bytes: UnsafeRawBufferPointer) { self.bytes = bytes }

    /// Bits left to read.
    public var remaining: Int { bytes.count * 8 - position }

    /// The next `width` bits (1...32); the caller checks `remaining` first.
    public mutating func read(width: Int) -> UInt32 {
        var value: UInt64 = 0
        var got = 0
        while got < width {
            let byte = UInt64(bytes[(position + got) >> 3])
            let shift = (position + got) & 7
            let take = min(8 - shift, width - got)
            value |= ((byte >> shift) & ((1 << take) - 1)) << got
            got += take
        }
        position += width
        return UInt32(truncatingIfNeeded: value)
    }
}

/// Little-endian fixed-size fields.
public struct ByteWriter: Sendable {
    public private(set) var bytes: [UInt8] = []
    public init() {}

    public mutating func u8(_ value: UInt8) { bytes.append(value) }
    public mutating func u16(_ value: UInt16) { bytes += withUnsafeBytes(of: value.littleEndian, Array.init) }
    public mutating func u32(_ value: UInt32) { bytes += withUnsafeBytes(of: value.littleEndian, Array.init) }
    public mutating func u64(_ value: UInt64) { bytes += withUnsafeBytes(of: value.littleEndian, Array.init) }
    public mutating func f32(_ value: Float) { u32(value.bitPattern) }
    public mutating func raw(_ data: [UInt8]) { bytes += data }
    public mutating func pad(to alignment: Int) { while bytes.count % alignment != 0 { bytes.append(0) } }
}

/// Reads little-endian fields with bounds checks; every overrun is a thrown `ByteReader.Overrun`.
public struct ByteReader {
    public struct Overrun: Error {}
    public let bytes: [UInt8]
    public private(set) var offset: Int

    public init(_ bytes: [UInt8], offset: Int = 0) {
        self.bytes = bytes
        self.offset = offset
    }

    public var remaining: Int { bytes.count - offset }

    mutating func take(_ count: Int) throws -> ArraySlice<UInt8> {
        guard count >= 0, count <= remaining else { throw Overrun() }
        defer { offset += count }
        return bytes[offset..<(offset + count)]
    }

    public mutating func u8() throws -> UInt8 { try take(1).first! }
    public mutating func u16() throws -> UInt16 { try take(2).reversed().reduce(0) { $0 << 8 | UInt16($1) } }
    public mutating func u32() throws -> UInt32 { try take(4).reversed().reduce(0) { $0 << 8 | UInt32($1) } }
    public mutating func u64() throws -> UInt64 { try take(8).reversed().reduce(0) { $0 << 8 | UInt64($1) } }
    public mutating func f32() throws -> Float { Float(bitPattern: try u32()) }
    public mutating func raw(_ count: Int) throws -> [UInt8] { Array(try take(count)) }

    /// Skips zero padding up to `alignment` (relative to `base`); non-zero padding throws.
    public mutating func padding(to alignment: Int, base: Int = 0) throws -> Bool {
        while (offset - base) % alignment != 0 {
            guard try u8() == 0 else { return false }
        }
        return true
    }
}
