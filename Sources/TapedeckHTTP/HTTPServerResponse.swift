import NIOCore
import NIOHTTP1

/// A complete request as a server hands it to its responder.
public struct HTTPServerRequest: Sendable {
    public var head: HTTPRequestHead
    public var body: ByteBuffer?

    public init(head: HTTPRequestHead, body: ByteBuffer?) {
        self.head = head
        self.body = body
    }
}

/// A complete response. The writer owns the framing headers: `Content-Length` (from the body, or
/// `headContentLength` for a HEAD answer) and `Connection`; `headers` must not carry them.
public struct HTTPServerResponse: Sendable {
    public var status: HTTPResponseStatus
    public var contentType: String?
    /// The answer's request-id header, written before `headers`: kept apart so that a simulated answer,
    /// which carries only this one, needs no array.
    public var requestIDHeader: (name: String, value: String)?
    public var headers: [(String, String)]
    public var body: ByteBuffer
    /// The length a HEAD answer or a 304 announces when it is not the (empty) body's: a proxied one keeps its
    /// upstream's. A 304 without it carries no `Content-Length`.
    public var headContentLength: Int?

    public init(
        status: HTTPResponseStatus, contentType: String? = nil, requestIDHeader: (name: String, value: String)? = nil,
        headers: [(String, String)] = [], body: ByteBuffer, headContentLength: Int? = nil
    ) {
        self.status = status
        self.contentType = contentType
        self.requestIDHeader = requestIDHeader
        self.headers = headers
        self.body = body
        self.headContentLength = headContentLength
    }

    /// Serialises status line, headers and (unless the request was HEAD, or the status has none) the body.
    ///
    /// - HEAD: the headers of the matching GET, no body (RFC 9110 §9.3.2).
    /// - 1xx and 204: no `Content-Length`, no body; a 2xx answer to CONNECT: no `Content-Length` (§9.3.6).
    public func write(into out: inout ByteBuffer, method: HTTPMethod, version: HTTPVersion, keepAlive: Bool) {
        writeHead(into: &out, method: method, version: version, keepAlive: keepAlive)
        if carriesBody(method: method) {
            var body = self.body
            out.writeBuffer(&body)
        }
    }

    /// Bodies from this size on are written as their own buffer rather than copied after the head.
    static var separateBodyBytes: Int { 2048 }

    /// Frames the answer for the wire: its head, and a small body, into `buffer` (cleared first); a large body
    /// (a rendered reference answer, a recorded or forwarded one) is returned, to go out as its own buffer
    /// (one `writev`, no copy).
    public func frame(into buffer: inout ByteBuffer, method: HTTPMethod, version: HTTPVersion, keepAlive: Bool) -> ByteBuffer? {
        let carries = carriesBody(method: method)
        let separate = carries && body.readableBytes >= Self.separateBodyBytes
        buffer.clear(minimumCapacity: 192 + (carries && !separate ? body.readableBytes : 0))
        if separate {
            writeHead(into: &buffer, method: method, version: version, keepAlive: keepAlive)
            return body
        }
        write(into: &buffer, method: method, version: version, keepAlive: keepAlive)
        return nil
    }

    /// `n` (not negative) in decimal digits, without building a `String`.
    public static func writeDecimal(_ value: Int, into out: inout ByteBuffer) {
        let n = max(0, value)
        var digits = 1
        var rest = n / 10
        while rest > 0 {
            digits += 1
            rest /= 10
        }
        out.writeWithUnsafeMutableBytes(minimumWritableBytes: digits) { room in
            var v = n
            for k in stride(from: digits - 1, through: 0, by: -1) {
                room[k] = UInt8(truncatingIfNeeded: 48 + v % 10)
                v /= 10
            }
            return digits
        }
    }

    /// The whole answer in one new buffer, as `frame` would put it on the wire.
    public func encoded(method: HTTPMethod, version: HTTPVersion, keepAlive: Bool) -> ByteBuffer {
        var out = ByteBuffer()
        out.reserveCapacity(192 + body.readableBytes)
        write(into: &out, method: method, version: version, keepAlive: keepAlive)
        return out
    }

    /// This answer's head written into the room `buffer` has before its readable bytes, which are the body
    /// (this answer's own `body` is not read): the whole answer is then `buffer`, with no copy of the body.
    /// Without room enough, the answer is written whole into a new buffer. `scratch` is a reused buffer
    /// for the head. A `buffer` that shares its storage is copied first: keep it the only reference.
    public func prependHead(to buffer: inout ByteBuffer, method: HTTPMethod, keepAlive: Bool, scratch: inout ByteBuffer) {
        scratch.clear()
        writeHead(into: &scratch, method: method, version: .http1_1, keepAlive: keepAlive, bodyLength: buffer.readableBytes)
        guard carriesBody(method: method) else {
            buffer = scratch  // a HEAD, 1xx, 204 or 304 answer: the head alone
            scratch = ByteBuffer()
            return
        }
        let n = scratch.readableBytes
        guard buffer.readerIndex >= n else {
            var whole = ByteBuffer()
            whole.reserveCapacity(n + buffer.readableBytes)
            whole.writeBuffer(&scratch)
            whole.writeImmutableBuffer(buffer)
            buffer = whole
            return
        }
        buffer.moveReaderIndex(to: buffer.readerIndex - n)
        buffer.setBuffer(scratch, at: buffer.readerIndex)
    }

    /// Lets go of a reused head buffer that a large answer grew: a connection keeps a small one.
    public static func trim(_ buffer: inout ByteBuffer) {
        if buffer.capacity > separateBodyBytes * 2 { buffer = ByteBuffer() }
    }

    /// Whether the body goes on the wire in answer to `method` (not for HEAD, 1xx, 204, 304 or a CONNECT 2xx).
    public func carriesBody(method: HTTPMethod) -> Bool {
        let code = status.code
        return code >= 200 && code != 204 && code != 304 && method != .HEAD && !(method == .CONNECT && code < 300)
    }

    /// Status line and headers, through the blank line: `write(into:…)` without the body.
    public func writeHead(into out: inout ByteBuffer, method: HTTPMethod, version: HTTPVersion, keepAlive: Bool) {
        writeHead(into: &out, method: method, version: version, keepAlive: keepAlive, bodyLength: body.readableBytes)
    }

    private func writeHead(into out: inout ByteBuffer, method: HTTPMethod, version: HTTPVersion, keepAlive: Bool, bodyLength: Int) {
        if status == .ok && version.minor != 0 {
            out.writeStaticString("HTTP/1.1 200 OK")  // nearly every answer: no strings built
        } else {
            out.writeStaticString(version.minor == 0 ? "HTTP/1.0 " : "HTTP/1.1 ")
            out.writeString(String(status.code))
            out.writeInteger(UInt8(ascii: " "))
            out.writeString(status.reasonPhrase)
        }
        if let contentType {
            out.writeStaticString("\r\nContent-Type: ")
            out.writeString(contentType)
        }
        func header(_ name: String, _ value: String) {
            out.writeStaticString("\r\n")
            out.writeString(name)
            out.writeStaticString(": ")
            out.writeString(value)
        }
        if let (name, value) = requestIDHeader { header(name, value) }
        for (name, value) in headers { header(name, value) }
        let code = status.code
        let tunnel = method == .CONNECT && (200..<300).contains(code)
        let bodiless = code < 200 || code == 204 || tunnel
        // A 304 has no body: its Content-Length, if any, is the one the representation would have (RFC 9110 §8.6).
        let length = code == 304 ? headContentLength : method == .HEAD ? (headContentLength ?? bodyLength) : bodyLength
        if !bodiless, let length {
            out.writeStaticString("\r\nContent-Length: ")
            Self.writeDecimal(length, into: &out)
        }
        if !keepAlive {
            out.writeStaticString("\r\nConnection: close")
        } else if version.minor == 0 {
            out.writeStaticString("\r\nConnection: keep-alive")
        }
        out.writeStaticString("\r\n\r\n")
    }
}
