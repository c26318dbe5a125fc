import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOSSL
import Synchronization
import TapedeckHTTP

/// A complete upstream answer.
public struct UpstreamResponse: Sendable {
    public var status: HTTPResponseStatus
    public var headers: HTTPHeaders
    public var body: ByteBuffer
}

/// Why an upstream exchange failed; each maps to the proxy's 502 or 504.
public enum UpstreamError: Error, Sendable, CustomStringConvertible {
    case unreachable(String)
    case tls(String)
    case timeout(TimeAmount)
    case protocolError(String)
    /// The connection closed before any byte of an answer (after any retry): often a TLS port spoken to in plain HTTP.
    case closedBeforeAnswer
    case tooLarge(Int)

    public var description: String {
        switch self {
        case .unreachable(let s): return "upstream unreachable: \(s)"
        case .tls(let s): return "upstream TLS failure: \(s)"
        case .timeout(let t): return "upstream did not answer within \(t.nanoseconds / 1_000_000) ms"
        case .protocolError(let s): return "upstream sent an invalid response: \(s)"
        case .closedBeforeAnswer: return "upstream sent an invalid response: \(HTTPClientFailure.closed(receivedAny: false))"
        case .tooLarge(let n): return "upstream response body exceeds \(n) bytes"
        }
    }
}

/// Sends requests to upstreams over kept-alive connections (HTTP, or HTTPS with SNI and verification
/// against the system trust store plus `--upstream-ca`) and collects whole responses. Idle connections
/// are pooled per event loop and origin; one that received anything while idle is never reused. A request
/// that finds its pooled connection closed by the server before any answer is retried once on a fresh one, when
/// it is idempotent (RFC 9110 §9.2.2: a proxy must not re-send a POST on its own; the server may have acted on it).
public final class UpstreamClient: Sendable {
    private let tlsContext: NIOSSLContext
    private let extraCAFile: String?
    private let connectTimeout: TimeAmount
    private let timeout: TimeAmount
    private let maxBody: Int
    /// Idle connections kept per loop and origin: as many as the client connections a loop serves at once, or
    /// every release past the bound closes one that the next request must open again (64 made 256 clients
    /// open a connection for one request in five, at a third of the throughput).
    static let maxIdlePerKey = 512
    private let pool = Mutex(UpstreamPool<PoolKey, Connection>(maxIdlePerKey: UpstreamClient.maxIdlePerKey))
    private let rawPool = Mutex(UpstreamPool<PoolKey, RawConnection>(maxIdlePerKey: UpstreamClient.maxIdlePerKey))
    /// Idle connections are kept per event loop and origin.
    struct PoolKey: Hashable {
        let loop: ObjectIdentifier
        let origin: String
    }

    public init(group: EventLoopGroup, extraCAFile: String?, connectTimeout: TimeAmount, timeout: TimeAmount, maxBody: Int) throws {
        var tls = TLSConfiguration.makeClientConfiguration()
        if let extraCAFile {
            tls.additionalTrustRoots = [.certificates(try TLSFiles.certificates(extraCAFile, flag: "--upstream-ca"))]
        }
        tlsContext = try NIOSSLContext(configuration: tls)
        self.extraCAFile = extraCAFile
        self.connectTimeout = connectTimeout
        self.timeout = timeout
        self.maxBody = maxBody
        var unflushed: [ObjectIdentifier: NIOLoopBoundBox<[Channel]>] = [:]
        for loop in group.makeIterator() { unflushed[ObjectIdentifier(loop)] = .makeBoxSendingValue([], eventLoop: loop) }
        self.unflushed = unflushed
    }

    /// One upstream connection and the handler that completes the request in flight on it (NIO's codec and an
    /// `HTTPClientResponseCollector`, or a `RawUpstreamReader` for requests forwarded as bytes). The reader is
    /// bound to the channel's event loop; the pool is keyed by loop, so it is only ever used there.
    final class PooledConnection<Reader: PooledReader>: Sendable {
        let channel: Channel
        let reader: NIOLoopBound<Reader>
        let watchdog: NIOLoopBound<Watchdog>

        init(channel: Channel, reader: Reader) {
            self.channel = channel
            self.reader = NIOLoopBound(reader, eventLoop: channel.eventLoop)
            watchdog = NIOLoopBound(Watchdog { reader.abandon($0) }, eventLoop: channel.eventLoop)
        }
    }

    typealias Connection = PooledConnection<HTTPClientResponseCollector>
    typealias RawConnection = PooledConnection<RawUpstreamReader>

    /// The timeout of the exchange in flight on one connection, without a timer per request (scheduling and
    /// cancelling one per exchange showed in profiles): one task per connection, armed when an exchange
    /// starts with none armed; when it fires early (the exchange it was armed for is done) it re-arms for
    /// the one in flight, or stops while the connection is idle.
    final class Watchdog {
        /// Ends the connection's exchange in flight with a timeout.
        let abandon: (Error) -> Void
        var deadline: NIODeadline?
        var armed = false

        init(abandon: @escaping (Error) -> Void) { self.abandon = abandon }

        func start(timeout: TimeAmount, channel: Channel) {
            deadline = .now() + timeout
            if !armed { arm(channel, timeout: timeout) }
        }

        func finish() {
            deadline = nil
        }

        private func arm(_ channel: Channel, timeout: TimeAmount) {
            guard let deadline else {
                armed = false
                return
            }
            armed = true
            channel.eventLoop.assumeIsolated().scheduleTask(deadline: deadline) {
                guard let due = self.deadline, due <= .now() else { return self.arm(channel, timeout: timeout) }
                self.finish()
                self.armed = false
                self.abandon(UpstreamError.timeout(timeout))
                channel.close(promise: nil)
            }
        }
    }

    /// Sends `head` and `body` to `target` from `loop`; `done` runs on `loop` with the whole response or an
    /// `UpstreamError` (a callback, not a future: a forwarded request allocates as few as possible).
    func send(
        _ head: HTTPRequestHead, body: ByteBuffer?, to target: UpstreamTarget, on loop: EventLoop,
        then done: @escaping @Sendable (Result<UpstreamResponse, Error>) -> Void
    ) {
        let poolKey = PoolKey(loop: ObjectIdentifier(loop), origin: target.origin)
        run(
            in: pool, poolKey, retry: Self.isIdempotent(head.method, head.headers), connect: { self.connect(target, on: loop) },
            exchange: { c, finish in self.exchange(on: c, head, body, target, poolKey, then: finish) }, then: done)
    }

    /// Whether a request may be sent again after its connection closed without an answer: the idempotent methods,
    /// or a request carrying an idempotency key (as Go's `net/http` judges it). Everything else, a POST above all
    /// (`CreateSecurityGroup`), may have been acted on by a server that read it and then closed.
    static func isIdempotent(_ method: HTTPMethod, _ headers: HTTPHeaders) -> Bool {
        switch method {
        case .GET, .HEAD, .OPTIONS, .TRACE, .PUT, .DELETE: return true
        default: return headers.contains(name: "idempotency-key") || headers.contains(name: "x-idempotency-key")
        }
    }

    /// Runs `exchange` on an idle connection of `key` from `pool`, or else on a new one from `connect`; when the
    /// server closed the idle connection before answering and `retry` allows it, once more on a new one. `done`
    /// runs on the loop, its failures made `UpstreamError`s.
    private func run<Reader: PooledReader, Answer>(
        in pool: borrowing Mutex<UpstreamPool<PoolKey, PooledConnection<Reader>>>, _ key: PoolKey, retry: Bool,
        connect: @escaping @Sendable () -> EventLoopFuture<PooledConnection<Reader>>,
        exchange: @escaping @Sendable (PooledConnection<Reader>, @escaping @Sendable (Result<Answer, Error>) -> Void) -> Void,
        then done: @escaping @Sendable (Result<Answer, Error>) -> Void
    ) {
        let finish: @Sendable (Result<Answer, Error>) -> Void = { result in
            done(result.mapError { UpstreamClient.upstreamError($0) })
        }
        let onNew: @Sendable () -> Void = {
            connect().whenComplete { connected in
                switch connected {
                case .success(let c): exchange(c, finish)
                case .failure(let e): finish(.failure(e))
                }
            }
        }
        guard let pooled = Self.takeIdle(from: pool, key) else { return onNew() }
        exchange(pooled) { result in
            // The server closed the idle connection before answering: try once on a new one.
            if retry, case .failure(HTTPClientFailure.closed(receivedAny: false)) = result { return onNew() }
            finish(result)
        }
    }

    /// Sends `request`, a whole HTTP/1.1 request as it goes on the wire, to `target` (plain HTTP) from `loop`;
    /// `done` runs on `loop` with the answer as `HTTPResponseFramer` split it off, or an `UpstreamError`. The
    /// passthrough lane's way upstream: the same pooling, timeout and retry as `send`, without NIO's codec.
    func sendRaw(
        _ request: ByteBuffer, idempotent: Bool, to target: UpstreamTarget, on loop: EventLoop,
        then done: @escaping @Sendable (Result<HTTPResponseFramer.Response, Error>) -> Void
    ) {
        let poolKey = PoolKey(loop: ObjectIdentifier(loop), origin: target.origin)
        run(
            in: rawPool, poolKey, retry: idempotent, connect: { self.connectRaw(target, on: loop) },
            exchange: { c, finish in self.exchange(on: c, request, poolKey, then: finish) }, then: done)
    }

    private func exchange(
        on c: RawConnection, _ request: ByteBuffer, _ poolKey: PoolKey,
        then done: @escaping @Sendable (Result<HTTPResponseFramer.Response, Error>) -> Void
    ) {
        c.watchdog.value.start(timeout: timeout, channel: c.channel)
        c.reader.value.start { result in
            c.watchdog.value.finish()
            switch result {
            case .success: Self.release(c, to: self.rawPool, poolKey)
            case .failure: c.channel.close(promise: nil)
            }
            done(result)
        }
        c.channel.write(request, promise: nil)
        flushSoon(c.channel)
    }

    private func connectRaw(_ target: UpstreamTarget, on loop: EventLoop) -> EventLoopFuture<RawConnection> {
        let maxBody = self.maxBody
        return ClientBootstrap(group: loop)
            .connectTimeout(connectTimeout)
            .channelOption(.tcpOption(.tcp_nodelay), value: 1)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(RawUpstreamReader(maxBody: maxBody))
                }
            }
            .connect(target)
            .flatMapThrowing { channel in
                RawConnection(channel: channel, reader: try channel.pipeline.syncOperations.handler(type: RawUpstreamReader.self))
            }.flatMapErrorThrowing { error in
                throw UpstreamError.unreachable("\(target.authority): \(UpstreamClient.connectFailure(error))")
            }
    }

    static func upstreamError(_ e: Error) -> Error {
        switch e {
        case let f as HTTPClientFailure:
            if case .bodyTooLarge(let limit) = f { return UpstreamError.tooLarge(limit) }
            if f == .closed(receivedAny: false) { return UpstreamError.closedBeforeAnswer }
            return UpstreamError.protocolError(f.description)
        default:
            return e
        }
    }

    /// A usable idle connection of `key` from `pool` (the stale ones met on the way are closed), or nil. Called on
    /// `key`'s event loop only (the key names the loop), so the loop-bound readers may be read.
    private static func takeIdle<Reader>(
        from pool: borrowing Mutex<UpstreamPool<PoolKey, PooledConnection<Reader>>>, _ key: PoolKey
    ) -> PooledConnection<Reader>? {
        let taken = pool.withLock { p in p.lease(key) { c in c.channel.isActive && c.reader.value.isReusable } }
        for c in taken.stale { c.channel.close(promise: nil) }
        guard case .use(let c) = taken.0 else { return nil }
        return c
    }

    /// Parks `c` in `pool` after a whole answer when it can carry another request, else closes it.
    private static func release<Reader>(
        _ c: PooledConnection<Reader>, to pool: borrowing Mutex<UpstreamPool<PoolKey, PooledConnection<Reader>>>, _ key: PoolKey
    ) {
        let reusable = c.channel.isActive && c.reader.value.isReusable
        if case .close(let closing) = pool.withLock({ p in p.release(c, key: key, reusable: reusable) }) { closing.channel.close(promise: nil) }
    }

    private func connect(_ target: UpstreamTarget, on loop: EventLoop) -> EventLoopFuture<Connection> {
        let tlsContext = self.tlsContext
        let maxBody = self.maxBody
        let extraCAFile = self.extraCAFile
        let bootstrap = ClientBootstrap(group: loop)
            .connectTimeout(connectTimeout)
            .channelOption(.tcpOption(.tcp_nodelay), value: 1)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    let sync = channel.pipeline.syncOperations
                    let isIP = Authority(host: target.host, port: target.port).isIPAddress
                    if target.tls {
                        try sync.addHandler(NIOSSLClientHandler(context: tlsContext, serverHostname: isIP ? nil : target.host))
                    }
                    // No outbound header validator (a handler hop and a byte-by-byte check of every target, 3% of
                    // forwarding): what goes upstream is the client's request line and headers as NIO's parser
                    // accepted them (no CR, LF or other control bytes get through it), plus Host and signature
                    // headers this proxy writes itself. `aForwardedRequestKeepsOnlyWhatTheParserAccepted` checks it.
                    try sync.addHTTPClientHandlers(enableOutboundHeaderValidation: false)
                    let collector = HTTPClientResponseCollector(maxBody: maxBody)
                    if target.tls {
                        collector.errorHook = { error, context in
                            let peer = try? context.pipeline.syncOperations.handler(type: NIOSSLClientHandler.self).peerCertificate
                            guard TLSDiagnosis.isTLS(error) else { return error }
                            return UpstreamError.tls(
                                TLSDiagnosis.sentence(
                                    error, host: target.host, port: target.port, peer: peer, extraCAFile: extraCAFile, advice: UpstreamClient.tlsAdvice))
                        }
                    }
                    try sync.addHandler(collector)
                }
            }
        return bootstrap.connect(target).flatMapThrowing { channel in
            let collector = try channel.pipeline.syncOperations.handler(type: HTTPClientResponseCollector.self)
            return Connection(channel: channel, reader: collector)
        }.flatMapErrorThrowing { error in
            throw UpstreamError.unreachable("\(target.authority): \(UpstreamClient.connectFailure(error))")
        }
    }

    /// The proxy's fixes for an upstream's certificate. The name to connect with goes in the client's URL when
    /// the client sent CONNECT, in `--upstream` when the proxy stands in for one upstream.
    static let tlsAdvice = TLSDiagnosis.Advice(
        caFlag: "--upstream-ca",
        reconnect: { name, port in "https://\(name):\(port) in the client's URL (with CONNECT) or in --upstream" },
        plainHTTP: "use http:// for it (in --upstream, or the client's URL)")

    /// A failed connect in a sentence: NIO's own text for a refused connection read "connection reset (error
    /// set): Connection refused) (errno: 111)".
    static func connectFailure(_ error: Error) -> String {
        if let code = ConnectFailure.errno(of: error) {
            let text = ConnectFailure.words(code)
            return code == ECONNREFUSED ? "\(text): nothing listens there (is the upstream running, and is the port right?)" : text
        }
        if let e = error as? NIOConnectionError {
            if let first = e.connectionErrors.first { return "\(first.error)" }
            if e.dnsAError != nil || e.dnsAAAAError != nil { return "the name does not resolve" }
        }
        return "\(error)"
    }

    /// Upstream channels written during this event-loop tick, flushed together once the tick's I/O is
    /// handled: the requests of all the clients read in one wake-up reach the upstream back to back, so an
    /// upstream on the same core answers them in one wake-up too, instead of one context switch each.
    /// One list per loop of the group, touched only on its loop (no lock).
    private let unflushed: [ObjectIdentifier: NIOLoopBoundBox<[Channel]>]

    private func flushSoon(_ channel: Channel) {
        let loop = channel.eventLoop
        guard let list = unflushed[ObjectIdentifier(loop)] else { return channel.flush() }  // a loop of another group
        list.value.append(channel)
        guard list.value.count == 1 else { return }
        loop.execute {
            let channels = list.value
            list.value.removeAll(keepingCapacity: true)
            for c in channels { c.flush() }
        }
    }

    private func exchange(
        on c: Connection, _ head: HTTPRequestHead, _ body: ByteBuffer?, _ target: UpstreamTarget,
        _ poolKey: PoolKey, then done: @escaping @Sendable (Result<UpstreamResponse, Error>) -> Void
    ) {
        c.watchdog.value.start(timeout: timeout, channel: c.channel)
        c.reader.value.start(expectsBody: head.method != .HEAD) { result in
            c.watchdog.value.finish()
            switch result {
            case .success(let r):
                Self.release(c, to: self.pool, poolKey)
                done(.success(UpstreamResponse(status: r.head.status, headers: r.head.headers, body: r.body)))
            case .failure(let e):
                c.channel.close(promise: nil)
                done(.failure(e))
            }
        }
        var h = head
        h.headers.replaceOrAdd(name: "Host", value: target.authority)
        h.headers.remove(name: "Connection")
        h.headers.remove(name: "Expect")  // the whole body goes at once: nothing to wait for
        h.headers.remove(name: "Transfer-Encoding")
        if let body {
            h.headers.replaceOrAdd(name: "Content-Length", value: String(body.readableBytes))
        } else if h.method == .POST || h.method == .PUT || h.method == .PATCH {
            h.headers.replaceOrAdd(name: "Content-Length", value: "0")
        }
        c.channel.write(HTTPClientRequestPart.head(h), promise: nil)
        if let body, body.readableBytes > 0 { c.channel.write(HTTPClientRequestPart.body(.byteBuffer(body)), promise: nil) }
        c.channel.write(HTTPClientRequestPart.end(nil), promise: nil)
        flushSoon(c.channel)
    }
}

/// What a pooled connection's inbound end tells the pool (whether another request may go) and its watchdog
/// (ending the exchange in flight).
protocol PooledReader: AnyObject, SendableMetatype {
    var isReusable: Bool { get }
    func abandon(_ error: Error)
}

extension HTTPClientResponseCollector: PooledReader {}
extension RawUpstreamReader: PooledReader {}

extension ClientBootstrap {
    /// Connects to `target`: an IP literal directly, a name through NIO's resolver (happy eyeballs).
    func connect(_ target: UpstreamTarget) -> EventLoopFuture<Channel> {
        if let address = try? SocketAddress(ipAddress: target.host, port: target.port) { return connect(to: address) }
        return connect(host: target.host, port: target.port)
    }
}
