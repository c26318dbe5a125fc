import CompressNIO
import Foundation
import NIOCore
import Synchronization

/// Appends exchanges to a cassette file, one gzip member each, with `write(2)` before returning: when
/// `append` returns, the record is in the file (the kernel's page cache), so a `kill -9` of the proxy
/// afterwards loses nothing a client has been answered with. A single writer: appends are serialised by
/// a lock, so concurrent recorders never interleave or tear records.
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

    /// Opens `path` for appending, creating it with a header if it is new or empty. `existingRecords` is
    /// the number of exchanges already in it (from `CassetteReader.index`), so sequence numbers continue.
    public init(path: String, existingRecords: Int = 0) throws {
        self.path = path
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
            let header = CassetteHeader(createdAt: Timestamp.iso8601(Date()))
            try writeLine(CassetteCoding.encode(header))
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
            try write(ExchangeEncoder.encode(e), &st)
            st.nextSeq += 1
            s = st
            return CassetteReader.Entry(seq: e.seq, key: e.key, offset: offset, length: st.size - offset)
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
        try member.withUnsafeReadableBytes { raw in
            var done = 0
            while done < raw.count {
                let n = Foundation.write(st.fd, raw.baseAddress! + done, raw.count - done)
                if n < 0 {
                    if errno == EINTR { continue }
                    throw CassetteError(.io, file: path, "write failed: \(String(cString: strerror(errno)))")
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
        return String(format: "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", Int(tm.tm_year) + 1900, Int(tm.tm_mon) + 1, Int(tm.tm_mday),
                      Int(tm.tm_hour), Int(tm.tm_min), Int(tm.tm_sec), ms)
    }
}
