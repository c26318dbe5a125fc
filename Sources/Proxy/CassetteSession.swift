import Cassette
import CloudSigning
import Foundation
import Matching
import NIOCore
import NIOPosix
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

    /// The ignore rules in force: the cassette header's (what its keys were made with) and the user's.
    let matchConfig: MatchConfig
    /// `--profile`, when every request uses one profile.
    let profileOverride: MatchProfile?
    /// The built-in profiles with `matchConfig` folded in.
    private let profiles: [String: MatchProfile]
    /// Warnings for the header of a cassette this session creates (said before its first record).
    private let headerWarnings = Mutex<[String]>([])

    /// `--cassette-dir`, for a cassette named through the control API: checked again when the writer opens the
    /// file (a symlink put at a name not yet created, after the switch, would lead the records out of it).
    let confinement: String?

    init(
        path: String, policy: ExhaustedPolicy, writable: Bool = true, matchConfig: MatchConfig = MatchConfig(),
        profile: MatchProfile? = nil, confinedTo confinement: String? = nil
    ) throws {
        self.path = path
        self.confinement = confinement
        try CassettePath.check(path, writable: writable)
        if writable { try CassetteLock.checkNotBusy(path) }
        let reader: CassetteReader?
        var st = stat()
        if writable, stat(path, &st) == 0, st.st_size == 0 {
            reader = nil  // an empty file (a first write that failed, a `touch`) is a new cassette: the writer starts it
        } else if access(path, F_OK) == 0 {
            reader = try CassetteReader(path: path)
        } else {
            reader = nil
        }
        let effective = MatchConfig(stored: reader?.header.ignore ?? [:]).merging(matchConfig)
        self.matchConfig = effective
        profileOverride = profile.map { effective.applied(to: $0) }
        profiles = effective.appliedProfiles
        var entries = reader?.entries ?? []
        if let reader, !effective.isEmpty {
            // Keys made with other rules (or none) are made again from each stored request: one decode per
            // record at open, only when rules are in force.
            for i in entries.indices {
                let e = try reader.exchange(entries[i])
                let p = profileOverride ?? MatchProfile.named(e.profile).map { effective.applied(to: $0) }
                entries[i].key = RequestKey.of(recorded: e.request, profile: p, config: effective).key.string
            }
        }
        replay = ReplayIndex(entries: entries, policy: policy)
        var hosts = Set<String>()
        for e in entries {
            let host = RequestKey(parsing: e.key).host
            if !host.isEmpty { hosts.insert(host) }
        }
        recordedHosts = hosts.sorted()
        self.reader = Mutex(reader)
        self.writer = Mutex(nil)
        identity.withLock { $0 = CassetteSession.identity(of: path) }
    }

    /// The matching profile for a request: `--profile` or the detected one, with the ignore rules folded in.
    func profile(for request: SignableRequest) -> MatchProfile {
        if let profileOverride { return profileOverride }
        let detected = MatchProfile.detect(request)
        return profiles[detected.name] ?? detected
    }

    /// Adds a warning to the header of the cassette, if this session has not written it yet.
    func warnInHeader(_ warning: String) {
        headerWarnings.withLock { if !$0.contains(warning) { $0.append(warning) } }
    }

    private func openWriter() throws -> CassetteWriter {
        if let dir = confinement, !ControlAPI.isInside(path, dir) {
            throw CassetteError(
                .io, file: path,
                "now leads outside --cassette-dir \(dir) (a symlink put there after the switch); nothing was written: switch to a file inside it")
        }
        let header = CassetteHeader(
            createdAt: Timestamp.iso8601(Date()), ignore: matchConfig.stored,
            warnings: headerWarnings.withLock { $0 })
        let w = try CassetteWriter(path: path, existingRecords: replay.count, header: header, confinedTo: confinement)
        identity.withLock { $0 = CassetteSession.identity(of: path) }
        return w
    }

    /// The stored request of `entry` (for showing which ignored parts differed).
    func recordedRequest(_ entry: CassetteReader.Entry) throws -> Exchange.Request {
        try reader.withLock { r in
            if r == nil { r = try CassetteReader(path: path) }
            return try r!.exchange(entry).request
        }
    }

    var recordedCount: Int { replay.count }

    /// The answer for `entry` if it has been read before (no I/O: safe on an event loop).
    func cachedResponse(for entry: CassetteReader.Entry) -> ProxyResponse? { cache.withLock { $0[entry.seq] } }

    /// The stored exchange for `entry`, as a ready response (cached). Reads the file: not on an event loop.
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

    /// Recording reservations: taken by `prepareForRecording` before a request is forwarded, released by
    /// its `append` (or `abandonRecording` when nothing came back). A retired session (the control API
    /// switched cassettes) closes when the last reservation is released, so exchanges in flight still land
    /// in the file they started in; after that, and after `close()`, appends are refused, never a silent
    /// reopen of the file. Guarded by the writer's lock.
    private struct Life {
        var pending = 0
        var retiring = false
        var closed = false
    }
    private let life = Mutex(Life())

    private func refuse() -> CassetteError {
        CassetteError(.io, file: path, "the cassette was closed (the proxy is stopping or switched cassettes); nothing was appended")
    }

    /// Appends an exchange recorded under a reservation (opening the writer on first use); returns the index
    /// entry for it. Releases the reservation.
    func append(_ exchange: Exchange) throws -> CassetteReader.Entry {
        try writer.withLock { w in
            defer { release(&w) }
            guard !life.withLock({ $0.closed }) else { throw refuse() }
            if w == nil { w = try openWriter() }
            return try w!.append(exchange)
        }
    }

    /// Appends exchanges recorded under reservations, in order, with one write (group commit); releases
    /// their reservations.
    func append(contentsOf exchanges: [Exchange]) throws -> [CassetteReader.Entry] {
        try writer.withLock { w in
            defer { for _ in exchanges { release(&w) } }
            guard !life.withLock({ $0.closed }) else { throw refuse() }
            if w == nil { w = try openWriter() }
            return try w!.append(contentsOf: exchanges)
        }
    }

    /// Exchanges waiting for the writer thread (each with what makes it storable, and its promise), and
    /// whether a drain is under way there.
    private struct Pending {
        var exchange: Exchange
        var prepare: @Sendable (Exchange) -> Exchange
        var promise: EventLoopPromise<CassetteReader.Entry>
    }
    private struct CommitQueue {
        var pending: [Pending] = []
        var draining = false
    }
    private let commitQueue = Mutex(CommitQueue())

    /// Group commit: `exchange` is prepared (redacted), encoded, compressed and written on `pool`'s thread
    /// together with every exchange that arrived while the previous write was under way, one `write(2)`
    /// for all. The future succeeds once its record is in the file, so an answer still leaves only after
    /// its exchange is written.
    func commit(
        _ exchange: Exchange, prepare: @escaping @Sendable (Exchange) -> Exchange, pool: NIOThreadPool, on loop: EventLoop
    ) -> EventLoopFuture<CassetteReader.Entry> {
        let promise = loop.makePromise(of: CassetteReader.Entry.self)
        let start = commitQueue.withLock { q -> Bool in
            q.pending.append(Pending(exchange: exchange, prepare: prepare, promise: promise))
            if q.draining { return false }
            q.draining = true
            return true
        }
        if start {
            pool.runIfActive(eventLoop: loop) { self.drain() }.whenFailure { error in self.drain(failing: error) }
        }
        return promise.futureResult
    }

    /// Writes batches until nothing is waiting (on the writer thread), or fails them all with `failing`.
    private func drain(failing: Error? = nil) {
        while true {
            let batch = commitQueue.withLock { q -> [Pending] in
                if q.pending.isEmpty { q.draining = false }
                defer { q.pending.removeAll(keepingCapacity: true) }
                return q.pending
            }
            if batch.isEmpty { return }
            if let failing {
                writer.withLock { w in for _ in batch { release(&w) } }
                for item in batch { item.promise.fail(failing) }
                continue
            }
            do {
                let entries = try append(contentsOf: batch.map { $0.prepare($0.exchange) })
                for (item, entry) in zip(batch, entries) { item.promise.succeed(entry) }
            } catch {
                for item in batch { item.promise.fail(error) }
            }
        }
    }

    /// Opens the writer if needed and checks that an append can work now (writable, still the same file,
    /// room on disk), before a request that must be recorded is forwarded; takes a reservation.
    func prepareForRecording() throws {
        try writer.withLock { w in
            guard !life.withLock({ $0.closed || $0.retiring }) else { throw refuse() }
            if w == nil { w = try openWriter() }
            try w!.checkUsable()
            life.withLock { $0.pending += 1 }
        }
    }

    /// Releases a reservation whose exchange will not be appended (the upstream failed).
    func abandonRecording() { writer.withLock { w in release(&w) } }

    private func release(_ w: inout CassetteWriter?) {
        let closeNow = life.withLock { l -> Bool in
            l.pending = max(0, l.pending - 1)
            if l.retiring && l.pending == 0 && !l.closed { l.closed = true; return true }
            return false
        }
        if closeNow { w?.close(); w = nil }
    }

    /// No new recordings; closes once the ones in flight are written. - Returns: whether it is closed now.
    @discardableResult
    func retire() -> Bool {
        writer.withLock { w in
            let closeNow = life.withLock { l -> Bool in
                l.retiring = true
                if l.pending == 0 && !l.closed { l.closed = true; return true }
                return false
            }
            if closeNow { w?.close(); w = nil }
            return life.withLock { $0.closed }
        }
    }

    /// Takes a retired session back into service while it is still open (exchanges in flight kept it open).
    /// - Returns: false when it has closed meanwhile.
    func revive() -> Bool {
        writer.withLock { _ in
            life.withLock { l in
                guard !l.closed else { return false }
                l.retiring = false
                return true
            }
        }
    }

    var isClosed: Bool { life.withLock { $0.closed } }

    /// The device and inode of the file this session opened (at open, or when its writer created it).
    private let identity = Mutex<(dev: UInt64, ino: UInt64)?>(nil)

    private static func identity(of path: String) -> (dev: UInt64, ino: UInt64)? {
        var st = stat()
        return stat(path, &st) == 0 ? (UInt64(st.st_dev), UInt64(st.st_ino)) : nil
    }

    /// Whether `path` names the file this session has open. A path whose file was deleted or replaced since
    /// names a new cassette, not this session's.
    func isFile(_ path: String) -> Bool {
        guard let mine = identity.withLock({ $0 }), let theirs = CassetteSession.identity(of: path) else { return false }
        return mine == theirs
    }

    /// The last append's failure, if the last append failed.
    var lastWriteError: String? { writer.withLock { $0?.lastError } }

    func flush() { writer.withLock { $0?.sync() } }

    /// Closes now (shutdown, after in-flight exchanges were drained).
    func close() {
        writer.withLock { w in
            life.withLock { $0.closed = true }
            w?.close()
            w = nil
        }
    }
}
