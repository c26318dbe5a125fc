import NIOCore
import NIOHTTP1
import NIOSSL
import TapedeckHTTP

/// One client connection's answers: control-API calls, `CONNECT` turned into an intercepted TLS tunnel,
/// and everything else handed to the `ProxyEngine`. The HTTP mechanics are `HTTPServerHandler`'s.
struct ProxyResponder: HTTPFastResponder {
    let engine: ProxyEngine
    let control: ControlAPI
    let authority: CertificateAuthority?
    /// Set when this connection is an intercepted CONNECT tunnel.
    let tunnel: UpstreamTarget?

    func respond(to request: HTTPServerRequest, context: ChannelHandlerContext) -> HTTPResponderResult {
        let h = request.head
        let allocator = context.channel.allocator
        if h.method == .CONNECT && tunnel == nil { return connect(h, allocator: allocator) }
        if tunnel == nil, h.uri.hasPrefix(ControlAPI.prefix) {
            return .response(control.handle(h, body: request.body, remote: context.channel.remoteAddress, allocator: allocator))
        }
        if tunnel == nil, h.uri.hasPrefix("/"),
            let why = ProxyResponder.browserRefusal(h, resigning: engine.configuration.resigner != nil)
        {
            let f = ProxyFailure.browserRefused(why)
            return .response(f.response(ProxyFailure.shape(rawRequest: h), allocator: allocator))
        }
        switch engine.handle(.init(head: h, body: request.body, tunnel: tunnel), on: context.eventLoop) {
        case .now(let response): return .response(response)
        case .later(let future): return .deferred(future)
        }
    }

    /// The fast lane's plain requests, in replay and passthrough mode: not a control call, not from a browser (an
    /// `Origin` or a `Sec-Fetch-Site` is `browserRefusal`'s to judge), not re-signed; the rest is
    /// `ProxyEngine.handlePlain`.
    func fastResponse(
        method: HTTPMethod, target: UnsafeBufferPointer<UInt8>, headers: PlainHTTPHeaders, context: ChannelHandlerContext
    ) -> HTTPFastAnswer? {
        guard tunnel == nil, engine.configuration.resigner == nil, !target.starts(with: ControlAPI.prefix.utf8),
            !headers.contains("origin"), !headers.contains("sec-fetch-site"), !headers.contains("sec-fetch-mode")
        else { return nil }
        return engine.handlePlain(method: method, target: target, headers: headers, on: context.eventLoop)
    }

    /// Why a request sent to the proxy itself (reverse mode: origin-form, no tunnel) looks like a web page's,
    /// or nil. A page the user opens can send requests to loopback. One from a page on a loopback origin (a
    /// local app) carries that `Origin` and is served; a foreign `Origin` is refused, and without an `Origin`
    /// a cross-site `Sec-Fetch-Site` (an image, a form navigation) is refused. A page whose name was rebound to
    /// 127.0.0.1 (DNS rebinding: same-origin to the browser, no `Origin` on a GET) is refused by its `Host`: a
    /// browser's request (it says `Sec-Fetch-*`; SDKs never do) must address the proxy by `localhost` or an IP
    /// address, never a DNS name the proxy cannot vouch for, or it could read a recorded cloud session. With
    /// `--resign` the proxy signs what it forwards with a real key, so there every request is held to that. (A
    /// browser that uses the proxy as its forward proxy chose it, and its requests name their real targets:
    /// they are not checked.)
    static func browserRefusal(_ h: HTTPRequestHead, resigning: Bool) -> String? {
        if let why = BrowserRequest.refusal(h.headers) { return "\(why) is not forwarded" }
        if resigning, let why = BrowserRequest.refusal(h.headers, namedByAnyHost: true) { return "with --resign, \(why), is not forwarded" }
        return nil
    }

    func rejection(_ rejection: HTTPServerRejection, allocator: ByteBufferAllocator) -> HTTPServerResponse {
        let failure: ProxyFailure
        switch rejection.status {
        case .badGateway: failure = .proxyError(rejection.message)
        case .requestTimeout: failure = .requestTimeout(rejection.message)
        case .badRequest: failure = .badRequest(rejection.message)
        case .expectationFailed: failure = .expectationFailed(rejection.message)
        default: failure = .requestTooLarge(status: rejection.status, message: rejection.message)
        }
        return failure.response(rejection.head.map(ProxyFailure.shape(rawRequest:)) ?? .generic, allocator: allocator)
    }

    // MARK: CONNECT interception

    private func connect(_ h: HTTPRequestHead, allocator: ByteBufferAllocator) -> HTTPResponderResult {
        guard let target = UpstreamTarget(authority: h.uri, tls: true) else {
            return .response(
                ProxyFailure.badConnect("CONNECT needs host:port with a port in 1-65535, got \(h.uri)").response(
                    .generic, allocator: allocator))
        }
        guard let authority else {
            return .response(ProxyFailure.noCA("TLS interception is not available (no CA)").response(.generic, allocator: allocator))
        }
        // The name the certificate is minted for: a DNS name (its root dot dropped, which a certificate may not
        // carry) or an IP address. A wildcard or other pattern names no host to connect to.
        let name = target.host.hasSuffix(".") ? String(target.host.dropLast()) : target.host
        guard
            CertificateAuthority.ipAddressBytes(name) != nil
                || (!name.isEmpty && !name.hasPrefix(".") && !name.contains("..")
                    && name.utf8.allSatisfy { ($0 | 0x20) >= 0x61 && ($0 | 0x20) <= 0x7A || ($0 >= 0x30 && $0 <= 0x39) || $0 == 0x2D || $0 == 0x2E || $0 == 0x5F })
        else {
            return .response(
                ProxyFailure.badConnect("CONNECT needs a host name or IP address, got \(target.host)").response(.generic, allocator: allocator))
        }
        let sslContext: NIOSSLContext
        do { sslContext = try authority.serverContext(for: name) } catch {
            return .response(
                ProxyFailure.certificateError("cannot mint a certificate for \(target.host): \(error)").response(
                    .generic, allocator: allocator))
        }
        engine.logger.debug("intercepting CONNECT", metadata: ["target": "\(target)"])
        let engine = self.engine, control = self.control
        // RFC 9110 §9.3.6: a 2xx answer to CONNECT has no Content-Length (the writer leaves it out).
        let established = HTTPServerResponse(status: .ok, body: allocator.buffer(capacity: 0))
        return .handOver(established) { context in
            do {
                // New TLS + HTTP stack after this handler; then remove the plain-HTTP stack, decoder last so
                // any bytes it already read (the ClientHello) flow into the TLS handler.
                let sync = context.pipeline.syncOperations
                try sync.addHandler(NIOSSLServerHandler(context: sslContext))
                try sync.addHandler(ByteToMessageHandler(HTTPRequestDecoder(leftOverBytesStrategy: .dropBytes)))
                let tunnelled = ProxyResponder(engine: engine, control: control, authority: nil, tunnel: target)
                try sync.addHandler(HTTPServerHandler(responder: tunnelled, limits: engine.configuration.limits))
                sync.removeHandler(context: context, promise: nil)
                if let decoder = try? sync.context(name: "decoder") { sync.removeHandler(context: decoder, promise: nil) }
            } catch {
                context.close(promise: nil)
            }
        }
    }
}
