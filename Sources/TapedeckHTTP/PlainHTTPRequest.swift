import NIOHTTP1

/// A request in the one form the fast lane takes straight from its bytes, found without copying them:
/// `GET` or `POST`, HTTP/1.1, a target of plain URL characters within the target limit, `name: value`
/// header lines of visible ASCII within the header limit, no body (no `Content-Length` other than `0`,
/// no `Transfer-Encoding`), no `Expect`, no `Upgrade`, no `Connection` or `Proxy-Connection` other than
/// `keep-alive`, exactly one `Host`, and all of it in the bytes at hand.
///
/// Anything else is not plain (`parse` returns nil), and NIO's decoder and the server connection handler
/// take it with all their rules. So the lane never answers what the full path would refuse: every
/// request `parse` accepts is one that llhttp parses to the same method, target and headers.
public struct PlainHTTPRequest: Equatable {
    public var method: HTTPMethod
    /// Byte offsets into the parsed bytes.
    public var target: Range<Int>
    /// The header lines, each ending in CRLF (empty when there are none).
    public var headers: Range<Int>
    /// The request's whole length, through the blank line.
    public var length: Int

    /// The first request in `bytes` when it is plain and complete, else nil.
    public static func parse(_ bytes: UnsafeRawBufferPointer, limits: HTTPServerLimits) -> PlainHTTPRequest? {
        let n = bytes.count
        guard n >= 18, let base = bytes.baseAddress else { return nil }
        let p = base.assumingMemoryBound(to: UInt8.self)
        let method: HTTPMethod
        var i: Int
        if p[0] == UInt8(ascii: "G"), p[1] == UInt8(ascii: "E"), p[2] == UInt8(ascii: "T"), p[3] == UInt8(ascii: " ") {
            method = .GET
            i = 4
        } else if p[0] == UInt8(ascii: "P"), p[1] == UInt8(ascii: "O"), p[2] == UInt8(ascii: "S"), p[3] == UInt8(ascii: "T"),
            p[4] == UInt8(ascii: " ")
        {
            method = .POST
            i = 5
        } else {
            return nil
        }
        guard p[i] == UInt8(ascii: "/") else { return nil }
        let targetStart = i
        let targetChars = PlainHTTPRequest.targetChars
        while i < n && targetChars[Int(p[i])] { i += 1 }
        let target = targetStart..<i
        guard target.count <= limits.maxURIBytes, i + 11 <= n, p[i] == UInt8(ascii: " ") else { return nil }
        guard matches(p + i + 1, " HTTP/1.1\r\n", from: 1) else { return nil }
        i += 11
        let headersStart = i
        var headerBytes = 0
        var sawContentLength = false
        var sawHost = false
        while true {
            guard i + 1 < n else { return nil }
            if p[i] == UInt8(ascii: "\r") {
                guard p[i + 1] == UInt8(ascii: "\n"), sawHost else { return nil }  // no Host: the full path's 400
                return PlainHTTPRequest(method: method, target: target, headers: headersStart..<i, length: i + 2)
            }
            let nameStart = i
            let tchars = PlainHTTPRequest.tokenChars
            while i < n && tchars[Int(p[i])] { i += 1 }
            guard i < n, i > nameStart, p[i] == UInt8(ascii: ":") else { return nil }
            let name = nameStart..<i
            i += 1
            let valueStart = i
            let valueChars = PlainHTTPRequest.valueChars
            while i < n && valueChars[Int(p[i])] { i += 1 }
            guard i + 1 < n, p[i] == UInt8(ascii: "\r"), p[i + 1] == UInt8(ascii: "\n") else { return nil }
            // As NIO gives it: without its leading whitespace, with its trailing whitespace (what the limit counts).
            var lead = valueStart
            while lead < i && (p[lead] == 0x20 || p[lead] == 0x09) { lead += 1 }
            let raw = lead..<i
            headerBytes += name.count + raw.count + 4
            guard headerBytes <= limits.maxHeaderBytes, name.count + raw.count <= PlainHTTPRequest.maxFieldBytes else { return nil }
            // The special headers' values are taken only with trailing spaces (llhttp refuses a tab after a length).
            var end = i
            while end > lead && p[end - 1] == 0x20 { end -= 1 }
            let value = lead..<end
            i += 2
            // The headers that give a request a body or another meaning: only their plain forms pass.
            switch name.count {
            case 6 where equalsLowercased(p, name, "expect"), 7 where equalsLowercased(p, name, "upgrade"):
                return nil
            case 10 where equalsLowercased(p, name, "connection"), 16 where equalsLowercased(p, name, "proxy-connection"):
                // llhttp reads `Proxy-Connection` as it reads `Connection`.
                guard equalsLowercased(p, value, "keep-alive") else { return nil }
            case 14 where equalsLowercased(p, name, "content-length"):
                guard !sawContentLength, value.count == 1, p[value.lowerBound] == UInt8(ascii: "0") else { return nil }
                sawContentLength = true
            case 17 where equalsLowercased(p, name, "transfer-encoding"):
                return nil
            case 4 where equalsLowercased(p, name, "host"):
                guard !sawHost else { return nil }  // two: the full path's 400
                sawHost = true
            default:
                break
            }
        }
    }

    private static func matches(_ p: UnsafePointer<UInt8>, _ text: StaticString, from: Int) -> Bool {
        let t = text.utf8Start
        for k in from..<text.utf8CodeUnitCount where p[k - from] != t[k] { return false }
        return true
    }

    /// NIO's decoder refuses a header field (name and value) past 80 KiB, whatever the server's own limit.
    static let maxFieldBytes = 80 * 1024

    /// `p[r]`, ASCII letters lowered, is `text` (which is lowercase).
    fileprivate static func equalsLowercased(_ p: UnsafePointer<UInt8>, _ r: Range<Int>, _ text: StaticString) -> Bool {
        guard r.count == text.utf8CodeUnitCount else { return false }
        let t = text.utf8Start
        for k in 0..<r.count {
            var b = p[r.lowerBound + k]
            if b >= UInt8(ascii: "A") && b <= UInt8(ascii: "Z") { b |= 0x20 }
            if b != t[k] { return false }
        }
        return true
    }

    /// Target bytes taken as plain: RFC 3986's unreserved and sub-delims, `: @ / ? %`. (`#`, quotes, brackets,
    /// `\ ^ | { } <` and `>` are left to the full path, whatever llhttp makes of them.)
    static let targetChars: [Bool] = (0..<256).map { b in
        let c = UInt8(b)
        return (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5A) || (c >= 0x61 && c <= 0x7A)
            || "-._~!$&'()*+,;=:@/?%".utf8.contains(c)
    }

    /// RFC 9110's `tchar`.
    static let tokenChars: [Bool] = (0..<256).map { b in
        let c = UInt8(b)
        return (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5A) || (c >= 0x61 && c <= 0x7A)
            || "!#$%&'*+-.^_`|~".utf8.contains(c)
    }

    /// Header value bytes taken as plain: visible ASCII, space and tab (no obs-text, no controls).
    static let valueChars: [Bool] = (0..<256).map { b in (b >= 0x20 && b <= 0x7E) || b == 0x09 }
}

/// The header lines of a plain request, as they arrived; valid only while the lane reads its bytes.
public struct PlainHTTPHeaders {
    private let lines: UnsafeBufferPointer<UInt8>

    public init(_ bytes: UnsafeRawBufferPointer, _ request: PlainHTTPRequest) {
        lines = UnsafeBufferPointer(rebasing: bytes.bindMemory(to: UInt8.self)[request.headers])
    }

    /// The header lines as they arrived, each ending in CRLF.
    public var bytes: UnsafeBufferPointer<UInt8> { lines }

    /// The headers as NIO's decoder gives them: in order, each value without its leading whitespace (llhttp
    /// keeps trailing whitespace).
    public func httpHeaders() -> HTTPHeaders {
        var headers = HTTPHeaders()
        var i = 0
        while i < lines.count {
            let colon = lines[i...].firstIndex(of: UInt8(ascii: ":")) ?? lines.count
            let cr = lines[colon...].firstIndex(of: UInt8(ascii: "\r")) ?? lines.count
            var v = colon + 1
            while v < cr && (lines[v] == 0x20 || lines[v] == 0x09) { v += 1 }
            headers.add(
                name: String(decoding: UnsafeBufferPointer(rebasing: lines[i..<colon]), as: UTF8.self),
                value: String(decoding: UnsafeBufferPointer(rebasing: lines[v..<cr]), as: UTF8.self))
            i = cr + 2
        }
        return headers
    }

    /// Whether a header is named `lowercasedName` (compared ignoring ASCII case).
    public func contains(_ lowercasedName: StaticString) -> Bool {
        guard let base = lines.baseAddress else { return false }
        var i = 0
        while i < lines.count {
            // `parse` checked every line: a name, a colon, a value, CRLF.
            let colon = lines[i...].firstIndex(of: UInt8(ascii: ":")) ?? lines.count
            if PlainHTTPRequest.equalsLowercased(base, i..<colon, lowercasedName) { return true }
            i = (lines[colon...].firstIndex(of: UInt8(ascii: "\n")) ?? lines.count) + 1
        }
        return false
    }
}
