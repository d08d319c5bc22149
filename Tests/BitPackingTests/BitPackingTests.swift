import BitPacking
import Testing

@Suite struct BitPackingTests {
    /// Values of every width from 1 to 32 bits, written back to back and read again.
    @Test func bitStreamRoundTripsEveryWidth() {
        var writer = BitWriter()
        var expected: [(UInt32, Int)] = []
        var state: UInt32 = 0x1234_5678
        for width in 1...32 {
            for _ in 0..<3 {
                state = state &* 1_664_525 &+ 1_013_904_223
                let value = width == 32 ? state : state & ((1 << UInt32(width)) - 1)
                writer.append(value, width: width)
                expected.append((value, width))
            }
        }
        let bytes = writer.finish(alignment: 8)
        #expect(bytes.count % 8 == 0)
        #expect(bytes.count == (expected.reduce(0) { $0 + $1.1 } + 63) / 64 * 8)
        bytes.withUnsafeBytes { raw in
            var reader = BitReader(raw)
            for (value, width) in expected { #expect(reader.read(width: width) == value, "width \(width)") }
        }
    }

    /// The first value sits in the lowest bits of the first byte (the packed format's rule).
    @Test func firstValueTakesTheLowBits() {
        var writer = BitWriter()
        writer.append(0b101, width: 3)
        writer.append(0b11, width: 2)
        #expect(writer.finish() == [0b11_101])
    }

    @Test func byteFieldsAreLittleEndian() throws {
        var writer = ByteWriter()
        writer.u16(0x0102)
        writer.u32(0x0304_0506)
        writer.u64(0x0708_090A_0B0C_0D0E)
        writer.f32(1.5)
        #expect(Array(writer.bytes.prefix(6)) == [0x02, 0x01, 0x06, 0x05, 0x04, 0x03])
        var reader = ByteReader(writer.bytes)
        #expect(try reader.u16() == 0x0102)
        #expect(try reader.u32() == 0x0304_0506)
        #expect(try reader.u64() == 0x0708_090A_0B0C_0D0E)
        #expect(try reader.f32() == 1.5)
        #expect(throws: ByteReader.Overrun.self) { try reader.u8() }
    }

    /// The standard check values of CRC-32 (IEEE 802.3, reflected, as zlib computes it).
    @Test func crc32CheckValues() {
        #expect(CRC32.checksum(Array("123456789".utf8)) == 0xCBF4_3926)
        #expect(CRC32.checksum([UInt8]()) == 0)
        #expect(CRC32.checksum(Array("The quick brown fox jumps over the lazy dog".utf8)) == 0x414F_A339)
    }
}
