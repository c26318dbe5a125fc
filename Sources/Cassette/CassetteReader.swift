import CompressNIO
import Foundation
import NIOCore

/// Reads cassettes: walks members by their length field, so building the replay index costs one inflate
/// per record and keeps only (key, offset, length) in memory; bodies are read again by offset on demand.
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
        public var offset: Int
        public var length: Int

        public init(seq: Int, key: String, offset: Int, length: Int) {
            self.seq = seq
            self.key = key
            self.offset = offset
            self.length = length
        }
    }

    private let fd: Int32
    private let decompressor: ZlibDecompressor
    private let allocator = ByteBufferAllocator()

    /// Opens and indexes `path`. With `allowTornTail`, an incomplete last record is left out instead of
    /// being an error (`repair` uses this; so does recording into an existing cassette after truncating).
    /// - Parameter indexFrom: write the sidecar index (`CassetteIndex`) after walking a cassette of at
    ///   least this many records.
    public init(path: String, allowTornTail: Bool = false, indexFrom: Int = CassetteIndex.minimumRecords) throws {
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
            let collect: (Int, Int, Int, ByteBuffer) throws -> Void = { index, offset, length, line in
                if index == 0 {
                    header = try CassetteReader.parseHeader(line, path: path)
                } else {
                    entries.append(
                        Entry(
                            seq: index, key: try CassetteReader.key(of: line, path: path, record: index, offset: offset), offset: offset,
                            length: length))
                }
                valid = offset + length
            }
            if let known = CassetteIndex.load(for: path, fd: fd, size: size) {
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
            throw CassetteError(.notACassette, file: path, "the file is empty")
        }
        self.header = header
        self.entries = entries
        self.validLength = valid
    }

    deinit { Foundation.close(fd) }

    /// Reads and decodes one record.
    public func exchange(_ entry: Entry) throws -> Exchange {
        var member = allocator.buffer(capacity: entry.length)
        let n = member.writeWithUnsafeMutableBytes(minimumWritableBytes: entry.length) { out in
            pread(fd, out.baseAddress!, entry.length, off_t(entry.offset))
        }
        guard n == entry.length else { throw CassetteError(.io, file: path, record: entry.seq, offset: entry.offset, "short read") }
        do {
            let line = try GzipMember.decode(member, decompressor: decompressor, allocator: allocator)
            return try CassetteCoding.decode(Exchange.self, line)
        } catch let e as CassetteError { throw e } catch {
            throw CassetteError(.corrupt, file: path, record: entry.seq, offset: entry.offset, "\(error)")
        }
    }

    /// All exchanges, decoded (for `show`, `diff`, HAR export; not for replaying large cassettes).
    public func allExchanges() throws -> [Exchange] { try entries.map { try exchange($0) } }

    // MARK: walking members

    /// Calls `body(index, offset, length, decompressed line)` for each member in order; index 0 is the header.
    static func walk(
        fd: Int32, path: String, allowTornTail: Bool, decompressor: ZlibDecompressor, allocator: ByteBufferAllocator,
        from start: Int = 0, firstIndex: Int = 0, limit: Int = .max,
        _ body: (Int, Int, Int, ByteBuffer) throws -> Void
    ) throws {
        let block = 4 << 20
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
                let line: ByteBuffer
                do { line = try GzipMember.decode(member, decompressor: decompressor, allocator: allocator) } catch {
                    throw CassetteError(.corrupt, file: path, record: index, offset: fileOffset, "\(error)")
                }
                try body(index, fileOffset, length, line)
                fileOffset += length
                index += 1
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
            throw CassetteError(.corrupt, file: path, record: record, offset: offset, "not an exchange record: \(error)")
        }
    }
}
