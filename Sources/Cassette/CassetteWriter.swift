import CompressNIO
import Foundation
import NIOCore
import Synchronization

/// Appends exchanges to a cassette file, one gzip member each, with `write(2)` before returning: when
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
    }
    private let state: Mutex<State?>
    private let allocator = ByteBufferAllocator()
    /// `write(2)`, replaceable in tests to inject ENOSPC, EIO and short writes.
    let writeBytes: @Sendable (Int32, UnsafeRawPointer, Int) -> Int

    /// The last append's failure, if it failed (for `/__tapedeck/status`); cleared by the next success.
    public var lastError: String? { failure.withLock { $0 } }
    private let failure = Mutex<String?>(nil)

    /// Opens `path` for appending, creating it with `header` (by default a plain one) if it is new or empty.
    /// `existingRecords` is the number of exchanges already in it (from `CassetteReader.index`), so sequence
    /// numbers continue.
    public convenience init(path: String, existingRecords: Int = 0, header: CassetteHeader? = nil) throws {
        try self.init(path: path, existingRecords: existingRecords, header: header) { Foundation.write($0, $1, $2) }
    }

    init(
        path: String, existingRecords: Int = 0, header: CassetteHeader? = nil,
        writeBytes: @escaping @Sendable (Int32, UnsafeRawPointer, Int) -> Int
    ) throws {
        self.path = path
        self.writeBytes = writeBytes
        let fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw CassetteError(.io, file: path, "cannot open for writing: \(String(cString: strerror(errno)))") }
        var st = stat()
        fstat(fd, &st)
        let compressor: ZlibCompressor
        do { compressor = try ZlibCompressor(algorithm: .deflate, configuration: .init(compressionLevel: .compressionLevel3)) } catch {
            Foundation.close(fd)
            throw CassetteError(.io, file: path, "zlib: \(error)")
        }
        state = Mutex(State(fd: fd, nextSeq: existingRecords + 1, size: Int(st.st_size), compressor: compressor))
        if st.st_size == 0 {
            try writeLine(CassetteCoding.encode(header ?? CassetteHeader(createdAt: Timestamp.iso8601(Date()))))
        }
    }

    /// Appends `exchange` (its `seq` is assigned here); returns the index entry of the stored record.
    @discardableResult
    public func append(_ exchange: Exchange) throws -> CassetteReader.Entry {
        try state.withLock { s throws -> CassetteReader.Entry in
            guard var st = s else { throw CassetteError(.io, file: path, "the cassette is closed") }
            var e = exchange
            e.seq = st.nextSeq
            let offset = st.size
            do {
                try checkSameFile(st.fd)
                try write(ExchangeEncoder.encode(e), &st)
            } catch {
                failure.withLock { $0 = "\(error)" }
                throw error
            }
            failure.withLock { $0 = nil }
            st.nextSeq += 1
            s = st
            return CassetteReader.Entry(seq: e.seq, key: e.key, offset: offset, length: st.size - offset)
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
                    throw CassetteError(.io, file: path, "no space left on its file system (\(free) bytes free); free some space and retry")
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
            if let fd = s?.fd { fsync(fd); Foundation.close(fd) }
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
        var payload = allocator.buffer(capacity: line.count + 1)
        payload.writeBytes(line)
        payload.writeInteger(UInt8(ascii: "\n"))
        let member: ByteBuffer
        do { member = try GzipMember.encode(payload, compressor: st.compressor, allocator: allocator) } catch {
            throw CassetteError(.io, file: path, "compressing record: \(error)")
        }
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
                    throw CassetteError(.io, file: path, "write failed: \(cause)\(cut); this exchange was not recorded")
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

/// UTC timestamps with milliseconds (`2026-01-01T00:00:00.000Z`), without a formatter object per call.
public enum Timestamp {
    public static func iso8601(_ date: Date) -> String {
        let t = date.timeIntervalSince1970
        var secs = time_t(t.rounded(.down))
        let ms = Int((t - Double(secs)) * 1000)
        var tm = tm()
        gmtime_r(&secs, &tm)
        return String(
            format: "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", Int(tm.tm_year) + 1900, Int(tm.tm_mon) + 1, Int(tm.tm_mday),
            Int(tm.tm_hour), Int(tm.tm_min), Int(tm.tm_sec), ms)
    }
}
