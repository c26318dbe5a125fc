import CompressNIO
import NIOCore

/// One self-delimiting gzip member per record, BGZF-style: a standard gzip header whose extra field
/// (subfield `TD`) holds the member's total length, raw deflate data, then CRC-32 and size.
///
/// Any gzip reader (`zcat`, Python's `gzip`) reads the concatenation as one stream and ignores the extra
/// field; Tapedeck uses it to walk records without inflating them, to find a torn tail by length alone,
/// and to read one record by offset on replay. (samtools' BGZF does the same for the same reasons.)
public enum GzipMember {
    static let headerSize = 20  // 10 fixed + XLEN(2) + SI1 SI2(2) + SLEN(2) + length(4)
    static let trailerSize = 8

    /// A compressor for `encode`: zlib in gzip mode, which computes the CRC-32 while it deflates (a
    /// separate checksum pass over each record cost as much as a tenth of recording).
    public static func makeCompressor(_ configuration: ZlibConfiguration = .init()) throws -> ZlibCompressor {
        try ZlibCompressor(algorithm: .gzip, configuration: configuration)
    }

    /// Compresses `payload` into one member appended to `out`, reusing `compressor` (from `makeCompressor`).
    /// zlib writes its own 10-byte gzip header, deflate data and trailer (CRC-32, size) behind 10 spare
    /// bytes; the first 20 bytes are then overwritten with this format's header (the same fixed fields plus
    /// the `TD` extra field), so nothing is copied twice.
    public static func encode(_ payload: ByteBuffer, compressor: ZlibCompressor, into out: inout ByteBuffer) throws {
        var input = payload
        let start = out.writerIndex
        out.reserveCapacity(minimumWritableBytes: compressor.maxSize(from: input) + headerSize + trailerSize + 64)
        out.writeRepeatingByte(0, count: headerSize - 10)
        do {
            try compressor.deflate(from: &input, to: &out, flush: .finish)
            try compressor.reset()
        } catch {
            out.moveWriterIndex(to: start)
            throw error
        }
        guard out.getInteger(at: start + headerSize - 10, endianness: .big, as: UInt16.self) == 0x1F8B else {
            out.moveWriterIndex(to: start)
            throw GzipMemberError.mismatch("the compressor is not in gzip mode (make it with GzipMember.makeCompressor)")
        }
        let total = UInt32(out.writerIndex - start)
        out.setBytes([0x1F, 0x8B, 8, 4, 0, 0, 0, 0, 0, 0xFF], at: start)  // magic, deflate, FEXTRA, no mtime, unknown OS
        out.setInteger(UInt16(8), at: start + 10, endianness: .little)  // XLEN
        out.setBytes([UInt8(ascii: "T"), UInt8(ascii: "D")], at: start + 12)
        out.setInteger(UInt16(4), at: start + 14, endianness: .little)  // SLEN
        out.setInteger(total, at: start + 16, endianness: .little)
    }

    public enum HeaderResult {
        case member(length: Int)
        /// Not enough bytes for a header: the file ends here (torn if any bytes remain).
        case truncated
        /// Not one of our members.
        case invalid(String)
    }

    /// Reads a member's total length from the first bytes at `buffer`'s reader index.
    public static func header(_ buffer: ByteBuffer) -> HeaderResult {
        guard buffer.readableBytes >= headerSize else { return .truncated }
        let b = buffer.readerIndex
        guard buffer.getInteger(at: b, as: UInt8.self) == 0x1F, buffer.getInteger(at: b + 1, as: UInt8.self) == 0x8B else {
            return .invalid("not a gzip member (bad magic bytes)")
        }
        guard buffer.getInteger(at: b + 3, as: UInt8.self).map({ $0 & 4 != 0 }) == true,
            buffer.getInteger(at: b + 12, as: UInt8.self) == UInt8(ascii: "T"),
            buffer.getInteger(at: b + 13, as: UInt8.self) == UInt8(ascii: "D"),
            let total = buffer.getInteger(at: b + 16, endianness: .little, as: UInt32.self)
        else {
            return .invalid(
                "a gzip member without Tapedeck's length field (was the file recompressed, e.g. by `zcat | jq | gzip`? `tapedeck cassette import-jsonl FILE --out NEW` rebuilds it)"
            )
        }
        // Every field gzip readers interpret must be exactly what the writer wrote, so a file that verifies
        // is one `zcat` reads: deflate (CM 8), only FEXTRA set, an extra field of 8 bytes holding one 4-byte subfield.
        guard buffer.getInteger(at: b + 2, as: UInt8.self) == 8 else { return .invalid("gzip compression method is not deflate") }
        guard buffer.getInteger(at: b + 3, as: UInt8.self) == 4 else { return .invalid("unexpected gzip header flags") }
        guard buffer.getInteger(at: b + 10, endianness: .little, as: UInt16.self) == 8,
            buffer.getInteger(at: b + 14, endianness: .little, as: UInt16.self) == 4
        else {
            return .invalid("damaged gzip extra-field lengths")
        }
        guard Int(total) >= headerSize + trailerSize else { return .invalid("member length \(total) is too small") }
        return .member(length: Int(total))
    }

    /// Inflates one complete member (exactly its bytes) and checks CRC and size.
    public static func decode(_ member: ByteBuffer, decompressor: ZlibDecompressor, allocator: ByteBufferAllocator) throws -> ByteBuffer {
        guard member.readableBytes >= headerSize + trailerSize,
            var deflated = member.getSlice(at: member.readerIndex + headerSize, length: member.readableBytes - headerSize - trailerSize),
            let crc = member.getInteger(at: member.writerIndex - 8, endianness: .little, as: UInt32.self),
            let size32 = member.getInteger(at: member.writerIndex - 4, endianness: .little, as: UInt32.self)
        else {
            throw GzipMemberError.mismatch("\(member.readableBytes) bytes, too short for a record")
        }
        let size = Int(size32)
        var out = allocator.buffer(capacity: min(max(256, size), 64 << 20))  // the trailer may be damaged: do not trust it for a huge allocation
        defer { try? decompressor.reset() }
        while true {
            do {
                try decompressor.inflate(from: &deflated, to: &out)
                break
            } catch let e as CompressNIOError where e == .bufferOverflow {
                out.reserveCapacity(minimumWritableBytes: max(4096, out.readableBytes))
            }
        }
        // gzip readers need the deflate stream to end exactly where the trailer begins. A stream that ends
        // early, or runs on (one flipped final-block bit), can still inflate to bytes whose CRC and size
        // match here while `zcat` fails on the file.
        guard deflated.readableBytes == 0 else {
            throw GzipMemberError.mismatch("\(deflated.readableBytes) bytes after the end of the compressed data")
        }
        guard ended(decompressor, allocator: allocator) else {
            throw GzipMemberError.mismatch("the compressed data does not end before the trailer (gzip readers fail here)")
        }
        guard UInt32(truncatingIfNeeded: out.readableBytes) == UInt32(truncatingIfNeeded: size) else {
            throw GzipMemberError.mismatch("size \(out.readableBytes) ≠ trailer \(size)")
        }
        guard out.withUnsafeReadableBytes({ CRC32.checksum($0) }) == crc else { throw GzipMemberError.mismatch("CRC-32 mismatch") }
        return out
    }
}

extension GzipMember {
    /// Whether `decompressor` has seen its stream's end: once it has, zlib takes no more input (a byte
    /// offered is left unread); a stream still open reads it as more data, or fails on it.
    static func ended(_ decompressor: ZlibDecompressor, allocator: ByteBufferAllocator) -> Bool {
        var probe = allocator.buffer(capacity: 1)
        probe.writeInteger(UInt8(0))
        var sink = allocator.buffer(capacity: 64)
        do { try decompressor.inflate(from: &probe, to: &sink) } catch { return false }
        return probe.readableBytes == 1 && sink.readableBytes == 0
    }
}

enum GzipMemberError: Error, CustomStringConvertible {
    case mismatch(String)
    var description: String {
        switch self {
        case .mismatch(let s): return s
        }
    }
}
