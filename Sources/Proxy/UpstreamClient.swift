import NIOCore
import NIOHTTP1
import NIOPosix
import NIOSSL

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

/// Sends one request to an upstream over a fresh connection (HTTP or HTTPS with SNI and verification
/// against the system trust store plus `--upstream-ca`) and collects the whole response.
public final class UpstreamClient: Sendable {
    private let group: EventLoopGroup
    private let tlsContext: NIOSSLContext
    private let connectTimeout: TimeAmount
    private let timeout: TimeAmount
    private let maxBody: Int

    public init(group: EventLoopGroup, extraCAFile: String?, connectTimeout: TimeAmount, timeout: TimeAmount, maxBody: Int) throws {
        self.group = group
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

    public func send(_ head: HTTPRequestHead, body: ByteBuffer?, to target: UpstreamTarget, on loop: EventLoop) -> EventLoopFuture<UpstreamResponse> {
        let promise = loop.makePromise(of: UpstreamResponse.self)
        let tlsContext = self.tlsContext
        let maxBody = self.maxBody
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
                    try sync.addHandler(ResponseCollector(promise: promise, maxBody: maxBody))
                }
            }
        bootstrap.connect(host: target.host, port: target.port).whenComplete { result in
            switch result {
            case .failure(let error):
                promise.fail(UpstreamError.unreachable("\(target.authority): \(error)"))
            case .success(let channel):
                let timer = channel.eventLoop.scheduleTask(in: self.timeout) {
                    promise.fail(UpstreamError.timeout(self.timeout))
                    channel.close(promise: nil)
                }
                promise.futureResult.whenComplete { _ in
                    timer.cancel()
                    channel.close(promise: nil)
                }
                var h = head
                h.headers.replaceOrAdd(name: "Host", value: target.authority)
                h.headers.replaceOrAdd(name: "Connection", value: "close")
                if let body { h.headers.replaceOrAdd(name: "Content-Length", value: String(body.readableBytes)) }
                else if h.method == .POST || h.method == .PUT || h.method == .PATCH { h.headers.replaceOrAdd(name: "Content-Length", value: "0") }
                channel.write(HTTPClientRequestPart.head(h), promise: nil)
                if let body, body.readableBytes > 0 { channel.write(HTTPClientRequestPart.body(.byteBuffer(body)), promise: nil) }
                channel.writeAndFlush(HTTPClientRequestPart.end(nil), promise: nil)
            }
        }
        return promise.futureResult
    }

    private final class ResponseCollector: ChannelInboundHandler {
        typealias InboundIn = HTTPClientResponsePart
        let promise: EventLoopPromise<UpstreamResponse>
        let maxBody: Int
        var head: HTTPResponseHead?
        var body: ByteBuffer?

        init(promise: EventLoopPromise<UpstreamResponse>, maxBody: Int) {
            self.promise = promise
            self.maxBody = maxBody
        }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            switch unwrapInboundIn(data) {
            case .head(let h):
                if h.status.code < 200 { return }  // 1xx: wait for the final response
                head = h
            case .body(var b):
                if (body?.readableBytes ?? 0) + b.readableBytes > maxBody {
                    promise.fail(UpstreamError.tooLarge(maxBody))
                    context.close(promise: nil)
                    return
                }
                if body == nil { body = b } else { body!.writeBuffer(&b) }
            case .end:
                guard let head else { return }
                promise.succeed(UpstreamResponse(status: head.status, headers: head.headers, body: body ?? context.channel.allocator.buffer(capacity: 0)))
            }
        }

        func channelInactive(context: ChannelHandlerContext) {
            promise.fail(UpstreamError.protocolError("the connection closed before a complete response"))
        }

        func errorCaught(context: ChannelHandlerContext, error: Error) {
            if error is NIOSSLError || error is BoringSSLError {
                promise.fail(UpstreamError.tls("\(error)"))
            } else {
                promise.fail(UpstreamError.protocolError("\(error)"))
            }
            context.close(promise: nil)
        }
    }
}
