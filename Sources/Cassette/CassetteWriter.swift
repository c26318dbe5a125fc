import CompressNIO
import Foundation
import NIOCore
import Synchronization

/// Appends exchanges to a cassette file, with `write(2)` before returning: when
/// `append` returns, the record is in the file (the kernel's page cache), so a `kill -9` of the proxy
/// afterwards loses nothing a client has been answered with. A single writer: appends are serialised by
/// a lock, so concurrent recorders never interleave or tear records.
///
/// A failed write (disk full, I/O error, quota) is cut back with `ftruncate` to the end of the last
/// complete record before the error is thrown, so the file never holds a torn record in its middle and
/// later appends continue from a clean end once space returns. Before each append the open file is
/// compared with the path, so a cassette removed or replaced while recording is reported, never
/// written into a file nobody will read.
public final class CassetteWriter: Sendable {
    public let path: String
    private struct State {
        var fd: Int32
        var nextSeq: Int
        /// File size, i.e. where the next record starts.
        var size: Int
        let compressor: ZlibCompressor
        /// One more per extra core, for compressing a large batch in parallel (made on first use).
        var helpers: [ZlibCompressor] = []
        /// Every record's entry, when all are known (a new file, or one whose index was valid at open): then
        /// `close` writes the sidecar index.
        var known: [CassetteReader.Entry]?
        /// 1 for a format-1 cassette (its readers expect one record per member), else `recordsPerMember`.
        var perMember = 1
    }
    private let state: Mutex<State?>
    /// This writer's share of the file's lock (`CassetteLock`), released on close.
    private let lockToken: CassetteLock.FileID?
    /// Records of one batch share a member, up to this many (and `memberBytes` of JSON): compressed as one
    /// stream, each record after the first is compressed against the ones before it, so a batch of similar
    /// answers costs a fraction of compressing each alone, and a flipped bit costs at most this many records
    /// (`repair --salvage` keeps the other members). A record read for replay inflates at most its member.
    public static let recordsPerMember = 8
    static let memberBytes = 256 * 1024
    /// zlib level 1 with its full 32 KB window and default memory level: on recorded answers it compresses
    /// as small as level 3 did, and a member of several records finds the earlier ones in its window.
    public static let zlib = ZlibConfiguration(windowSize: .window128k, compressionLevel: .fastestCompression, memoryLevel: .memory128K)
    private let allocator = ByteBufferAllocator()
    /// `write(2)`, replaceable in tests to inject ENOSPC, EIO and short writes.
    let writeBytes: @Sendable (Int32, UnsafeRawPointer, Int) -> Int

    /// The last append's failure, if it failed (for `/__tapedeck/status`); cleared by the next success.
    public var lastError: String? { failure.withLock { $0 } }
    private let failure = Mutex<String?>(nil)

    /// Opens `path` for appending, creating it with `header` (by default a plain one) if it is new or empty.
    /// `existingRecords` is the number of exchanges already in it (from `CassetteReader.index`), so sequence
    /// numbers continue.
    /// `confinedTo`: the file actually opened must lie inside this folder (`--cassette-dir`), whatever was
    /// swapped in at its path or on the way to it since the path was checked.
    public convenience init(path: String, existingRecords: Int = 0, header: CassetteHeader? = nil, confinedTo directory: String? = nil) throws {
        try self.init(path: path, existingRecords: existingRecords, header: header, confinedTo: directory) { Foundation.write($0, $1, $2) }
    }

    init(
        path: String, existingRecords: Int = 0, header: CassetteHeader? = nil, confinedTo directory: String? = nil,
        writeBytes: @escaping @Sendable (Int32, UnsafeRawPointer, Int) -> Int
    ) throws {
        self.path = path
        self.writeBytes = writeBytes
        let fd = try directory.map { try CassetteWriter.openConfined(path, to: $0) }
            ?? open(path, O_RDWR | O_APPEND | O_CREAT | O_CLOEXEC, 0o644)  // read too: the index fingerprints what was written
        guard fd >= 0 else { throw CassetteError(.io, file: path, "cannot open for writing: \(String(cString: strerror(errno)))") }
        do { lockToken = try CassetteLock.acquire(fd, path: path) } catch {
            Foundation.close(fd)
            throw error
        }
        var st = stat()
        fstat(fd, &st)
        let compressor: ZlibCompressor
        do { compressor = try GzipMember.makeCompressor(CassetteWriter.zlib) } catch {
            CassetteLock.release(lockToken)
            Foundation.close(fd)
            throw CassetteError(.io, file: path, "zlib: \(error)")
        }
        var known: [CassetteReader.Entry]?
        if st.st_size == 0 {
            CassetteIndex.remove(for: path)
            known = []
        } else if let index = CassetteIndex.load(for: path, fd: fd, size: Int(st.st_size)), index.covered == Int(st.st_size),
            index.entries.count == existingRecords
        {
            known = index.entries
        }
        // Several records per member only where every reader of the file expects it (format 2 on).
        let version: Int
        if st.st_size == 0 {
            version = header?.tapedeck_cassette ?? CassetteHeader.currentVersion
        } else {
            var found: Int?
            try? CassetteReader.walk(
                fd: fd, path: path, allowTornTail: true, decompressor: try ZlibDecompressor(algorithm: .deflate),
                allocator: allocator, limit: 1, blockSize: 64 << 10  // the header member only, not a 4 MiB block
            ) { index, _, _, _, line in
                if index == 0, let h = try? CassetteCoding.decode(CassetteHeader.self, line) { found = h.tapedeck_cassette }
            }
            // Records are never appended to a file that is not a cassette (one written at the path after the proxy
            // checked it, a HAR, notes): that would ruin the file and record nothing anyone can replay.
            guard let found else {
                CassetteLock.release(lockToken)
                Foundation.close(fd)
                throw CassetteError(
                    .notACassette, file: path,
                    "it holds other data, or its first record is damaged; nothing was appended to it: record into another file, or `tapedeck cassette repair \(path)` if it is a cassette")
            }
            version = found
        }
        state = Mutex(
            State(
                fd: fd, nextSeq: existingRecords + 1, size: Int(st.st_size), compressor: compressor, known: known,
                perMember: version >= 2 ? CassetteWriter.recordsPerMember : 1))
        if st.st_size == 0 {
            try writeLine(CassetteCoding.encode(header ?? CassetteHeader(createdAt: Timestamp.iso8601(Date()))))
        }
    }

    /// Appends `exchange` (its `seq` is assigned here); returns the index entry of the stored record.
    @discardableResult
    public func append(_ exchange: Exchange) throws -> CassetteReader.Entry {
        try append(contentsOf: [exchange])[0]
    }

    /// Appends `exchanges` in order with one `write(2)` (group commit), assigning their `seq`s; returns
    /// their index entries. All of them are in the file when it returns, or none: a failed write is cut
    /// back to where the batch began.
    @discardableResult
    public func append(contentsOf exchanges: [Exchange]) throws -> [CassetteReader.Entry] {
        try state.withLock { s throws -> [CassetteReader.Entry] in
            guard var st = s else { throw CassetteError(.io, file: path, "the cassette is closed") }
            var entries: [CassetteReader.Entry] = []
            entries.reserveCapacity(exchanges.count)
            do {
                try checkSameFile(st.fd)
                let (batch, members) = try members(exchanges, firstSeq: st.nextSeq, &st)
                var offset = st.size
                for member in members {
                    for line in 0..<member.records {
                        let i = entries.count
                        entries.append(
                            CassetteReader.Entry(seq: st.nextSeq + i, key: exchanges[i].key, offset: offset, length: member.length, line: line))
                    }
                    offset += member.length
                }
                try writeAll(batch, &st)
            } catch {
                failure.withLock { $0 = "\(error)" }
                throw error
            }
            failure.withLock { $0 = nil }
            st.nextSeq += exchanges.count
            st.known? += entries
            s = st
            return entries
        }
    }

    /// Throws if appending cannot work now: closed, the path no longer names the open file (removed or
    /// replaced), or the file system is (nearly) full. The proxy asks before it forwards a request it
    /// must record, so nothing is sent upstream that cannot be written down.
    public func checkUsable(room: Int = 64 * 1024) throws {
        try state.withLock { s throws in
            guard let st = s else { throw CassetteError(.io, file: path, "the cassette is closed") }
            try checkSameFile(st.fd)
            var vfs = statvfs()
            if fstatvfs(st.fd, &vfs) == 0 {
                let free = Int(vfs.f_bavail) * Int(vfs.f_frsize)
                if free < room {
                    throw CassetteError(.io, file: path, "its file system has \(free) bytes free, under the \(room) a record is allowed to need (appending is refused rather than leave a torn record); free some space and retry")
                }
            }
        }
    }

    private func checkSameFile(_ fd: Int32) throws {
        var open = stat(), named = stat()
        guard fstat(fd, &open) == 0 else {
            throw CassetteError(.io, file: path, "cannot stat the open cassette: \(String(cString: strerror(errno)))")
        }
        guard stat(path, &named) == 0 else {
            throw CassetteError(
                .io, file: path, "was removed while recording; nothing more is written to it (switch cassettes or restart the proxy)")
        }
        guard open.st_ino == named.st_ino && open.st_dev == named.st_dev else {
            throw CassetteError(
                .io, file: path,
                "was replaced by another file while recording; nothing more is written to it (switch cassettes or restart the proxy)")
        }
    }

    /// Records written so far (including those present when opened).
    public var count: Int { state.withLock { ($0?.nextSeq ?? 1) - 1 } }

    /// Flushes to stable storage (fsync).
    public func sync() {
        state.withLock { s in if let fd = s?.fd { fsync(fd) } }
    }

    public func close() {
        state.withLock { s in
            if let st = s {
                fsync(st.fd)
                if let known = st.known, known.count >= CassetteIndex.minimumRecords {
                    CassetteIndex.write(for: path, fd: st.fd, entries: known, covered: st.size)
                }
                Foundation.close(st.fd)
                CassetteLock.release(lockToken)
            }
            s = nil
        }
    }

    deinit { close() }

    private func writeLine(_ line: [UInt8]) throws {
        try state.withLock { s throws in
            guard var st = s else { return }
            try write(line, &st)
            s = st
        }
    }

    private func write(_ line: [UInt8], _ st: inout State) throws {
        var member = allocator.buffer(capacity: line.count / 2 + 64)
        try appendMember(line, to: &member, compressor: st.compressor)
        try writeAll(member, &st)
    }

    /// Batches at least this large are encoded and compressed on every core, in contiguous parts.
    static let parallelBatch = 64

    /// The members of `exchanges` (numbered from `firstSeq`) back to back, and each one's length and record
    /// count: consecutive records share a member up to `perMember` records or `memberBytes`. A large batch
    /// is split into one contiguous part per core, each encoded and compressed by its own thread and
    /// compressor, and the parts joined in order.
    private func members(_ exchanges: [Exchange], firstSeq: Int, _ st: inout State) throws -> (ByteBuffer, [(length: Int, records: Int)]) {
        let wanted = exchanges.count >= CassetteWriter.parallelBatch ? min(CassetteWriter.cores, exchanges.count / 32) : 1
        let per = max(1, (exchanges.count + wanted - 1) / wanted)
        // Parts of `per` records: with many cores the last planned parts could be empty.
        let parts = max(1, (exchanges.count + per - 1) / per)
        if parts > 1 && st.helpers.count < parts - 1 {
            for _ in st.helpers.count..<(parts - 1) {
                do { st.helpers.append(try GzipMember.makeCompressor(CassetteWriter.zlib)) } catch {
                    throw CassetteError(.io, file: path, "zlib: \(error)")
                }
            }
        }
        let compressors = [st.compressor] + st.helpers
        let perMember = st.perMember
        typealias Part = (ByteBuffer, [(length: Int, records: Int)])
        // Each part writes only its own slot.
        nonisolated(unsafe) let results = UnsafeMutableBufferPointer<Result<Part, Error>>.allocate(capacity: parts)
        defer { results.deallocate() }
        let encodePart: (Int) -> Void = { part in
            let range = (part * per)..<min(exchanges.count, (part + 1) * per)
            var out = self.allocator.buffer(capacity: 512 * range.count)
            var members: [(length: Int, records: Int)] = []
            var payload = self.allocator.buffer(capacity: 16 * 1024)
            do {
                var i = range.lowerBound
                while i < range.upperBound {
                    payload.clear()
                    var records = 0
                    while i < range.upperBound && records < perMember && (records == 0 || payload.readableBytes < CassetteWriter.memberBytes) {
                        var e = exchanges[i]
                        e.seq = firstSeq + i
                        payload.writeBytes(ExchangeEncoder.encode(e))
                        payload.writeInteger(UInt8(ascii: "\n"))
                        records += 1
                        i += 1
                    }
                    let before = out.writerIndex
                    try self.compress(payload, into: &out, compressor: compressors[part])
                    members.append((out.writerIndex - before, records))
                }
                (results.baseAddress! + part).initialize(to: .success((out, members)))
            } catch {
                (results.baseAddress! + part).initialize(to: .failure(error))
            }
        }
        if parts == 1 {
            encodePart(0)
        } else {
            nonisolated(unsafe) let work = encodePart
            DispatchQueue.concurrentPerform(iterations: parts) { work($0) }
        }
        var batch = allocator.buffer(capacity: 0)
        var members: [(length: Int, records: Int)] = []
        var failure: Error?
        for part in 0..<parts {
            switch (results.baseAddress! + part).move() {
            case .success(let (part0, m)):
                var out = part0
                if failure == nil {
                    if part == 0 { batch = out } else { batch.writeBuffer(&out) }
                    members += m
                }
            case .failure(let error): failure = failure ?? error
            }
        }
        if let failure { throw failure }
        return (batch, members)
    }

    private static let cores = max(1, ProcessInfo.processInfo.activeProcessorCount)

    /// One record's gzip member, behind whatever `out` holds.
    private func appendMember(_ line: [UInt8], to out: inout ByteBuffer, compressor: ZlibCompressor) throws {
        var payload = allocator.buffer(capacity: line.count + 1)
        payload.writeBytes(line)
        payload.writeInteger(UInt8(ascii: "\n"))
        try compress(payload, into: &out, compressor: compressor)
    }

    /// One member of `payload` (whole JSON lines), behind whatever `out` holds.
    private func compress(_ payload: ByteBuffer, into out: inout ByteBuffer, compressor: ZlibCompressor) throws {
        do { try GzipMember.encode(payload, compressor: compressor, into: &out) } catch {
            throw CassetteError(.io, file: path, "compressing record: \(error)")
        }
    }

    /// Writes `member` (one or more whole records) at the end of the file, or cuts a partial write off.
    private func writeAll(_ member: ByteBuffer, _ st: inout State) throws {
        let size = st.size, fd = st.fd
        try member.withUnsafeReadableBytes { raw in
            guard let base = raw.baseAddress else { return }
            var done = 0
            while done < raw.count {
                let n = writeBytes(fd, base + done, raw.count - done)
                if n < 0 && errno == EINTR { continue }
                if n <= 0 {
                    let cause = n < 0 ? String(cString: strerror(errno)) : "no progress"
                    // Cut the partial record off, so the file ends with its last complete record.
                    let cut =
                        ftruncate(fd, off_t(size)) == 0
                        ? ""
                        : "; cutting the partial record off failed too (\(String(cString: strerror(errno)))), run `tapedeck cassette repair \(path)`"
                    throw CassetteError(.io, file: path, "write failed: \(cause)\(cut); the exchanges of this write are not in the file (the ones before them are)")
                }
                done += n
            }
        }
        st.size += member.readableBytes
    }
}

/// JSON Lines coding with a fixed key order (sorted) and unescaped slashes, so records diff cleanly.
public enum CassetteCoding {
    public static func encode<T: Encodable>(_ value: T) throws -> [UInt8] {
        let e = JSONEncoder()
        e.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return Array(try e.encode(value))
    }

    public static func decode<T: Decodable>(_ type: T.Type, _ bytes: ByteBuffer) throws -> T {
        try JSONDecoder().decode(type, from: Data(bytes.readableBytesView))
    }
}

/// UTC timestamps with milliseconds (`2026-01-01T00:00:00.000Z`), written digit by digit: `String(format:)`
/// cost a recording proxy about three microseconds per exchange on its event loop.
public enum Timestamp {
    public static func iso8601(_ date: Date) -> String {
        let t = date.timeIntervalSince1970
        guard t.isFinite, abs(t) < 1e15 else { return "1970-01-01T00:00:00.000Z" }
        var secs = time_t(t.rounded(.down))
        let ms = min(999, max(0, Int((t - Double(secs)) * 1000)))
        var tm = tm()
        gmtime_r(&secs, &tm)
        let year = Int(tm.tm_year) + 1900
        guard (0...9999).contains(year) else {
            return String(
                format: "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", year, Int(tm.tm_mon) + 1, Int(tm.tm_mday), Int(tm.tm_hour),
                Int(tm.tm_min), Int(tm.tm_sec), ms)
        }
        return String(unsafeUninitializedCapacity: 24) { out in
            var k = 0
            func put(_ value: Int, _ digits: Int, _ after: Unicode.Scalar) {
                var v = value
                for i in stride(from: digits - 1, through: 0, by: -1) {
                    out[k + i] = UInt8(ascii: "0") + UInt8(v % 10)
                    v /= 10
                }
                out[k + digits] = UInt8(ascii: after)
                k += digits + 1
            }
            put(year, 4, "-")
            put(Int(tm.tm_mon) + 1, 2, "-")
            put(Int(tm.tm_mday), 2, "T")
            put(Int(tm.tm_hour), 2, ":")
            put(Int(tm.tm_min), 2, ":")
            put(Int(tm.tm_sec), 2, ".")
            put(ms, 3, "Z")
            return k
        }
    }
}

extension CassetteWriter {
    /// Opens `path` for appending, only as the file inside `directory` it is: an existing name is opened and the
    /// open file's own path (`/proc/self/fd`) checked; a new one is created exclusively, never through a symlink,
    /// and removed again if a folder on the way was swapped for a link out. -1 with `errno` when it cannot open.
    static func openConfined(_ path: String, to directory: String) throws -> Int32 {
        let flags = O_RDWR | O_APPEND | O_CLOEXEC
        var created = false
        var fd = open(path, flags)
        if fd < 0, errno == ENOENT {
            fd = open(path, flags | O_CREAT | O_EXCL | O_NOFOLLOW, 0o644)
            created = fd >= 0
            if fd < 0, errno == EEXIST || errno == ELOOP {
                throw CassetteError(
                    .io, file: path, "is a symbolic link to a file that does not exist; nothing was written: name a file inside --cassette-dir \(directory)")
            }
        }
        guard fd >= 0 else { return fd }
        guard let real = realpath(directory, nil) else {
            Foundation.close(fd)
            throw CassetteError(.io, file: path, "--cassette-dir \(directory) cannot be resolved: \(String(cString: strerror(errno)))")
        }
        let dir = String(cString: real)
        free(real)
        var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
        let n = readlink("/proc/self/fd/\(fd)", &buffer, buffer.count - 1)
        let opened = n > 0 ? String(decoding: buffer[..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self) : ""
        guard n > 0, opened.hasPrefix(dir == "/" ? "/" : dir + "/") else {
            if created, n > 0 { unlink(opened) }
            Foundation.close(fd)
            throw CassetteError(
                .io, file: path,
                "leads outside --cassette-dir \(directory) (to \(n > 0 ? opened : "a file it cannot name")); nothing was written: name a file inside it")
        }
        return fd
    }
}
