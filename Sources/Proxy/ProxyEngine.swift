import Cassette
import CloudSigning
import CompressNIO
import Foundation
import Logging
import Matching
import NIOCore
import NIOHTTP1
import NIOPosix
import Synchronization
import TapedeckHTTP

/// The proxy's decisions, independent of sockets: which upstream a request is for, its match key, and
/// whether it is answered from the cassette, forwarded and recorded, or refused.
public final class ProxyEngine: Sendable {
    let configuration: ProxyConfiguration
    let upstream: UpstreamClient
    let stats = ProxyStats()
    let logger: Logger
    /// `--upstream`, parsed once (not per request).
    let configuredUpstream: UpstreamTarget?
    /// Blocking cassette writes run here, off the event loops.
    let writerPool: NIOThreadPool
    /// Decoding compressed upstream answers runs here, off the event loops and apart from the writer.
    let decodePool: NIOThreadPool
    /// Explains replay misses (finds the nearest recorded key), apart from the reads of `decodePool`.
    let explainPool: NIOThreadPool
    private let state: Mutex<(mode: ProxyMode, session: CassetteSession)>
    /// Each event loop's `ParseCache`, used only on its loop.
    private let parseCaches: [ObjectIdentifier: NIOLoopBoundBox<ParseCache>]

    public init(configuration: ProxyConfiguration, group: EventLoopGroup, logger: Logger) throws {
        self.configuration = configuration
        self.logger = logger
        configuredUpstream = configuration.upstream.flatMap(UpstreamTarget.init(url:))
        upstream = try UpstreamClient(
            group: group, extraCAFile: configuration.upstreamCAFile, connectTimeout: configuration.connectTimeout,
            timeout: configuration.upstreamTimeout, maxBody: configuration.maxBodyBytes)
        let session = try CassetteSession(
            path: configuration.cassettePath, policy: configuration.onExhausted,
            writable: configuration.mode != .replay, matchConfig: configuration.matchConfig,
            profile: configuration.profile)
        state = Mutex((configuration.mode, session))
        var caches: [ObjectIdentifier: NIOLoopBoundBox<ParseCache>] = [:]
        for loop in group.makeIterator() { caches[ObjectIdentifier(loop)] = .makeBoxSendingValue(ParseCache(), eventLoop: loop) }
        parseCaches = caches
        writerPool = NIOThreadPool(numberOfThreads: 1)
        writerPool.start()
        decodePool = NIOThreadPool(numberOfThreads: 1)
        decodePool.start()
        explainPool = NIOThreadPool(numberOfThreads: 1)
        explainPool.start()
    }

    /// Keys already explained in the log as missed or used up: each is explained once, then only counted
    /// (a load run against a replaying proxy must not log ten thousand lines a second).
    private let explained = Mutex<Set<String>>([])
    /// Whether the Host-covering-signature warning has been given.
    private let warnedHostSignature = Atomic<Bool>(false)

    private func firstTime(_ what: String) -> Bool {
        explained.withLock { set in
            guard set.count < 10_000 else { return false }
            return set.insert(what).inserted
        }
    }

    /// This process's name in the `Via` of what it forwards, so a request that comes back round a loop of
    /// proxies (each the other's upstream) is refused instead of circling until descriptors run out.
    let viaToken = "tapedeck-" + String(UInt32.random(in: .min ... .max), radix: 16)
    /// Said once: a credential value of a request was replaced in its answer (see `Redactor.redact`).
    let warnedScrubbedAnswer = Atomic<Bool>(false)
    var viaValue: String { "1.1 " + viaToken }

    /// The proxy's own listening address, so a request relayed back to it is refused.
    private let ownAddress = Mutex<SocketAddress?>(nil)

    func listening(on address: SocketAddress?) { ownAddress.withLock { $0 = address } }

    /// Whether forwarding to `target` would reach this proxy itself (relaying around the loopback-only control API).
    func isSelf(_ target: UpstreamTarget) -> Bool {
        guard let own = ownAddress.withLock({ $0 }), own.port == target.port else { return false }
        let h = target.host.lowercased()
        return h == "localhost" || h.hasPrefix("127.") || h == "::1" || h == "0.0.0.0" || h == "::"
            || h == own.ipAddress?.lowercased() || h == configuration.host.lowercased()
    }

    public var mode: ProxyMode { state.withLock { $0.mode } }
    var session: CassetteSession { state.withLock { $0.session } }

    /// Switching into replay starts at the beginning of the cassette's order, this session's recordings included.
    public func setMode(_ mode: ProxyMode) {
        let (previous, session) = state.withLock { s in
            defer { s.mode = mode }
            return (s.mode, s.session)
        }
        if mode == .replay && previous != .replay { session.replay.rewind() }
    }

    /// Switches to another cassette (and optionally mode); the old one is flushed and closed once the
    /// exchanges in flight for it are written.
    ///
    /// One file has one session: naming the current cassette again keeps its session (its replay starts
    /// over), and naming one whose retired session still waits for exchanges in flight takes that session
    /// back. A second session would be a second writer on the file, each with its own idea of where the file
    /// ends and which sequence number comes next (a helper's test got duplicate numbers, and replays of the
    /// later records failed as damaged).
    public func switchCassette(path: String, mode: ProxyMode?) throws {
        let current = session
        if current.isFile(path) {
            state.withLock { s in if let mode { s.mode = mode } }
            current.replay.rewind()
            stats.reset()
            return
        }
        let next: CassetteSession
        if let revived = reviveRetired(path) {
            revived.replay.rewind()
            next = revived
        } else {
            // Replay needs a cassette that exists (as on the command line); the other modes create it.
            next = try CassetteSession(
                path: path, policy: configuration.onExhausted, writable: (mode ?? self.mode) != .replay,
                matchConfig: configuration.matchConfig, profile: configuration.profile, confinedTo: configuration.cassetteDirectory)
        }
        let old = state.withLock { s -> CassetteSession in
            let old = s.session
            s.session = next
            if let mode { s.mode = mode }
            return old
        }
        // Exchanges in flight still land in the cassette they started in.
        if !old.retire() { retired.withLock { $0.append(old) } }
        stats.reset()
        refusalLog.reset()
        lastRefusalReason.withLock { $0 = nil }
    }

    /// Sessions retired by a switch while exchanges were in flight for them (until those are written).
    private let retired = Mutex<[CassetteSession]>([])

    /// The retired session of `path`'s file, taken back into service, if it is still open.
    private func reviveRetired(_ path: String) -> CassetteSession? {
        retired.withLock { list in
            list.removeAll { $0.isClosed }
            guard let i = list.firstIndex(where: { $0.isFile(path) }), list[i].revive() else { return nil }
            return list.remove(at: i)
        }
    }

    public func flush() { session.flush() }

    public func shutdown() async {
        session.close()
        try? await writerPool.shutdownGracefully()
        try? await decodePool.shutdownGracefully()
        try? await explainPool.shutdownGracefully()
    }

    public struct Status: Codable, Sendable {
        /// "proxy" (the simulator answers the same path with "simulator").
        public var role = "proxy"
        public var mode: ProxyMode
        public var on_exhausted: String
        public var cassette: String
        public var exchanges: Int
        public var hits: Int
        public var misses: Int
        public var recorded: Int
        public var forwarded: Int
        public var upstream_errors: Int
        /// Why the last append failed, while the last append failed (disk full, cassette removed…).
        public var last_write_error: String?
        /// Requests refused unforwarded because the cassette could not be written, and the last reason.
        public var refused_unwritable: Int = 0
        public var last_refusal: String?
    }

    public var status: Status {
        let (mode, session) = state.withLock { ($0.mode, $0.session) }
        return Status(
            mode: mode, on_exhausted: configuration.onExhausted.rawValue, cassette: session.path, exchanges: session.recordedCount,
            hits: stats.hits.load(ordering: .relaxed),
            misses: stats.misses.load(ordering: .relaxed), recorded: stats.recorded.load(ordering: .relaxed),
            forwarded: stats.forwarded.load(ordering: .relaxed), upstream_errors: stats.upstreamErrors.load(ordering: .relaxed),
            last_write_error: session.lastWriteError, refused_unwritable: stats.refusedUnwritable.load(ordering: .relaxed),
            last_refusal: lastRefusal)
    }

    /// Pre-forward refusals, logged once per reason per 10 s, and the last reason (for the status).
    private let refusalLog = LogThrottle()
    private let lastRefusalReason = Mutex<String?>(nil)
    private var lastRefusal: String? { lastRefusalReason.withLock { $0 } }
    /// Upstream failures, logged once per target and error per 10 s.
    private let upstreamFailureLog = LogThrottle()

    /// Whether to log a refusal now (a reason's first, or ten seconds after its last line), with the number of
    /// refusals for that reason not logged since.
    private func shouldLogRefusal(_ reason: String) -> (Bool, Int) {
        lastRefusalReason.withLock { $0 = reason }
        return refusalLog.shouldLog(reason)
    }

    /// Set when a second stop signal cuts exchanges short: their failures are the stop's, not the upstream's.
    let abandoning = Atomic<Bool>(false)

    // MARK: handling a request

    /// A complete client request; `tunnel` is the CONNECT target when it arrived inside an intercepted tunnel.
    struct ClientRequest {
        var head: HTTPRequestHead
        var body: ByteBuffer?
        var tunnel: UpstreamTarget?
    }

    /// A client request, parsed once: where it goes, what signed it, its key, and the shape its errors take.
    struct Parsed {
        var recorder: Recorder.Request
        /// The request target, for its origin form when forwarding (not built on the replay path).
        var target: RequestTarget
        var shape: CloudErrorDocument.Shape
        /// Origin-form with `--upstream`: the upstream gets its own `Host`.
        var reverse: Bool
    }

    /// `known`: the key and profile of an earlier request this one differs from only in volatile values
    /// (`ParseCache.lookupShape`), reused instead of detected and built again.
    func parse(
        _ request: ClientRequest, session: CassetteSession, keyed: Bool = true,
        known: (key: RequestKey?, profile: MatchProfile)? = nil
    ) -> Result<Parsed, ProxyFailure> {
        guard let requestTarget = RequestTarget(request.head.uri) else {
            return .failure(.badRequest("cannot parse the request target \(request.head.uri)"))
        }
        var target = request.tunnel ?? configuredUpstream
        if request.tunnel == nil, let scheme = requestTarget.scheme, let authority = requestTarget.authority {
            target = UpstreamTarget(tls: scheme == .https, host: authority.host, port: authority.port)
        }
        let bodyBytes = request.body.map { Array($0.readableBytesView) } ?? []
        let rawPath = String(requestTarget.path)
        // A query or form body that does not decode (`caf%E9`, `100%`, a binary upload curl labels as a form) is
        // forwarded and recorded as it is: its query is keyed as sent, its body as an opaque body. The cloud
        // judges it, not the proxy.
        let query = requestTarget.query.map { QueryParameters.parseLeniently($0.utf8) } ?? QueryParameters()
        let isForm =
            request.head.headers.first(name: "content-type").map {
                ASCIICase.hasPrefixIgnoringCase($0, "application/x-www-form-urlencoded")
            } ?? false
        let form = isForm && !bodyBytes.isEmpty ? ((try? QueryParameters.parse(bodyBytes)) ?? QueryParameters()) : QueryParameters()
        let signable = SignableRequest(
            method: request.head.method.rawValue, rawPath: rawPath, query: query, form: form,
            headers: request.head.headers.map { ($0.name, $0.value) }, body: bodyBytes)
        let profile = known?.profile ?? session.profile(for: signable)
        var key: RequestKey?
        if keyed, let known {
            key = known.key
        } else if keyed {
            let keyHost =
                target?.authority
                ?? (session.recordedHosts.count == 1 ? session.recordedHosts[0] : request.head.headers.first(name: "host") ?? "")
            key = RequestKey(signable, host: keyHost, profile: profile)
        }
        // Only the Format parameter matters for the error shape: no per-request dictionary on the replay path.
        let shape = ProxyFailure.shape(profile: profile, path: rawPath, format: query["Format"] ?? form["Format"])
        return .success(
            Parsed(
                recorder: .init(
                    key: key, signable: signable, profile: profile, upstream: target,
                    uri: request.head.uri),
                target: requestTarget, shape: shape,
                reverse: request.tunnel == nil && requestTarget.authority == nil))
    }

    /// What `handle` answers: a response now (a cached replay, a refusal) or once it is produced.
    enum Answer {
        case now(ProxyResponse)
        case later(EventLoopFuture<ProxyResponse>)
    }

    /// One request, in one direction: parse → decide → replay, forward (and record) or fail.
    func handle(_ request: ClientRequest, on loop: EventLoop) -> Answer {
        let allocator = ByteBufferAllocator()
        let (mode, session) = state.withLock { ($0.mode, $0.session) }
        let parsed: Parsed
        switch parse(request, session: session, keyed: mode != .passthrough, cache: parseCache(on: loop)) {
        case .success(let p): parsed = p
        case .failure(let f): return .now(fail(f, shape: ProxyFailure.shape(rawRequest: request.head), allocator: allocator))
        }
        return answer(request, parsed, mode: mode, session: session, on: loop, allocator: allocator)
    }

    /// `parse` through `loop`'s cache: a byte-identical request's parse, or the key of the last request of its shape.
    private func parse(_ request: ClientRequest, session: CassetteSession, keyed: Bool, cache: ParseCache?) -> Result<Parsed, ProxyFailure> {
        if let hit = cache?.lookup(request, session: session, keyed: keyed) {
            stats.parsesReused.add(1, ordering: .relaxed)
            return .success(hit)
        }
        // A freshly signed request of a known shape reuses that shape's key; only the request is parsed.
        let known = cache?.lookupShape(request, session: session, keyed: keyed)
        let result = parse(request, session: session, keyed: keyed, known: known)
        guard case .success(let parsed) = result else { return result }
        if known != nil {
            stats.keysReused.add(1, ordering: .relaxed)
        } else {
            cache?.store(parsed, for: request, session: session, keyed: keyed)
            cache?.storeShape(parsed, for: request, session: session, keyed: keyed)
        }
        return result
    }

    /// A plain request the fast lane read (GET or POST, no body, HTTP/1.1, origin-form, no tunnel), as its bytes:
    /// answered in replay mode, where a repeated or freshly signed request is matched by its bytes alone
    /// (`ParseCache+Bytes`), and forwarded as bytes in passthrough (`forwardPlain`); nil otherwise (the lane
    /// leaves it to `handle`). A request whose key misses or is used up goes through `handle`, whose answer explains it.
    func handlePlain(method: HTTPMethod, target: UnsafeBufferPointer<UInt8>, headers: PlainHTTPHeaders, on loop: EventLoop) -> HTTPFastAnswer? {
        let (mode, session) = state.withLock { ($0.mode, $0.session) }
        if mode == .passthrough {
            return forwardPlain(method: method, target: target, headers: headers, session: session, on: loop).map { .wireLater($0) }
        }
        guard mode == .replay else { return nil }
        switch replayPlain(method: method, target: target, headers: headers, session: session, on: loop) {
        case nil: return nil
        case .now(let response)?: return .response(response)
        case .later(let future)?: return .later(future)
        }
    }

    private func replayPlain(
        method: HTTPMethod, target: UnsafeBufferPointer<UInt8>, headers: PlainHTTPHeaders, session: CassetteSession, on loop: EventLoop
    ) -> Answer? {
        let mode = ProxyMode.replay
        guard let cache = parseCache(on: loop) else { return nil }
        func request() -> ClientRequest {
            let head = HTTPRequestHead(
                version: .http1_1, method: method, uri: String(decoding: target, as: UTF8.self), headers: headers.httpHeaders())
            return ClientRequest(head: head, body: nil, tunnel: nil)
        }
        var parsed: Parsed
        var ofShape = false
        if let hit = cache.lookup(method: method, target: target, headers: headers.bytes, session: session) {
            stats.parsesReused.add(1, ordering: .relaxed)
            parsed = hit
        } else if let known = cache.lookupShape(method: method, target: target, headers: headers.bytes, session: session) {
            stats.keysReused.add(1, ordering: .relaxed)
            parsed = known
            ofShape = true
        } else {
            let full = request()
            switch parse(full, session: session, keyed: true, cache: cache) {
            case .success(let p): parsed = p
            case .failure(let f):
                return .now(fail(f, shape: ProxyFailure.shape(rawRequest: full.head), allocator: ByteBufferAllocator()))
            }
            cache.store(parsed, method: method, target: target, headers: headers.bytes, session: session)
        }
        let recorder = Recorder(session: session, isSelf: isSelf, viaToken: viaToken)
        switch recorder.decide(parsed.recorder, mode: mode, explainMisses: false) {
        case .replay(let entry):
            stats.hits.add(1, ordering: .relaxed)
            // A parse reused from a request of the same shape holds that request's volatile values: this one's own
            // are parsed only for an answer that echoes them.
            return replay(
                entry, session: session, shape: parsed.shape,
                request: {
                    guard ofShape else { return parsed.recorder }
                    guard case .success(let p) = parse(request(), session: session, keyed: true) else { return nil }
                    return p.recorder
                }, on: loop, allocator: ByteBufferAllocator())
        case .fail(var failure):
            if ofShape, case .success(let own) = parse(request(), session: session, keyed: true) {
                // A miss or a used-up key (nothing was taken): explained from this request's own values, not
                // those of the request whose shape it had.
                parsed = own
                if case .fail(let f) = recorder.decide(own.recorder, mode: mode, explainMisses: false) { failure = f }
            }
            if failure.status == .notFound { stats.misses.add(1, ordering: .relaxed) }
            return failed(failure, recorder: recorder, request: parsed.recorder, shape: parsed.shape, on: loop, allocator: ByteBufferAllocator())
        case .forward:
            return handle(request(), on: loop)  // not in replay mode; kept whole should that change
        }
    }

    private func answer(
        _ request: ClientRequest, _ parsed: Parsed, mode: ProxyMode, session: CassetteSession, on loop: EventLoop,
        allocator: ByteBufferAllocator
    ) -> Answer {
        let recorder = Recorder(session: session, isSelf: isSelf, viaToken: viaToken)
        switch recorder.decide(parsed.recorder, mode: mode, explainMisses: false) {
        case .replay(let entry):
            stats.hits.add(1, ordering: .relaxed)
            return replay(entry, session: session, shape: parsed.shape, request: { parsed.recorder }, on: loop, allocator: allocator)
        case .fail(let failure):
            if failure.status == .notFound { stats.misses.add(1, ordering: .relaxed) }  // no recording, or used up
            return failed(failure, recorder: recorder, request: parsed.recorder, shape: parsed.shape, on: loop, allocator: allocator)
        case .forward(let record):
            return .later(forward(request, parsed, record: record, mode: mode, session: session, on: loop, allocator: allocator))
        }
    }

    /// `loop`'s parse cache; nil for a loop outside the proxy's group (a test's embedded loop) or off it.
    func parseCache(on loop: EventLoop) -> ParseCache? {
        guard let box = parseCaches[ObjectIdentifier(loop)], loop.inEventLoop else { return nil }
        return box.value
    }

    /// A recorded answer: from the session's cache, or read (pread, inflate, decode) off the event loop.
    /// `request` gives this request's parse (called during this call only: the fast lane's request bytes live
    /// no longer), asked for a cached answer only when `answering` may adapt it.
    private func replay(
        _ entry: CassetteReader.Entry, session: CassetteSession, shape: CloudErrorDocument.Shape,
        request: () -> Recorder.Request?, on loop: EventLoop, allocator: ByteBufferAllocator
    ) -> Answer {
        if let cached = session.cachedResponse(for: entry) { return .now(ProxyEngine.answering(request, cached)) }
        let own = request()  // read now, used when the record has been read
        let read = decodePool.runIfActive(eventLoop: loop) { try session.response(for: entry, allocator: allocator) }
        return .later(
            read.map { ProxyEngine.answering({ own }, $0) }
                .flatMapErrorThrowing { error in
                    self.logger.error("cassette read failed", metadata: ["error": "\(error)"])
                    return self.fail(.cassetteUnreadable("\(error)"), shape: shape, allocator: allocator)
                })
    }

    /// A recorded answer as the cloud would give it to `request`: an RPC `SignatureDoesNotMatch` echoes this
    /// request's string to sign, not the recorded one's (SDKs compare it with their own to tell a wrong secret;
    /// see `AliyunRPCSigner.echoingStringToSign`). Every other answer is the recorded one, untouched.
    static func answering(_ request: () -> Recorder.Request?, _ response: ProxyResponse) -> ProxyResponse {
        guard response.status == .badRequest, response.body.readableBytes < 64 * 1024,
            response.body.readableBytesView.contains(UInt8(ascii: ":")), let r = request(), r.profile.name == "aliyun-rpc",
            let echoed = AliyunRPCSigner.echoingStringToSign(of: r.signable, in: String(buffer: response.body))
        else { return response }
        var answer = response
        answer.body = ByteBuffer(string: echoed)
        return answer
    }

    /// A failure's answer. A replay miss is explained (its nearest recorded key: every key read) on its own
    /// thread, so the event loop goes on answering hits meanwhile: on the loop, twenty misses at once against
    /// 300,000 keys held a hit for 1.4 s.
    private func failed(
        _ failure: ProxyFailure, recorder: Recorder, request: Recorder.Request, shape: CloudErrorDocument.Shape, on loop: EventLoop,
        allocator: ByteBufferAllocator
    ) -> Answer {
        guard case .noMatch = failure else { return .now(fail(failure, shape: shape, allocator: allocator)) }
        return .later(
            explainPool.runIfActive(eventLoop: loop) { recorder.explainMiss(request) }
                .recover { _ in failure }
                .map { self.fail($0, shape: shape, allocator: allocator) })
    }

    /// Renders a failure, logging replay misses and exhaustion once per key.
    func fail(_ failure: ProxyFailure, shape: CloudErrorDocument.Shape, allocator: ByteBufferAllocator) -> ProxyResponse {
        switch failure {
        case .noMatch(_, let key, _, _, _):
            if firstTime("miss " + key) { logger.warning("\(failure.message)") } else { logger.debug("\(failure.message)") }
        case .exhausted(_, let key, _):
            if firstTime("exhausted " + key) {
                logger.warning(
                    "\(failure.message); further requests for it are answered the same and not logged (restart with --on-exhausted last or cycle to keep answering)"
                )
            }
        default:
            break
        }
        return failure.response(shape, allocator: allocator)
    }

    /// Forwards (re-signed for the upstream in reverse mode with `--resign`), then records before answering.
    private func forward(
        _ request: ClientRequest, _ parsed: Parsed, record: Bool, mode: ProxyMode, session: CassetteSession, on loop: EventLoop,
        allocator: ByteBufferAllocator
    ) -> EventLoopFuture<ProxyResponse> {
        guard let target = parsed.recorder.upstream else {
            return loop.makeSucceededFuture(fail(.noUpstream(uri: request.head.uri), shape: parsed.shape, allocator: allocator))
        }
        let started = Date()
        let shape = parsed.shape
        let signable = parsed.recorder.signable
        var forwardURI = parsed.target.originForm
        var forwardBody = request.body
        var forwardBodyBytes = signable.body
        var resignedHeaders: [(String, String)]?
        if parsed.reverse, let resigner = configuration.resigner {
            // Every signed request: the client may sign with a stand-in key, the upstream gets the real one.
            var resigned = signable
            do {
                let scheme = try resigner.resign(&resigned, host: target.authority)
                resignedHeaders = resigned.headers.map { ($0.name, $0.value) }
                if scheme == .aliyunRPC { (forwardURI, forwardBody, forwardBodyBytes) = Self.rebuilt(resigned) }
            } catch {
                return loop.makeSucceededFuture(fail(.resignFailed("\(error)"), shape: shape, allocator: allocator))
            }
        } else if parsed.reverse, Resigner.signsHost(signable),
            !ASCIICase.equalIgnoringCase(request.head.headers.first(name: "host") ?? "", target.authority)
        {
            let warning = Self.hostSignatureWarning(client: request.head.headers.first(name: "host") ?? "", upstream: target.authority)
            if record { session.warnInHeader(warning) }
            if !warnedHostSignature.exchange(true, ordering: .relaxed) { logger.warning("\(warning)") }
        }
        if record {
            // Nothing goes upstream that cannot be written down (a CreateSecurityGroup must not happen unrecorded).
            do { try session.prepareForRecording() } catch {
                stats.refusedUnwritable.add(1, ordering: .relaxed)
                let (log, unlogged) = shouldLogRefusal("\(error)")
                if log {
                    logger.error(
                        "not forwarded: the cassette cannot be written",
                        metadata: unlogged > 0 ? ["error": "\(error)", "refused_since_last_line": "\(unlogged)"] : ["error": "\(error)"])
                }
                return loop.makeSucceededFuture(fail(.cassetteUnwritable("\(error)"), shape: shape, allocator: allocator))
            }
        }
        var forwardHead = HTTPRequestHead(version: .http1_1, method: request.head.method, uri: forwardURI)
        // `Expect` is between the client and this proxy (it already got its 100 Continue). Most requests carry
        // neither it nor a hop-by-hop header, and go with their own headers, uncopied.
        if resignedHeaders == nil && HopByHop.keepsAll(request.head.headers) {
            forwardHead.headers = request.head.headers
        } else {
            let headers = resignedHeaders ?? request.head.headers.map { ($0.name, $0.value) }
            forwardHead.headers = HTTPHeaders(HopByHop.strip(headers).filter { !ASCIICase.equalIgnoringCase($0.0, "expect") })
        }
        if record { Self.askForDecodableCodings(&forwardHead.headers) }
        let head = forwardHead
        let recordedBody = forwardBodyBytes
        let key = parsed.recorder.key, profile = parsed.recorder.profile
        stats.forwarded.add(1, ordering: .relaxed)
        // One promise for the whole forward; the steps complete it through callbacks, not chained futures.
        let promise = loop.makePromise(of: ProxyResponse.self)
        let failed: @Sendable (Error) -> Void = { error in
            if record { session.abandonRecording() }
            promise.succeed(self.fail(self.upstreamFailure(error, target: target), shape: shape, allocator: allocator))
        }
        let answer: @Sendable (UpstreamResponse) -> Void = { upstreamResponse in
            if record, let coding = Self.undecodedCoding(upstreamResponse) {
                // Its body cannot be checked for credentials, so it is not written down (nor answered unrecorded).
                session.abandonRecording()
                self.logger.error("not recorded: the answer's Content-Encoding cannot be decoded", metadata: ["content-encoding": "\(coding)"])
                return promise.succeed(
                    self.fail(
                        .recordFailed(
                            "the upstream answered with Content-Encoding: \(coding), which the proxy cannot decode to take credentials "
                                + "out of it, so the exchange was not recorded. The proxy asks upstreams for gzip or deflate only "
                                + "(Accept-Encoding); this one sent \(coding) anyway, or the client signed its Accept-Encoding. "
                                + "Send Accept-Encoding: gzip (or identity) from the client."),
                        shape: shape, allocator: allocator))
            }
            let (exchange, response) = self.exchange(
                request: head, target: target, body: recordedBody, upstream: upstreamResponse,
                key: key?.string, profile: profile, started: started, record: record)
            guard let exchange else {
                if record { session.abandonRecording() }  // (never: a recording request is always keyed)
                return promise.succeed(response)
            }
            // The record is in the file before the client gets the last byte of its answer.
            let redactor = self.configuration.redactor
            let prepare: @Sendable (Exchange) -> Exchange = { e in
                var scrubbed = false
                let r = redactor.redact(e, answerScrubbed: &scrubbed)
                if scrubbed && !self.warnedScrubbedAnswer.exchange(true, ordering: .relaxed) {
                    self.logger.warning(
                        "a credential value from a request (a key id, token or secret) also appears in its answer and was replaced there: if the answer echoed it, that kept it off disk; if it is a stand-in key that is also ordinary data (\"default\", \"test\"), the replayed answer differs from the live one: record with a distinctive stand-in key (said once)",
                        metadata: ["request": "\(r.request.method) \(r.request.url.prefix(200))"])
                }
                return r
            }
            session.commit(exchange, prepare: prepare, pool: self.writerPool, on: loop).whenComplete { written in
                switch written {
                case .success(let entry):
                    // Counted for the cassette in service (one retired by a switch meanwhile has had its counts).
                    if self.state.withLock({ $0.session === session }) { self.stats.recorded.add(1, ordering: .relaxed) }
                    if mode == .auto { session.replay.appendUsed(entry) } else { session.replay.append(entry) }
                    promise.succeed(response)
                case .failure(let error):
                    self.logger.error("recording failed; the exchange was not written", metadata: ["error": "\(error)"])
                    promise.succeed(self.fail(.recordFailed("\(error)"), shape: shape, allocator: allocator))
                }
            }
        }
        var wireHead = head  // `Via` goes on the wire, not into the cassette's record of the request
        wireHead.headers.add(name: "Via", value: viaValue)
        upstream.send(wireHead, body: forwardBody, to: target, on: loop) { result in
            switch result {
            case .success(let r) where !Self.needsDecoding(r):
                answer(r)  // most answers are not compressed: no hop through the decoding pool
            case .success(let r):
                self.decodeContent(r, on: loop).whenComplete { decoded in
                    switch decoded {
                    case .success(let d): answer(d)
                    case .failure(let error): failed(error)
                    }
                }
            case .failure(let error):
                failed(error)
            }
        }
        return promise.futureResult
    }

    /// A failed upstream exchange, counted and logged, as the failure the client is answered with.
    func upstreamFailure(_ error: Error, target: UpstreamTarget) -> ProxyFailure {
        stats.upstreamErrors.add(1, ordering: .relaxed)
        if abandoning.load(ordering: .relaxed) {
            logger.debug("exchange cut short by the forced stop", metadata: ["target": "\(target)", "error": "\(error)"])
        } else {
            let (log, unlogged) = upstreamFailureLog.shouldLog("\(target) \(error)")
            var metadata: Logger.Metadata = ["target": "\(target)", "error": "\(error)"]
            if unlogged > 0 { metadata["failed_since_last_line"] = "\(unlogged)" }
            if log { logger.warning("upstream failed", metadata: metadata) } else { logger.debug("upstream failed", metadata: metadata) }
        }
        switch error as? UpstreamError {
        case .tls?: return .upstreamTLS("\(error)")
        case .timeout?: return .upstreamTimeout("\(error)")
        case .closedBeforeAnswer? where !target.tls:
            // A plain-HTTP upstream that closes at once without a word is most often a TLS port (it waited for a
            // handshake): said, with the fix.
            return .upstreamUnavailable(
                "\(error) (does \(target.authority) speak TLS? then use https://\(target.authority) in --upstream, or in the client's URL)")
        case nil:
            // A socket error mid-exchange, in words ("read(descriptor:pointer:size:): … (errno: 104)" was NIO's text).
            if let code = ConnectFailure.errno(of: error) {
                return .upstreamUnavailable("upstream \(target.authority): the connection failed mid-exchange (\(ConnectFailure.words(code)))")
            }
            return .upstreamUnavailable("upstream \(target.authority): \(error)")
        default: return .upstreamUnavailable("\(error)")
        }
    }

    static func hostSignatureWarning(client: String, upstream: String) -> String {
        "reverse mode: the client signed Host \(client), which the proxy rewrites to \(upstream) for the upstream, and its signature "
            + "(ACS3 or Huawei SDK-HMAC-SHA256) covers Host, so an upstream that checks signatures (every real cloud) rejects it "
            + "(SignatureDoesNotMatch / APIGW.0301) and that rejection is what gets recorded. Restart with --resign ID:SECRET (or --resign-env VAR) to re-sign forwarded requests for "
            + "the upstream, or use the proxy as HTTPS_PROXY (forward mode), which leaves Host as the client signed it."
    }

    /// The origin-form target and body of a re-signed RPC request (its parameters changed).
    static func rebuilt(_ r: SignableRequest) -> (String, ByteBuffer?, [UInt8]) {
        let uri = r.rawPath + (r.query.isEmpty ? "" : "?" + r.query.encoded)
        guard !r.form.isEmpty else {
            return (uri, r.body.isEmpty ? nil : ByteBuffer(bytes: r.body), r.body)
        }
        let body = Array(r.form.encoded.utf8)
        return (uri, ByteBuffer(bytes: body), body)
    }

    /// The response to send and, when recording, the record to store (body decoded; not yet redacted).
    private func exchange(
        request head: HTTPRequestHead, target: UpstreamTarget, body: [UInt8], upstream r: UpstreamResponse, key: String?,
        profile: MatchProfile, started: Date, record: Bool
    ) -> (Exchange?, ProxyResponse) {
        let response = Self.clientResponse(r, method: head.method)
        guard record, let key else { return (nil, response) }
        let respHeaders = response.headers, headLength = response.headContentLength
        let respBytes = Array(r.body.readableBytesView)
        let reqHeaders =
            [("Host", target.authority)] + head.headers.map { ($0.name, $0.value) }.filter { !ASCIICase.equalIgnoringCase($0.0, "host") }
        let raw = Exchange(
            seq: 0, key: key, profile: profile.name,
            request: .init(method: head.method.rawValue, url: target.origin + head.uri, headers: reqHeaders, body: Body(bytes: body)),
            // That announced length is kept in the recording (the one Content-Length a cassette stores), so replay says it too.
            response: .init(
                status: Int(r.status.code), headers: respHeaders + (headLength.map { [("Content-Length", String($0))] } ?? []),
                body: Body(bytes: respBytes)),
            timing: .init(started_at: Timestamp.iso8601(started), duration_ms: (Date().timeIntervalSince(started) * 1e6).rounded() / 1e3))
        return (raw, response)  // redacted on the writer thread, before it is stored
    }

    /// What the client is answered with for an upstream answer (decoded): its headers without hop-by-hop ones
    /// and without its `Content-Length` (the writer's), its body as it is (no copy).
    static func clientResponse(_ r: UpstreamResponse, method: HTTPMethod) -> ProxyResponse {
        // A value without the trailing whitespace llhttp keeps (RFC 9110 §5.5: it is not part of the value).
        let respHeaders = HopByHop.strip(r.headers.map { ($0.name, $0.value.trimmedHTTPWhitespace()) }, dropLength: true)
        // A HEAD answer (and a 304) announces the length of a body it does not carry.
        let announcesLength = method == .HEAD || r.status == .notModified
        let headLength = announcesLength ? r.headers.first(name: "content-length").flatMap(Int.init) : nil
        return ProxyResponse(status: r.status, headers: respHeaders, body: r.body, headContentLength: headLength)
    }

    /// Decodes a gzip or deflate `Content-Encoding` off the event loop, bounded by `maxBodyBytes` after
    /// decoding (a small compressed bomb is refused, not inflated), so cassettes and clients get plain bodies.
    /// While recording, an upstream is asked only for codings the proxy can decode (and so redact): `br` and
    /// `zstd` leave the client's `Accept-Encoding`, and a list left with none becomes `identity`. A signed
    /// `Accept-Encoding` (named in the Authorization's `SignedHeaders`) is left as it is.
    static func askForDecodableCodings(_ headers: inout HTTPHeaders) {
        let values = headers["accept-encoding"]
        guard !values.isEmpty else { return }
        if let auth = headers.first(name: "authorization")?.lowercased(), let range = auth.range(of: "signedheaders=") {
            let list = auth[range.upperBound...].prefix { $0 != "," && $0 != " " }.split(separator: ";")
            if list.contains("accept-encoding") { return }
        }
        let kept = values.flatMap { $0.split(separator: ",") }.filter { item in
            let coding = item.split(separator: ";").first.map { String($0).lowercased().trimmedHTTPWhitespace() } ?? ""
            return HTTPContentDecoding.isDecodable(coding) || coding == "identity"
        }.map { String($0).trimmedHTTPWhitespace() }
        let value = kept.isEmpty ? "identity" : kept.joined(separator: ", ")
        if values.count == 1, values[0] == value { return }
        headers.replaceOrAdd(name: "Accept-Encoding", value: value)
    }

    /// The `Content-Encoding` of an answer whose body is still encoded (one the proxy does not decode: `br`,
    /// `zstd`), nil for a plain or empty body.
    static func undecodedCoding(_ r: UpstreamResponse) -> String? {
        guard r.body.readableBytes > 0 else { return nil }
        let codings = HTTPContentDecoding.codings(r.headers["content-encoding"])
        return codings.isEmpty ? nil : codings.joined(separator: ", ")
    }

    /// Stacked codings (`gzip, gzip`, or two header lines) are undone in turn.
    static func needsDecoding(_ r: UpstreamResponse) -> Bool {
        r.body.readableBytes > 0 && HTTPContentDecoding.decodableLayers(r.headers["content-encoding"]) != nil
    }

    func decodeContent(_ r: UpstreamResponse, on loop: EventLoop) -> EventLoopFuture<UpstreamResponse> {
        guard r.body.readableBytes > 0, let layers = HTTPContentDecoding.decodableLayers(r.headers["content-encoding"]) else {
            return loop.makeSucceededFuture(r)
        }
        let limit = configuration.maxBodyBytes
        return decodePool.runIfActive(eventLoop: loop) {
            var decoded = r
            do { decoded.body = try HTTPContentDecoding.decode(r.body, layers: layers, limit: limit) } catch {
                throw UpstreamError.protocolError("\(error) (Content-Encoding: \(layers.joined(separator: ", ")))")
            }
            decoded.headers.remove(name: "content-encoding")
            return decoded
        }
    }
}
