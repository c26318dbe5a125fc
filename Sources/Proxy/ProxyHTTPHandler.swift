import Foundation
import NIOCore
import NIOHTTP1
import NIOSSL

/// One client connection: collects each request, answers control-API calls, turns `CONNECT` into an
/// intercepted TLS tunnel, and hands everything else to the `ProxyEngine`.
final class ProxyHTTPHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    private let engine: ProxyEngine
    private let control: ControlAPI
    private let authority: CertificateAuthority?
    /// Set when this connection is an intercepted CONNECT tunnel.
    private let tunnel: UpstreamTarget?
    private var head: HTTPRequestHead?
    private var body: ByteBuffer?
    private var tooLarge = false
    /// Answers produced while reading (replay hits) are flushed once per read batch, not one by one.
    private var inRead = false
    private var needsFlush = false

    init(engine: ProxyEngine, control: ControlAPI, authority: CertificateAuthority?, tunnel: UpstreamTarget?) {
        self.engine = engine
        self.control = control
        self.authority = authority
        self.tunnel = tunnel
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        if needsFlush {
            needsFlush = false
            context.flush()
        }
        context.fireChannelReadComplete()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        inRead = true
        defer { inRead = false }
        switch unwrapInboundIn(data) {
        case .head(let h):
            head = h
            body = nil
            tooLarge = false
        case .body(var chunk):
            guard !tooLarge else { return }
            if (body?.readableBytes ?? 0) + chunk.readableBytes > engine.configuration.maxBodyBytes {
                tooLarge = true
                return
            }
            if body == nil { body = chunk } else { body!.writeBuffer(&chunk) }
        case .end:
            guard let h = head else { return }
            head = nil
            if tooLarge {
                let r = ProxyErrors.response(.generic, status: .payloadTooLarge, code: "Tapedeck.RequestTooLarge",
                                             message: "tapedeck: request body over \(engine.configuration.maxBodyBytes) bytes", allocator: context.channel.allocator)
                return write(context, r, keepAlive: false)
            }
            if h.method == .CONNECT && tunnel == nil { return connect(context, h) }
            if tunnel == nil, h.uri.hasPrefix(ControlAPI.prefix) {
                let r = control.handle(h, body: body, remote: context.channel.remoteAddress, allocator: context.channel.allocator)
                return write(context, r, keepAlive: h.isKeepAlive)
            }
            let keepAlive = h.isKeepAlive
            let loopBound = NIOLoopBound(context, eventLoop: context.eventLoop)
            engine.handle(.init(head: h, body: body, tunnel: tunnel), on: context.eventLoop).whenComplete { result in
                let context = loopBound.value
                switch result {
                case .success(let r): self.write(context, r, keepAlive: keepAlive)
                case .failure(let e):
                    self.write(context, ProxyErrors.response(.generic, status: .badGateway, code: "Tapedeck.ProxyError", message: "\(e)",
                                                             allocator: context.channel.allocator), keepAlive: false)
                }
            }
            body = nil
        }
    }

    private func write(_ context: ChannelHandlerContext, _ r: ProxyResponse, keepAlive: Bool) {
        guard context.channel.isActive else { return }  // the client left; nothing to answer
        var head = r.head
        if !keepAlive { head.headers.replaceOrAdd(name: "Connection", value: "close") }
        context.write(wrapOutboundOut(.head(head)), promise: nil)
        if r.body.readableBytes > 0 { context.write(wrapOutboundOut(.body(.byteBuffer(r.body))), promise: nil) }
        if keepAlive && inRead {
            context.write(wrapOutboundOut(.end(nil)), promise: nil)
            needsFlush = true
            return
        }
        let done = context.writeAndFlush(wrapOutboundOut(.end(nil)))
        if !keepAlive { done.whenComplete { _ in context.close(promise: nil) } }
    }

    // MARK: CONNECT interception

    private func connect(_ context: ChannelHandlerContext, _ h: HTTPRequestHead) {
        guard let target = UpstreamTarget(authority: h.uri, tls: true) else {
            return write(context, ProxyErrors.response(.generic, status: .badRequest, code: "Tapedeck.BadConnect",
                                                       message: "tapedeck: CONNECT needs host:port, got \(h.uri)", allocator: context.channel.allocator), keepAlive: false)
        }
        guard let authority else {
            return write(context, ProxyErrors.response(.generic, status: .notImplemented, code: "Tapedeck.NoCA",
                                                       message: "tapedeck: TLS interception is not available (no CA)", allocator: context.channel.allocator), keepAlive: false)
        }
        let sslContext: NIOSSLContext
        do { sslContext = try authority.serverContext(for: target.host) } catch {
            return write(context, ProxyErrors.response(.generic, status: .internalServerError, code: "Tapedeck.CertificateError",
                                                       message: "tapedeck: cannot mint a certificate for \(target.host): \(error)", allocator: context.channel.allocator), keepAlive: false)
        }
        engine.logger.debug("intercepting CONNECT", metadata: ["target": "\(target)"])
        let head = HTTPResponseHead(version: h.version, status: .ok, headers: ["Content-Length": "0"])
        context.write(wrapOutboundOut(.head(head)), promise: nil)
        let engine = self.engine, control = self.control
        let pipeline = context.pipeline
        let loopBound = NIOLoopBound(context, eventLoop: context.eventLoop)
        context.writeAndFlush(wrapOutboundOut(.end(nil))).whenSuccess {
            let context = loopBound.value
            do {
                // New TLS + HTTP stack after this handler; then remove the plain-HTTP stack, decoder last so
                // any bytes it already read (the ClientHello) flow into the TLS handler.
                let sync = pipeline.syncOperations
                try sync.addHandler(NIOSSLServerHandler(context: sslContext))
                try sync.addHandler(ByteToMessageHandler(HTTPRequestDecoder(leftOverBytesStrategy: .dropBytes)))
                try sync.addHandler(HTTPResponseEncoder())
                try sync.addHandler(HTTPServerPipelineHandler())
                try sync.addHandler(ProxyHTTPHandler(engine: engine, control: control, authority: nil, tunnel: target))
                for name in ["errors", "pipelining", "encoder"] {
                    if let c = try? sync.context(name: name) { sync.removeHandler(context: c, promise: nil) }
                }
                sync.removeHandler(context: context, promise: nil)
                if let decoder = try? sync.context(name: "decoder") { sync.removeHandler(context: decoder, promise: nil) }
            } catch {
                context.close(promise: nil)
            }
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        // A client that rejects the interception certificate shows up here (trust DIR/ca.pem).
        engine.logger.debug("client connection failed", metadata: ["tunnel": "\(tunnel.map { "\($0)" } ?? "-")", "error": "\(error)"])
        context.close(promise: nil)
    }
}
