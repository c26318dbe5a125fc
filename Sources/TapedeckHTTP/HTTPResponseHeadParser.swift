#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#else
import Darwin
#endif

/// Parses a response's status line and headers from raw bytes, strictly: `HTTP/1.x SP 3DIGIT (SP reason)? CRLF`
/// (so `HTTP/1.1 2000` is no 200), header lines `name: value`, one agreed `Content-Length`. The load
/// generator's decoder and the test client share it; it allocates only when asked for the header list.
public enum HTTPResponseHeadParser {
    public struct Head: Sendable {
        public var status: Int
        /// nil when absent (the body then runs to EOF, or is chunked).
        public var contentLength: Int?
        public var chunked: Bool
        /// `Connection: close`, or HTTP/1.0 without `Connection: keep-alive`.
        public var closes: Bool
        /// Bytes of status line and headers, including the blank line.
        public var headerLength: Int
        /// Filled only with `collectHeaders`.
        public var headers: [(String, String)]

        /// Whether the status has no body whatever the headers say (1xx, 204, 304).
        public var bodiless: Bool { status < 200 || status == 204 || status == 304 }
    }

    public enum Result: Sendable {
        case needMoreData
        case head(Head)
        case invalid(String)
    }

    public static func parse(_ raw: UnsafeRawBufferPointer, maxHeaderBytes: Int = 64 * 1024, collectHeaders: Bool = false) -> Result {
        // Find the end of the header block: from one line feed to the next (`memchr`), until a blank line.
        var end = -1
        let n = raw.count
        let prefix: StaticString = "HTTP/1."
        // What is not a status line is refused as soon as it shows, not after waiting for a blank line that may
        // never come (the bytes after a 1xx's unannounced body, say).
        for k in 0..<min(n, 7) where raw[k] != prefix.utf8Start[k] { return .invalid("not an HTTP/1.x status line") }
        var i = 3
        while i < n, let lf = index(of: 10, in: raw, from: i, to: n) {
            // A bare LF ends no line here (as llhttp): refused at once, not waited on until a timeout.
            guard raw[lf - 1] == 13 else { return .invalid("a line of the response head ended by a bare LF") }
            if raw[lf - 2] == 10 && raw[lf - 3] == 13 { end = lf + 1; break }
            i = lf + 1
        }
        guard end > 0 else {
            return n > maxHeaderBytes ? .invalid("response header block over \(maxHeaderBytes) bytes") : .needMoreData
        }
        // Status line.
        guard end >= 16 else { return .invalid("status line too short") }
        let minor = raw[7]
        guard minor == UInt8(ascii: "0") || minor == UInt8(ascii: "1"), raw[8] == UInt8(ascii: " ") else {
            return .invalid("bad HTTP version in the status line")
        }
        var status = 0
        for k in 9..<12 {
            let d = raw[k] &- 48
            guard d < 10 else { return .invalid("status code is not three digits") }
            status = status * 10 + Int(d)
        }
        guard raw[12] == UInt8(ascii: " ") || raw[12] == 13 else { return .invalid("status code is not three digits followed by a space") }
        guard (100...599).contains(status) else { return .invalid("status code \(status) is outside 100-599 (RFC 9110 §15)") }
        var head = Head(
            status: status, contentLength: nil, chunked: false, closes: minor == UInt8(ascii: "0"), headerLength: end, headers: [])
        var sawClose = false
        let tchars = PlainHTTPRequest.tokenChars, vchars = valueChars  // (read once: a global is checked on each access)
        // Skip to the first header line.
        var line = 12
        while line < end && raw[line] != 10 { line += 1 }
        line += 1
        while line < end - 2 {
            let eol = index(of: 10, in: raw, from: line, to: end) ?? end
            guard eol > line, raw[eol - 1] == 13 else { return .invalid("header line not ended by CRLF") }
            let colon = index(of: UInt8(ascii: ":"), in: raw, from: line, to: eol) ?? eol
            guard colon < eol, colon > line, raw[colon - 1] != UInt8(ascii: " ") else { return .invalid("malformed header line") }
            // As llhttp: a name of token characters (no folded line), a value without control bytes (a bare CR
            // in it would end a line for some clients).
            for k in line..<colon where !tchars[Int(raw[k])] { return .invalid("a header name with a byte that is not a token character") }
            for k in (colon + 1)..<(eol - 1) where !vchars[Int(raw[k])] { return .invalid("a header value with a control byte") }
            var vStart = colon + 1
            var vEnd = eol - 1
            while vStart < vEnd && (raw[vStart] == 32 || raw[vStart] == 9) { vStart += 1 }
            while vEnd > vStart && (raw[vEnd - 1] == 32 || raw[vEnd - 1] == 9) { vEnd -= 1 }
            let nameLength = colon - line
            if nameLength == 14 && equalsLowercased(raw, line, "content-length") {
                var v = 0
                guard vEnd > vStart, vEnd - vStart <= 15 else { return .invalid("bad Content-Length") }
                for k in vStart..<vEnd {
                    let d = raw[k] &- 48
                    guard d < 10 else { return .invalid("bad Content-Length") }
                    v = v * 10 + Int(d)
                }
                if let previous = head.contentLength, previous != v { return .invalid("conflicting Content-Length headers") }
                head.contentLength = v
            } else if nameLength == 17 && equalsLowercased(raw, line, "transfer-encoding") {
                head.chunked = true
            } else if nameLength == 10 && equalsLowercased(raw, line, "connection") {
                // Byte-wise, case-insensitive: every keep-alive answer carries this header (no String, no Foundation search).
                let value = UnsafeRawBufferPointer(rebasing: raw[vStart..<vEnd])
                // A `close` in any Connection header holds (llhttp ORs them); keep-alive only speaks for HTTP/1.0.
                if containsLowercased(value, "close") {
                    head.closes = true
                    sawClose = true
                } else if containsLowercased(value, "keep-alive") && !sawClose {
                    head.closes = false
                }
            }
            if collectHeaders {
                head.headers.append(
                    (
                        String(decoding: UnsafeRawBufferPointer(rebasing: raw[line..<colon]), as: UTF8.self),
                        String(decoding: UnsafeRawBufferPointer(rebasing: raw[vStart..<vEnd]), as: UTF8.self)
                    ))
            }
            line = eol + 1
        }
        // Both framings at once is how responses are split (RFC 9112 §6.3: handled as an error, as llhttp does).
        if head.chunked && head.contentLength != nil { return .invalid("both Transfer-Encoding and Content-Length") }
        if head.bodiless { head.contentLength = 0; head.chunked = false }
        return .head(head)
    }

    /// Field value bytes llhttp accepts: visible ASCII, space, tab and obs-text (no other controls, no DEL).
    static let valueChars: [Bool] = (0..<256).map { b in (b >= 0x20 && b != 0x7F) || b == 0x09 }

    /// The position of the first `byte` in `raw[from..<to]` (`memchr`), or nil.
    @inline(__always)
    static func index(of byte: UInt8, in raw: UnsafeRawBufferPointer, from: Int, to: Int) -> Int? {
        guard from < to, let base = raw.baseAddress, let p = memchr(base + from, Int32(byte), to - from) else { return nil }
        return base.distance(to: UnsafeRawPointer(p))
    }

    /// Whether `token` (lower-case ASCII) occurs in `value`, ignoring ASCII case.
    static func containsLowercased(_ value: UnsafeRawBufferPointer, _ token: StaticString) -> Bool {
        let t = UnsafeRawBufferPointer(start: token.utf8Start, count: token.utf8CodeUnitCount)
        guard value.count >= t.count else { return false }
        for start in 0...(value.count - t.count) {
            var k = 0
            while k < t.count {
                let b = value[start + k]
                if (b >= 65 && b <= 90 ? b | 0x20 : b) != t[k] { break }
                k += 1
            }
            if k == t.count { return true }
        }
        return false
    }

    @inline(__always)
    private static func equalsLowercased(_ raw: UnsafeRawBufferPointer, _ at: Int, _ name: StaticString) -> Bool {
        let p = name.utf8Start
        for k in 0..<name.utf8CodeUnitCount where (raw[at + k] | 0x20) != p[k] { return false }
        return true
    }
}

/// Builds raw HTTP/1.1 request bytes: the load generator's pre-serialised requests and the test client.
public enum HTTPRequestWriter {
    /// `METHOD target HTTP/1.1`, `Host`, the headers as given, `Content-Length` for a body (and for POST/PUT/PATCH
    /// without one), then the body.
    public static func bytes(method: String, target: String, host: String, headers: [(String, String)] = [], body: [UInt8] = []) -> [UInt8]
    {
        var head = "\(method) \(target) HTTP/1.1\r\nHost: \(host)\r\n"
        for (n, v) in headers where n.lowercased() != "content-length" && n.lowercased() != "host" { head += "\(n): \(v)\r\n" }
        if !body.isEmpty || method == "POST" || method == "PUT" || method == "PATCH" { head += "Content-Length: \(body.count)\r\n" }
        head += "\r\n"
        return Array(head.utf8) + body
    }
}
