import Cassette
import Foundation
import Matching
import NIOCore
import Synchronization

/// One open cassette: its replay index (built from the file), its writer (opened when recording), and a
/// cache of replay responses already decoded, so a hot exchange is read from disk once.
final class CassetteSession: Sendable {
    let path: String
    let replay: ReplayIndex
    /// Hosts of the recorded keys, for origin-form requests in replay without `--upstream`.
    let recordedHosts: [String]
    private let reader: Mutex<CassetteReader?>
    private let writer: Mutex<CassetteWriter?>
    private let cache = Mutex<[Int: ProxyResponse]>([:])
    private static let cacheLimit = 100_000

    init(path: String, policy: ExhaustedPolicy, writable: Bool = true) throws {
        self.path = path
        try CassettePath.check(path, writable: writable)
        let reader: CassetteReader?
        if access(path, F_OK) == 0 {
            reader = try CassetteReader(path: path)
        } else {
            reader = nil
        }
        let entries = reader?.entries ?? []
        replay = ReplayIndex(entries: entries, policy: policy)
        var hosts = Set<String>()
        for e in entries {
            if let target = RequestKey.fields(e.key)["target"], let slash = target.firstIndex(of: "/") { hosts.insert(String(target[..<slash])) }
        }
        recordedHosts = hosts.sorted()
        self.reader = Mutex(reader)
        self.writer = Mutex(nil)
    }

    var recordedCount: Int { replay.count }

    /// The stored exchange for `entry`, as a ready response (cached).
    func response(for entry: CassetteReader.Entry, allocator: ByteBufferAllocator) throws -> ProxyResponse {
        if let hit = cache.withLock({ $0[entry.seq] }) { return hit }
        let exchange: Exchange = try reader.withLock { r in
            if r == nil { r = try CassetteReader(path: path) }
            // A record appended by this session is beyond the reader's index, but readable by offset.
            return try r!.exchange(entry)
        }
        let response = ProxyResponse(exchange.response, allocator: allocator)
        cache.withLock { c in if c.count < CassetteSession.cacheLimit { c[entry.seq] = response } }
        return response
    }

    /// Appends an exchange (opening the writer on first use); returns the index entry for it.
    func append(_ exchange: Exchange) throws -> CassetteReader.Entry {
        try writer.withLock { w in
            if w == nil { w = try CassetteWriter(path: path, existingRecords: replay.count) }
            return try w!.append(exchange)
        }
    }

    /// Opens the writer if needed and checks that an append can work now (writable, still the same file,
    /// room on disk), before a request that must be recorded is forwarded.
    func prepareForRecording() throws {
        try writer.withLock { w in
            if w == nil { w = try CassetteWriter(path: path, existingRecords: replay.count) }
            try w!.checkUsable()
        }
    }

    /// The last append's failure, if the last append failed.
    var lastWriteError: String? { writer.withLock { $0?.lastError } }

    func flush() { writer.withLock { $0?.sync() } }

    func close() {
        writer.withLock { w in w?.close(); w = nil }
    }
}
