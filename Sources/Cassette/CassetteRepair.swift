import CompressNIO
import Foundation
import NIOCore

/// Makes a damaged cassette open again without ever deleting a valid record.
///
/// `repair` drops only a torn last record: the beginning of a record with nothing after it, as a killed
/// writer leaves. Any other damage (a flipped bit in a length field, a corrupt record in the middle) is
/// refused with the record and offset named, because dropping "everything after the damage" would delete
/// valid records. `salvage` then keeps every record that decodes, skipping only damaged bytes.
public enum CassetteRepair {
    /// Truncates `path` after its last complete record; returns the bytes removed (0 if it was intact).
    /// Throws `corrupt`, changing nothing, when the damage is not a torn tail.
    @discardableResult
    public static func repair(path: String) throws -> Int {
        try CassettePath.check(path, writable: true, existing: true)  // before the lock opens it: a FIFO would block
        return try CassetteLock.exclusive(path) { try repairUnlocked(path: path) }
    }

    private static func repairUnlocked(path: String) throws -> Int {
        var st = stat()
        guard stat(path, &st) == 0 else { throw CassetteError(.io, file: path, "cannot stat") }
        let validLength: Int
        do { validLength = try CassetteReader(path: path, allowTornTail: true).validLength } catch let e as CassetteError
        where e.kind == .tornTail && e.offset == 0 {
            validLength = 0  // only a torn header: emptied, the file is a new cassette to record into
        }
        let removed = Int(st.st_size) - validLength
        if removed > 0 {
            guard truncate(path, off_t(validLength)) == 0 else {
                throw CassetteError(.io, file: path, "cannot truncate: \(String(cString: strerror(errno)))")
            }
        }
        return removed
    }

    public struct Salvage: Sendable, Equatable {
        /// Records kept (the header included; a damaged member loses every record in it).
        public var kept: Int
        /// Damaged stretches skipped: (offset, length).
        public var skipped: [Skip]
        /// The original, untouched.
        public var backup: String
        /// The header member was damaged: a new one was written first (the exchanges are all kept).
        public var headerRebuilt = false
        /// Headers of cassettes joined after the first (`cat a b > c`), dropped; their exchanges are kept.
        public var headersDropped = 0
    }

    public struct Skip: Sendable, Equatable {
        public var offset: Int
        public var length: Int
    }

    /// Rewrites `path` with every record that decodes, byte for byte, skipping damaged stretches; the
    /// original stays beside it as `PATH.damaged`. Nothing valid is lost.
    public static func salvage(path: String) throws -> Salvage {
        try CassettePath.check(path, writable: true, existing: true)
        return try CassetteLock.exclusive(path) { try salvageUnlocked(path: path) }
    }

    private static func salvageUnlocked(path: String) throws -> Salvage {
        guard let data = FileManager.default.contents(atPath: path) else { throw CassetteError(.io, file: path, "cannot be read") }
        let allocator = ByteBufferAllocator()
        let decompressor: ZlibDecompressor
        do { decompressor = try ZlibDecompressor(algorithm: .deflate) } catch { throw CassetteError(.io, file: path, "zlib: \(error)") }
        let all = ByteBuffer(bytes: data)
        var out = ByteBuffer()
        var kept = 0
        var skipped: [Skip] = []
        var at = 0
        var headersDropped = 0
        while at < all.readableBytes {
            if let (length, records) = validMember(all, at, decompressor, allocator) {
                if at > 0, let member = all.getSlice(at: at, length: length), startsWithHeader(member, decompressor, allocator) {
                    // Another cassette's header (two files joined end to end): dropped, its exchanges kept.
                    headersDropped += 1
                    if records > 1 {
                        guard let rest = withoutFirstRecord(member, decompressor, allocator) else {
                            throw CassetteError(.io, file: path, "cannot re-encode a joined cassette's first member; the original is untouched")
                        }
                        var r = rest
                        out.writeBuffer(&r)
                        kept += records - 1
                    }
                    at += length
                    continue
                }
                if let member = all.getSlice(at: at, length: length) { var m = member; out.writeBuffer(&m) }
                kept += records
                at += length
                continue
            }
            let rest = all.getSlice(at: at, length: all.readableBytes - at) ?? ByteBuffer()
            let next =
                CassetteReader.nextValidMember(in: rest, after: 0, decompressor: decompressor, allocator: allocator) ?? rest.readableBytes
            skipped.append(Skip(offset: at, length: next))
            at += next
        }
        guard kept > 0, validMember(out, 0, decompressor, allocator) != nil else {
            throw CassetteError(.notACassette, file: path, "no readable record at all; nothing to salvage")
        }
        // Without its header no reader opens the file: a damaged (or missing) header is replaced by a new one,
        // which says so.
        let headerRebuilt = !startsWithHeader(out, decompressor, allocator)
        // Every byte was a valid record: nothing to salvage, and the file is not renamed as if it were damaged.
        if !headerRebuilt && skipped.isEmpty && headersDropped == 0 && out.readableBytes == all.readableBytes {
            return Salvage(kept: kept, skipped: [], backup: "")
        }
        if headerRebuilt {
            let header = CassetteHeader(
                createdAt: Timestamp.iso8601(Date()),
                warnings: [
                    "the original header was damaged; tapedeck cassette repair --salvage wrote this one (match rules stored in the old header, if any, are lost: pass them again with --match-config)"
                ])
            var member = ByteBuffer()
            do {
                var payload = ByteBuffer(bytes: try CassetteCoding.encode(header))
                payload.writeInteger(UInt8(ascii: "\n"))
                try GzipMember.encode(payload, compressor: try GzipMember.makeCompressor(CassetteWriter.zlib), into: &member)
            } catch {
                throw CassetteError(.io, file: path, "cannot write a new header: \(error); the original is untouched")
            }
            member.writeBuffer(&out)
            out = member
            kept += 1
        }
        let backup = path + ".damaged"
        let temporary = path + ".salvage-\(getpid())"
        var original = stat()
        let mode = stat(path, &original) == 0 ? mode_t(original.st_mode & 0o7777) : 0o644
        do {
            try Data(out.readableBytesView).write(to: URL(fileURLWithPath: temporary))
            chmod(temporary, mode)  // the salvaged file keeps the original's permissions
        } catch {
            unlink(temporary)
            let cause = ((error as NSError).userInfo[NSUnderlyingErrorKey] as? NSError).map { String(cString: strerror(Int32($0.code))) }
            throw CassetteError(.io, file: temporary, "cannot write the salvaged copy (\(cause ?? error.localizedDescription)); the original is untouched")
        }
        guard link(path, backup) == 0 || errno == EEXIST else {
            unlink(temporary)
            throw CassetteError(.io, file: backup, "cannot keep the original: \(String(cString: strerror(errno)))")
        }
        guard rename(temporary, path) == 0 else {
            unlink(temporary)
            throw CassetteError(.io, file: path, "cannot replace with the salvaged copy: \(String(cString: strerror(errno)))")
        }
        return Salvage(kept: kept, skipped: skipped, backup: backup, headerRebuilt: headerRebuilt, headersDropped: headersDropped)
    }

    /// A member's records after its first, as a member of their own.
    static func withoutFirstRecord(_ member: ByteBuffer, _ decompressor: ZlibDecompressor, _ allocator: ByteBufferAllocator) -> ByteBuffer? {
        guard var content = try? GzipMember.decode(member, decompressor: decompressor, allocator: allocator),
            let newline = content.readableBytesView.firstIndex(of: UInt8(ascii: "\n"))
        else { return nil }
        content.moveReaderIndex(to: newline + 1)
        var out = ByteBuffer()
        guard (try? GzipMember.encode(content, compressor: try GzipMember.makeCompressor(CassetteWriter.zlib), into: &out)) != nil else { return nil }
        return out
    }

    /// Whether the first member of `data` starts with a cassette header record.
    static func startsWithHeader(_ data: ByteBuffer, _ decompressor: ZlibDecompressor, _ allocator: ByteBufferAllocator) -> Bool {
        guard case .member(let length) = GzipMember.header(data), length <= data.readableBytes,
            let member = data.getSlice(at: data.readerIndex, length: length),
            let content = try? GzipMember.decode(member, decompressor: decompressor, allocator: allocator),
            let first = CassetteReader.lines(content).first
        else { return false }
        return (try? CassetteCoding.decode(CassetteHeader.self, first)) != nil
    }

    /// The length and record count of a member at `offset` that is complete and decodes, else nil.
    static func validMember(
        _ all: ByteBuffer, _ offset: Int, _ decompressor: ZlibDecompressor, _ allocator: ByteBufferAllocator
    ) -> (length: Int, records: Int)? {
        guard let rest = all.getSlice(at: offset, length: all.readableBytes - offset),
            case .member(let length) = GzipMember.header(rest), length <= rest.readableBytes,
            let member = rest.getSlice(at: rest.readerIndex, length: length),
            let content = try? GzipMember.decode(member, decompressor: decompressor, allocator: allocator)
        else { return nil }
        return (length, CassetteReader.lines(content).count)
    }
}
