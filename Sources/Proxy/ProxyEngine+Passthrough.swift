import CloudSigning
import NIOCore
import NIOHTTP1
import TapedeckHTTP

/// The passthrough lane: a plain request (see `PlainHTTPRequest`) in passthrough mode goes upstream as bytes
/// (its request line and header lines as they arrived, `Host` the upstream's) and the upstream's answer comes
/// back re-framed from its bytes. No parse of the request (passthrough neither keys nor records), no
/// `HTTPRequestHead` or `HTTPHeaders`, no NIO codec on either side; the answer is the one `forward` gives.
/// Anything else is `forward`'s: an HTTPS or absent `--upstream`, a request that would reach this proxy, one
/// with an `Authorization` (a signature over `Host` gets `forward`'s warning) or a hop-by-hop header to strip.
extension ProxyEngine {
    func forwardPlain(
        method: HTTPMethod, target: UnsafeBufferPointer<UInt8>, headers: PlainHTTPHeaders, session: CassetteSession, on loop: EventLoop
    ) -> EventLoopFuture<ByteBuffer>? {
        guard let upstreamTarget = configuredUpstream, !upstreamTarget.tls, !isSelf(upstreamTarget),
            let request = Self.forwardedBytes(method: method, target: target, headers: headers, host: upstreamTarget.authority, via: viaValue)
        else { return nil }
        stats.forwarded.add(1, ordering: .relaxed)
        stats.forwardedAsBytes.add(1, ordering: .relaxed)
        let promise = loop.makePromise(of: ByteBuffer.self)
        upstream.sendRaw(request, idempotent: method == .GET, to: upstreamTarget, on: loop) { result in
            switch result {
            case .success(let r):
                if let wire = Self.passedThrough(r) { return promise.succeed(wire) }
                promise.completeWith(
                    self.passedThroughInFull(r, method: method, request: request, target: upstreamTarget, session: session, on: loop))
            case .failure(let error):
                let failure = self.upstreamFailure(error, target: upstreamTarget)
                let shape = self.shape(ofForwarded: request, session: session)
                promise.succeed(failure.response(shape, allocator: ByteBufferAllocator()).encoded(method: method, version: .http1_1, keepAlive: true))
            }
        }
        return promise.futureResult
    }

    /// The request for the upstream: the request line and header lines as they arrived, `Host` replaced by the
    /// upstream's, `Connection: keep-alive` dropped (the only `Connection` a plain request has), and a
    /// `Content-Length: 0` for a POST without one. Nil for a request `forward` must take.
    static func forwardedBytes(
        method: HTTPMethod, target: UnsafeBufferPointer<UInt8>, headers: PlainHTTPHeaders, host: String, via: String
    ) -> ByteBuffer? {
        let lines = headers.bytes
        var out = ByteBuffer()
        out.reserveCapacity(target.count + lines.count + host.utf8.count + 48)
        out.writeStaticString(method == .GET ? "GET " : "POST ")
        out.writeBytes(target)
        out.writeStaticString(" HTTP/1.1\r\nHost: ")
        out.writeString(host)
        out.writeStaticString("\r\n")
        var sawLength = false
        var i = 0
        while i < lines.count {
            // Every line is `name:value CRLF` (`PlainHTTPRequest.parse` checked it).
            guard let colon = lines[i...].firstIndex(of: UInt8(ascii: ":")),
                let lf = lines[colon...].firstIndex(of: UInt8(ascii: "\n"))
            else { return nil }
            let name = UnsafeRawBufferPointer(UnsafeBufferPointer(rebasing: lines[i..<colon]))
            if ASCIICase.bytes(name, equalLowercased: "host") {
                // replaced
            } else if HopByHop.isListed(name) {
                // A plain request's only `Connection` or `Proxy-Connection` is keep-alive: this connection's. Any
                // other hop-by-hop header (`TE`, `Trailer`, `Keep-Alive`, `Proxy-Authorization`…) is `forward`'s to strip.
                guard ASCIICase.bytes(name, equalLowercased: "connection") || ASCIICase.bytes(name, equalLowercased: "proxy-connection")
                else { return nil }
            } else if ASCIICase.bytes(name, equalLowercased: "authorization") || ASCIICase.bytes(name, equalLowercased: "via") {
                return nil  // (a `Via` may name this proxy: a loop `forward` refuses)
            } else {
                if ASCIICase.bytes(name, equalLowercased: "content-length") { sawLength = true }
                out.writeBytes(UnsafeBufferPointer(rebasing: lines[i...lf]))
            }
            i = lf + 1
        }
        if method == .POST && !sawLength { out.writeStaticString("Content-Length: 0\r\n") }
        out.writeStaticString("Via: ")
        out.writeString(via)
        out.writeStaticString("\r\n\r\n")
        return out
    }

    /// The client's answer straight from the upstream's bytes, as `clientResponse` frames it: the status line,
    /// the upstream's headers (values trimmed) without hop-by-hop ones and its `Content-Length`, the body's
    /// `Content-Length`, the body. Nil for an answer that needs more (a `Content-Encoding` to decode, a 204 or
    /// 304, a `Connection` naming other headers): `passedThroughInFull` takes it.
    static func passedThrough(_ r: HTTPResponseFramer.Response) -> ByteBuffer? {
        guard r.status >= 200, r.status != 204, r.status != 304 else { return nil }
        return r.head.withUnsafeReadableBytes { raw -> ByteBuffer? in
            var out = ByteBuffer()
            out.reserveCapacity(raw.count + r.body.readableBytes + 32)
            if r.status == 200 {
                out.writeStaticString("HTTP/1.1 200 OK")
            } else {
                let status = HTTPResponseStatus(statusCode: r.status)
                out.writeStaticString("HTTP/1.1 ")
                HTTPServerResponse.writeDecimal(r.status, into: &out)
                out.writeInteger(UInt8(ascii: " "))
                out.writeString(status.reasonPhrase)
            }
            // The framer's parser checked the head: a status line, then `name: value CRLF` lines, a blank line.
            guard var line = raw.firstIndex(of: 10).map({ $0 + 1 }) else { return nil }
            let end = raw.count - 2
            while line < end {
                guard let lf = raw[line..<end].firstIndex(of: 10), let colon = raw[line..<lf].firstIndex(of: UInt8(ascii: ":")) else {
                    return nil
                }
                var vStart = colon + 1
                var vEnd = lf - 1  // before CR
                while vStart < vEnd && (raw[vStart] == 0x20 || raw[vStart] == 0x09) { vStart += 1 }
                while vEnd > vStart && (raw[vEnd - 1] == 0x20 || raw[vEnd - 1] == 0x09) { vEnd -= 1 }
                let name = UnsafeRawBufferPointer(rebasing: raw[line..<colon])
                let value = UnsafeRawBufferPointer(rebasing: raw[vStart..<vEnd])
                line = lf + 1
                switch name.count {
                case 10 where ASCIICase.bytes(name, equalLowercased: "connection"):
                    // Only `keep-alive` or `close` (a list naming other headers would strip them too).
                    guard ASCIICase.bytes(value, equalLowercased: "keep-alive") || ASCIICase.bytes(value, equalLowercased: "close")
                    else { return nil }
                    continue
                case 14 where ASCIICase.bytes(name, equalLowercased: "content-length"):
                    continue
                case 16 where ASCIICase.bytes(name, equalLowercased: "content-encoding"):
                    return nil
                default:
                    if HopByHop.isListed(name) { continue }
                }
                out.writeStaticString("\r\n")
                out.writeBytes(name)
                out.writeStaticString(": ")
                out.writeBytes(value)
            }
            out.writeStaticString("\r\nContent-Length: ")
            HTTPServerResponse.writeDecimal(r.body.readableBytes, into: &out)
            out.writeStaticString("\r\n\r\n")
            var body = r.body
            out.writeBuffer(&body)
            return out
        }
    }

    /// The answers `passedThrough` leaves: through `HTTPHeaders`, decoded off the loop if encoded, and
    /// framed as `forward`'s are.
    private func passedThroughInFull(
        _ r: HTTPResponseFramer.Response, method: HTTPMethod, request: ByteBuffer, target: UpstreamTarget, session: CassetteSession,
        on loop: EventLoop
    ) -> EventLoopFuture<ByteBuffer> {
        let parsed = r.head.withUnsafeReadableBytes { HTTPResponseHeadParser.parse($0, collectHeaders: true) }
        guard case .head(let head) = parsed else {
            // (The framer parsed this head already.)
            return loop.makeSucceededFuture(
                ProxyFailure.upstreamUnavailable("the upstream's answer head did not parse again").response(
                    shape(ofForwarded: request, session: session), allocator: ByteBufferAllocator()
                ).encoded(method: method, version: .http1_1, keepAlive: true))
        }
        let upstream = UpstreamResponse(status: HTTPResponseStatus(statusCode: r.status), headers: HTTPHeaders(head.headers), body: r.body)
        return decodeContent(upstream, on: loop).map { decoded in
            Self.clientResponse(decoded, method: method).encoded(method: method, version: .http1_1, keepAlive: true)
        }.flatMapErrorThrowing { error in
            self.fail(self.upstreamFailure(error, target: target),
                shape: self.shape(ofForwarded: request, session: session), allocator: ByteBufferAllocator()
            ).encoded(method: method, version: .http1_1, keepAlive: true)
        }
    }

    /// The error shape for a forwarded plain request, as `parse` gives the full path's (the profile, `--profile`
    /// included, and its `Format`), read off the forwarded bytes (only on a failure).
    func shape(ofForwarded request: ByteBuffer, session: CassetteSession) -> CloudErrorDocument.Shape {
        var limits = HTTPServerLimits()  // what the lane took passed the configured limits; the upstream's Host may be longer
        limits.maxHeaderBytes = Int.max
        limits.maxURIBytes = Int.max
        guard
            let head = request.withUnsafeReadableBytes({ bytes -> HTTPRequestHead? in
                guard let plain = PlainHTTPRequest.parse(bytes, limits: limits) else { return nil }
                let target = String(decoding: UnsafeRawBufferPointer(rebasing: bytes[plain.target]), as: UTF8.self)
                return HTTPRequestHead(version: .http1_1, method: plain.method, uri: target, headers: PlainHTTPHeaders(bytes, plain).httpHeaders())
            })
        else { return .generic }
        switch parse(ClientRequest(head: head, body: nil, tunnel: nil), session: session, keyed: false) {
        case .success(let parsed): return parsed.shape
        case .failure: return ProxyFailure.shape(rawRequest: head)
        }
    }
}
