import NIOCore
import NIOHTTP1
import NIOPosix
import NIOSSL
import Synchronization

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
    case tooLarge(Int)

    public var description: String {
        switch self {
        case .unreachable(let s): return "upstream unreachable: \(s)"
        case .tls(let s): return "upstream TLS failure: \(s)"
        case .timeout(let t): return "upstream did not answer within \(t.nanoseconds / 1_000_000) ms"
        case .protocolError(let s): return "upstream sent an invalid response: \(s)"
        case .tooLarge(let n): return "upstream response body exceeds \(n) bytes"
        }
    }
}

/// Sends requests to upstreams over kept-alive connections (HTTP, or HTTPS with SNI and verification
/// against the system trust store plus `--upstream-ca`) and collects whole responses. Idle connections
/// are pooled per event loop and origin; a request that finds its pooled connection closed by the
/// server before any answer is retried once on a fresh connection.
public final class UpstreamClient: Sendable {
    private let tlsContext: NIOSSLContext
    private let connectTimeout: TimeAmount
    private let timeout: TimeAmount
    private let maxBody: Int
    private let idle = Mutex<[String: [Connection]]>([:])
    private static let maxIdlePerOrigin = 64

    public init(group: EventLoopGroup, extraCAFile: String?, connectTimeout: TimeAmount, timeout: TimeAmount, maxBody: Int) throws {
        var tls = TLSConfiguration.makeClientConfiguration()
        if let extraCAFile {
            let extra = try NIOSSLCertificate.fromPEMFile(extraCAFile)
            tls.additionalTrustRoots = [.certificates(extra)]
        }
        tlsContext = try NIOSSLContext(configuration: tls)
        self.connectTimeout = connectTimeout
        self.timeout = timeout
        self.maxBody = maxBody
    }

    /// One upstream connection and the handler that completes the request in flight on it.
    final class Connection: @unchecked Sendable {  // touched only on its channel's event loop
        let channel: Channel
        let collector: ResponseCollector
        init(channel: Channel, collector: ResponseCollector) {
            self.channel = channel
            self.collector = collector
        }
    }

    public func send(_ head: HTTPRequestHead, body: ByteBuffer?, to target: UpstreamTarget, on loop: EventLoop) -> EventLoopFuture<UpstreamResponse> {
        let poolKey = "\(ObjectIdentifier(loop))|\(target.origin)"
        if let pooled = takeIdle(poolKey) {
            return exchange(on: pooled, head, body, target, poolKey).flatMapError { error in
                // The server closed the idle connection before answering: try once on a new one.
                if case UpstreamError.protocolError = error, !pooled.collector.receivedAny {
                    return self.connect(target, on: loop).flatMap { self.exchange(on: $0, head, body, target, poolKey) }
                }
                return loop.makeFailedFuture(error)
            }
        }
        return connect(target, on: loop).flatMap { self.exchange(on: $0, head, body, target, poolKey) }
    }

    private func takeIdle(_ key: String) -> Connection? {
        idle.withLock { pool in
            while var list = pool[key], let c = list.popLast() {
                pool[key] = list
                if c.channel.isActive { return c }
            }
            return nil
        }
    }

    private func release(_ c: Connection, _ key: String) {
        idle.withLock { pool in
            if pool[key, default: []].count < UpstreamClient.maxIdlePerOrigin { pool[key, default: []].append(c) } else { c.channel.close(promise: nil) }
        }
    }

    private func connect(_ target: UpstreamTarget, on loop: EventLoop) -> EventLoopFuture<Connection> {
        let tlsContext = self.tlsContext
        let collector = ResponseCollector(maxBody: maxBody)
        let bootstrap = ClientBootstrap(group: loop)
            .connectTimeout(connectTimeout)
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    let sync = channel.pipeline.syncOperations
                    if target.tls {
                        let isIP = target.host.allSatisfy { $0.isNumber || $0 == "." || $0 == ":" }
                        try sync.addHandler(NIOSSLClientHandler(context: tlsContext, serverHostname: isIP ? nil : target.host))
                    }
                    try sync.addHTTPClientHandlers()
                    try sync.addHandler(collector)
                }
            }
        // IP literals connect directly; names go through NIO's resolver (happy eyeballs).
        let connecting: EventLoopFuture<Channel>
        if let address = try? SocketAddress(ipAddress: target.host, port: target.port) {
            connecting = bootstrap.connect(to: address)
        } else {
            connecting = bootstrap.connect(host: target.host, port: target.port)
        }
        return connecting.map { Connection(channel: $0, collector: collector) }.flatMapErrorThrowing { error in
            throw UpstreamError.unreachable("\(target.authority): \(error)")
        }
    }

    private func exchange(on c: Connection, _ head: HTTPRequestHead, _ body: ByteBuffer?, _ target: UpstreamTarget,
                          _ poolKey: String) -> EventLoopFuture<UpstreamResponse> {
        let loop = c.channel.eventLoop
        let promise = loop.makePromise(of: UpstreamResponse.self)
        c.collector.start(promise)
        let timer = loop.scheduleTask(in: timeout) {
            promise.fail(UpstreamError.timeout(self.timeout))
            c.channel.close(promise: nil)
        }
        var h = head
        h.headers.replaceOrAdd(name: "Host", value: target.authority)
        h.headers.remove(name: "Connection")
        if let body { h.headers.replaceOrAdd(name: "Content-Length", value: String(body.readableBytes)) }
        else if h.method == .POST || h.method == .PUT || h.method == .PATCH { h.headers.replaceOrAdd(name: "Content-Length", value: "0") }
        c.channel.write(HTTPClientRequestPart.head(h), promise: nil)
        if let body, body.readableBytes > 0 { c.channel.write(HTTPClientRequestPart.body(.byteBuffer(body)), promise: nil) }
        c.channel.writeAndFlush(HTTPClientRequestPart.end(nil), promise: nil)
        return promise.futureResult.always { result in
            timer.cancel()
            if case .success = result, c.collector.reusable, c.channel.isActive {
                self.release(c, poolKey)
            } else {
                c.channel.close(promise: nil)
            }
        }
    }

    final class ResponseCollector: ChannelInboundHandler, @unchecked Sendable {  // used on its channel's loop only
        typealias InboundIn = HTTPClientResponsePart
        private var promise: EventLoopPromise<UpstreamResponse>?
        let maxBody: Int
        var head: HTTPResponseHead?
        var body: ByteBuffer?
        /// Whether any part of the current response arrived (a retry is safe only if not).
        private(set) var receivedAny = false
        /// Whether the connection may carry another request.
        private(set) var reusable = false

        init(maxBody: Int) { self.maxBody = maxBody }

        func start(_ p: EventLoopPromise<UpstreamResponse>) {
            promise = p
            head = nil
            body = nil
            receivedAny = false
            reusable = false
        }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            receivedAny = true
            switch unwrapInboundIn(data) {
            case .head(let h):
                if h.status.code < 200 { return }  // 1xx: wait for the final response
                head = h
            case .body(var b):
                if (body?.readableBytes ?? 0) + b.readableBytes > maxBody {
                    promise?.fail(UpstreamError.tooLarge(maxBody))
                    promise = nil
                    context.close(promise: nil)
                    return
                }
                if body == nil { body = b } else { body!.writeBuffer(&b) }
            case .end:
                guard let head, let p = promise else { return }
                reusable = head.isKeepAlive
                promise = nil
                p.succeed(UpstreamResponse(status: head.status, headers: head.headers, body: body ?? context.channel.allocator.buffer(capacity: 0)))
            }
        }

        func channelInactive(context: ChannelHandlerContext) {
            promise?.fail(UpstreamError.protocolError("the connection closed before a complete response"))
            promise = nil
        }

        func errorCaught(context: ChannelHandlerContext, error: Error) {
            if error is NIOSSLError || error is BoringSSLError {
                promise?.fail(UpstreamError.tls("\(error)"))
            } else {
                promise?.fail(UpstreamError.protocolError("\(error)"))
            }
            promise = nil
            context.close(promise: nil)
        }
    }
}
