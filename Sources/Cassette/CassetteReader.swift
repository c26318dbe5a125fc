import CompressNIO
import Foundation
import NIOCore

/// Reads cassettes: walks members by their length field, so building the replay index costs one inflate
/// per member and keeps only (key, offset, length, line) in memory; bodies are read again by offset on demand.
///
/// A member holds one record (format 1) or up to `CassetteWriter.recordsPerMember` consecutive records
/// (format 2: a group-committed batch compressed as one deflate stream, so records after the first are
/// compressed against the ones before them). Either way a member inflates to whole JSON lines.
public final class CassetteReader {
    public let path: String
    public let header: CassetteHeader
    /// Every exchange's key and where its record lives, in recorded order.
    public let entries: [Entry]
    /// Bytes of the file that hold complete records (a torn tail starts here).
    public let validLength: Int

    public struct Entry: Sendable, Equatable {
        public var seq: Int
        public var key: String
        /// Where the record's member starts.
        public var offset: Int
        /// The member's length (a gzip member's is 32 bits) and the record's line in it, in one word: opening a
        /// million-record cassette makes a million entries, and a wider entry cost a tenth of that time.
        private var lengthAndLine: UInt64

        /// The length of the record's member (shared by the records of one member).
        public var length: Int {
            get { Int(lengthAndLine & 0xFFFF_FFFF) }
            set { lengthAndLine = lengthAndLine & ~0xFFFF_FFFF | UInt64(UInt32(truncatingIfNeeded: newValue)) }
        }
        /// The record's line within its member (0 for the first).
        public var line: Int {
            get { Int(lengthAndLine >> 32) }
            set { lengthAndLine = lengthAndLine & 0xFFFF_FFFF | UInt64(UInt32(truncatingIfNeeded: newValue)) << 32 }
        }

        public init(seq: Int, key: String, offset: Int, length: Int, line: Int = 0) {
            self.seq = seq
            self.key = key
            self.offset = offset
            self.lengthAndLine = UInt64(UInt32(truncatingIfNeeded: length)) | UInt64(UInt32(truncatingIfNeeded: line)) << 32
        }
    }

    private let fd: Int32
    private let decompressor: ZlibDecompressor
    private let allocator = ByteBufferAllocator()
    /// The last member inflated by `exchange`: the records of one member are usually read one after another.
    private var lastMember: (offset: Int, lines: [ByteBuffer])?
    /// The bytes whose records came from the sidecar index (0: every record was walked).
    private var indexed = 0

    /// Opens and indexes `path`. With `allowTornTail`, an incomplete last record is left out instead of
    /// being an error (`repair` uses this; so does recording into an existing cassette after truncating).
    /// - Parameter indexFrom: write the sidecar index (`CassetteIndex`) after walking a cassette of at
    ///   least this many records.
    /// - Parameter useIndex: read the sidecar index when it fits (false: walk every record, as a verification
    ///   must, since the index is only a cache).
    public init(path: String, allowTornTail: Bool = false, indexFrom: Int = CassetteIndex.minimumRecords, useIndex: Bool = true) throws {
        self.path = path
        try CassettePath.check(path, writable: false)
        fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK)
        guard fd >= 0 else { throw CassetteError(.io, file: path, "cannot open: \(String(cString: strerror(errno)))") }
        do { decompressor = try ZlibDecompressor(algorithm: .deflate) } catch {
            Foundation.close(fd)
            throw CassetteError(.io, file: path, "zlib: \(error)")
        }
        var entries: [Entry] = []
        var header: CassetteHeader?
        var valid = 0
        var st = stat()
        fstat(fd, &st)
        let size = Int(st.st_size)
        do {
            let collect: (Int, Int, Int, Int, ByteBuffer) throws -> Void = { index, offset, length, lineNumber, line in
                if index == 0 {
                    header = try CassetteReader.parseHeader(line, path: path)
                } else {
                    entries.append(
                        Entry(
                            seq: index, key: try CassetteReader.key(of: line, path: path, record: index, offset: offset), offset: offset,
                            length: length, line: lineNumber))
                }
                valid = offset + length
            }
            if useIndex, let known = CassetteIndex.load(for: path, fd: fd, size: size) {
                indexed = known.covered
                // The index covers a prefix (all of it, unless records were appended since): read the header,
                // take the index's entries, and walk only what follows them.
                try CassetteReader.walk(
                    fd: fd, path: path, allowTornTail: allowTornTail, decompressor: decompressor, allocator: allocator, limit: 1, collect)
                entries = known.entries
                valid = known.covered
                try CassetteReader.walk(
                    fd: fd, path: path, allowTornTail: allowTornTail, decompressor: decompressor, allocator: allocator,
                    from: known.covered, firstIndex: entries.count + 1, collect)
                if valid > known.covered && entries.count >= indexFrom {
                    CassetteIndex.write(for: path, fd: fd, entries: entries, covered: valid)
                }
            } else {
                try CassetteReader.walk(
                    fd: fd, path: path, allowTornTail: allowTornTail, decompressor: decompressor, allocator: allocator, collect)
                if header != nil && entries.count >= indexFrom {
                    CassetteIndex.write(for: path, fd: fd, entries: entries, covered: valid)
                }
            }
        } catch {
            Foundation.close(fd)
            throw error
        }
        guard let header else {
            Foundation.close(fd)
            if size > 0 {
                // Bytes, but not one whole record: a writer stopped while writing the header.
                throw CassetteError(
                    .tornTail, file: path, record: 0, offset: 0,
                    "only a torn header, \(size) bytes; once dropped, the empty file is a new cassette to record into")
            }
            throw CassetteError(.notACassette, file: path, "the file is empty (a recording that failed before its first write, e.g. on a full disk, leaves one); record into it (--mode record starts it afresh) or delete it")
        }
        self.header = header
        self.entries = entries
        self.validLength = valid
    }

    deinit { Foundation.close(fd) }

    /// Reads and decodes one record.
    public func exchange(_ entry: Entry) throws -> Exchange {
        let lines: [ByteBuffer]
        if let last = lastMember, last.offset == entry.offset {
            lines = last.lines
        } else {
            var member = allocator.buffer(capacity: entry.length)
            let n = member.writeWithUnsafeMutableBytes(minimumWritableBytes: entry.length) { out in
                max(0, pread(fd, out.baseAddress!, entry.length, off_t(entry.offset)))
            }
            guard n == entry.length else { throw CassetteError(.io, file: path, record: entry.seq, offset: entry.offset, "short read") }
            do {
                lines = CassetteReader.lines(try GzipMember.decode(member, decompressor: decompressor, allocator: allocator))
            } catch {
                if entry.offset < indexed {
                    // Found through the sidecar index, which a file changed in place can outlive with the right
                    // fingerprint: the index goes, and the next open walks the file itself (which names real damage).
                    try? FileManager.default.removeItem(atPath: CassetteIndex.path(for: path))
                    throw CassetteError(
                        .io, file: path, record: entry.seq, offset: entry.offset,
                        "no record where the index \(CassetteIndex.path(for: path)) says (\(CassetteError.inflating(error))); the index is removed, open the cassette again (`tapedeck cassette verify \(path)` walks the file itself)")
                }
                throw CassetteError(.corrupt, file: path, record: entry.seq, offset: entry.offset, CassetteError.inflating(error))
            }
            // Kept for the next record of the same member only: a lone record (maybe a huge body) is not held on to.
            lastMember = lines.count > 1 ? (entry.offset, lines) : nil
        }
        guard entry.line >= 0, entry.line < lines.count else {
            throw CassetteError(
                .corrupt, file: path, record: entry.seq, offset: entry.offset,
                "its member holds \(lines.count) records, not \(entry.line + 1) (the index is stale: remove \(CassetteIndex.path(for: path)))")
        }
        let exchange: Exchange
        do { exchange = try CassetteCoding.decode(Exchange.self, lines[entry.line]) } catch {
            throw CassetteError(.corrupt, file: path, record: entry.seq, offset: entry.offset, CassetteReader.notAnExchange(lines[entry.line], error))
        }
        // The record found where the entry points must be one of the request the entry names: a sidecar index that
        // passed its checks over a file changed since (members swapped, rewritten in place) must not answer
        // a request with another request's recording. The index is removed, so the next open rebuilds it.
        // Compared with the key this reader's own table has for the place (the caller's entry may carry a key
        // re-made under ignore rules); `seq` is the record's place in the file, not its stored number.
        let stored = entry.seq >= 1 && entry.seq <= entries.count && entries[entry.seq - 1].offset == entry.offset
            ? entries[entry.seq - 1].key : nil
        guard stored.map({ $0 == exchange.key }) ?? true else {
            try? FileManager.default.removeItem(atPath: CassetteIndex.path(for: path))
            throw CassetteError(
                .io, file: path, record: entry.seq, offset: entry.offset,
                "the record there is a recording of \(exchange.key), not of \(stored ?? entry.key): the index \(CassetteIndex.path(for: path)) is stale (removed now; it is rebuilt when the cassette is opened again)")
        }
        return exchange
    }

    /// The JSON lines of an inflated member (each record ends with a newline; a last line without one counts,
    /// an empty line is no record).
    static func lines(_ content: ByteBuffer) -> [ByteBuffer] {
        var lines: [ByteBuffer] = []
        var rest = content
        while rest.readableBytes > 0 {
            let length = rest.withUnsafeReadableBytes { raw -> Int in
                guard let p = memchr(raw.baseAddress!, 0x0A, raw.count) else { return raw.count }
                return raw.baseAddress!.distance(to: UnsafeRawPointer(p))
            }
            if length > 0 { lines.append(rest.readSlice(length: length)!) }
            rest.moveReaderIndex(forwardBy: min(1, rest.readableBytes))
        }
        return lines
    }

    /// All exchanges, decoded (for `show`, `diff`, HAR export; not for replaying large cassettes).
    public func allExchanges() throws -> [Exchange] { try entries.map { try exchange($0) } }

    // MARK: walking members

    /// Calls `body(index, member offset, member length, line within the member, decompressed line)` for each
    /// record in order; index 0 is the header. Stops after the member that reaches `limit` records.
    static func walk(
        fd: Int32, path: String, allowTornTail: Bool, decompressor: ZlibDecompressor, allocator: ByteBufferAllocator,
        from start: Int = 0, firstIndex: Int = 0, limit: Int = .max, blockSize: Int = 4 << 20,
        _ body: (Int, Int, Int, Int, ByteBuffer) throws -> Void
    ) throws {
        let block = max(blockSize, GzipMember.headerSize)
        var buffer = allocator.buffer(capacity: block)
        var fileOffset = start  // file offset of buffer's reader index
        var readOffset = start  // file offset of buffer's writer index
        var eof = false
        var index = firstIndex
        func fill(_ need: Int) throws {
            while !eof && buffer.readableBytes < need {
                buffer.discardReadBytes()
                let want = max(block, need - buffer.readableBytes)
                var result = 0
                let n = buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: want) { out in
                    result = pread(fd, out.baseAddress!, out.count, off_t(readOffset))
                    return max(0, result)
                }
                if result < 0 {
                    if errno == EINTR { continue }
                    throw CassetteError(.io, file: path, offset: fileOffset, "read failed: \(String(cString: strerror(errno)))")
                }
                if n == 0 { eof = true }
                readOffset += n
            }
        }
        while index < limit {
            try fill(GzipMember.headerSize)
            if buffer.readableBytes == 0 { return }
            switch GzipMember.header(buffer) {
            case .truncated:
                if index == 0 {
                    throw CassetteError(.notACassette, file: path, offset: 0, "\(buffer.readableBytes) bytes, less than a cassette header")
                }
                if allowTornTail { return }
                throw CassetteError(
                    .tornTail, file: path, record: index, offset: fileOffset, "\(buffer.readableBytes) bytes, less than a record header")
            case .invalid(let why):
                if index == 0 { throw CassetteError(.notACassette, file: path, offset: 0, why) }
                throw CassetteError(.corrupt, file: path, record: index, offset: fileOffset, why)
            case .member(let length):
                try fill(length)
                if buffer.readableBytes < length {
                    // A torn tail is a prefix of a record and nothing after it. A length field damaged by a flipped
                    // bit looks the same by length alone, so look closer before anything is dropped: the rest may
                    // be a complete record, or valid records may follow.
                    if let why = damagedLengthEvidence(buffer, decompressor: decompressor, allocator: allocator) {
                        throw CassetteError(
                            .corrupt, file: path, record: index, offset: fileOffset,
                            "its length field says \(length) bytes, but \(why); `tapedeck cassette repair --salvage \(path)` keeps every valid record"
                        )
                    }
                    if allowTornTail { return }
                    throw CassetteError(
                        .tornTail, file: path, record: index, offset: fileOffset,
                        "the record needs \(length) bytes, the file has \(buffer.readableBytes)")
                }
                let member = buffer.readSlice(length: length)!
                let content: ByteBuffer
                do { content = try GzipMember.decode(member, decompressor: decompressor, allocator: allocator) } catch {
                    throw CassetteError(.corrupt, file: path, record: index, offset: fileOffset, CassetteError.inflating(error))
                }
                for (n, line) in lines(content).enumerated() {
                    try body(index, fileOffset, length, n, line)
                    index += 1
                }
                fileOffset += length
            }
        }
    }

    /// Why the bytes at `rest`'s reader index are not a torn tail: they hold a complete record, or a valid
    /// record starts later. nil when they are just the beginning of a record.
    static func damagedLengthEvidence(_ rest: ByteBuffer, decompressor: ZlibDecompressor, allocator: ByteBufferAllocator) -> String? {
        if (try? GzipMember.decode(rest, decompressor: decompressor, allocator: allocator)) != nil {
            return "the \(rest.readableBytes) bytes left are a complete record"
        }
        if let next = nextValidMember(in: rest, after: 0, decompressor: decompressor, allocator: allocator) {
            return "a valid record starts \(next) bytes further on"
        }
        return nil
    }

    /// The offset (relative to `buffer`'s reader index) of the first valid member starting after `after`.
    static func nextValidMember(in buffer: ByteBuffer, after: Int, decompressor: ZlibDecompressor, allocator: ByteBufferAllocator) -> Int? {
        let view = buffer.readableBytesView
        var i = after + 1
        while i + GzipMember.headerSize <= view.count {
            let base = view.startIndex + i
            if view[base] == 0x1F && view[base + 1] == 0x8B && view[base + 2] == 8 && view[base + 3] == 4,
                let candidate = buffer.getSlice(at: buffer.readerIndex + i, length: view.count - i),
                case .member(let length) = GzipMember.header(candidate), length <= candidate.readableBytes,
                let member = candidate.getSlice(at: candidate.readerIndex, length: length),
                (try? GzipMember.decode(member, decompressor: decompressor, allocator: allocator)) != nil
            {
                return i
            }
            i += 1
        }
        return nil
    }

    static func parseHeader(_ line: ByteBuffer, path: String) throws -> CassetteHeader {
        let header: CassetteHeader
        do { header = try CassetteCoding.decode(CassetteHeader.self, line) } catch {
            throw CassetteError(.notACassette, file: path, record: 0, offset: 0, "the first record is not a cassette header")
        }
        guard header.tapedeck_cassette <= CassetteHeader.currentVersion else {
            throw CassetteError(
                .newerFormat, file: path, record: 0, offset: 0,
                "format version \(header.tapedeck_cassette) is newer than this tapedeck reads (\(CassetteHeader.currentVersion))")
        }
        return header
    }

    /// The `key` field without decoding the whole record: records start `{"key":"` (sorted keys).
    static func key(of line: ByteBuffer, path: String, record: Int, offset: Int) throws -> String {
        let prefix = Array(#"{"key":""#.utf8)
        let view = line.readableBytesView
        if view.starts(with: prefix) {
            var i = view.startIndex + prefix.count
            var escaped = false
            while i < view.endIndex {
                let b = view[i]
                if b == UInt8(ascii: "\\") { escaped = true; i += 2; continue }
                if b == UInt8(ascii: "\"") { break }
                i += 1
            }
            if i < view.endIndex {
                let raw = view[(view.startIndex + prefix.count - 1)...i]
                if !escaped { return String(decoding: raw.dropFirst().dropLast(), as: UTF8.self) }
                if let s = try? JSONDecoder().decode(String.self, from: Data(raw)) { return s }
            }
        }
        do { return try CassetteCoding.decode(Exchange.self, line).key } catch {
            throw CassetteError(.corrupt, file: path, record: record, offset: offset, CassetteReader.notAnExchange(line, error))
        }
    }
}

extension CassetteReader {
    /// Why a record is not an exchange, as a person reads it: a second cassette header (files joined end to
    /// end), or the field that is missing or wrong, not Swift's `DecodingError` dump.
    static func notAnExchange(_ line: ByteBuffer, _ error: Error) -> String {
        if (try? CassetteCoding.decode(CassetteHeader.self, line)) != nil {
            return "a second cassette header: two cassettes were joined end to end (cat a b > c)"
        }
        guard let e = error as? DecodingError else { return "not an exchange record: \(error)" }
        func at(_ path: [CodingKey]) -> String {
            path.isEmpty ? "the record" : path.map { $0.intValue.map { "[\($0)]" } ?? ".\($0.stringValue)" }.joined().drop { $0 == "." }.description
        }
        switch e {
        case .keyNotFound(let key, let c): return "not an exchange record: missing \"\(key.stringValue)\" in \(at(c.codingPath))"
        case .typeMismatch(let type, let c): return "not an exchange record: \(at(c.codingPath)) should be \(type)"
        case .valueNotFound(let type, let c): return "not an exchange record: \(at(c.codingPath)) is null, should be \(type)"
        case .dataCorrupted(let c): return "not an exchange record: \(at(c.codingPath)) is not valid JSON"
        @unknown default: return "not an exchange record: \(error)"
        }
    }
}
