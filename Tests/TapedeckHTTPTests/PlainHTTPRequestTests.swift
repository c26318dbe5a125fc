import NIOCore
import NIOEmbedded
import NIOHTTP1
import Testing
@testable import TapedeckHTTP

/// The fast lane's parser: what it takes, what it leaves to NIO's decoder, and that what it takes is what
/// llhttp makes of the same bytes.
@Suite struct PlainHTTPRequestTests {
    static func parse(_ s: String, limits: HTTPServerLimits = HTTPServerLimits()) -> PlainHTTPRequest? {
        Array(s.utf8).withUnsafeBytes { PlainHTTPRequest.parse($0, limits: limits) }
    }

    @Test func findsTheTargetTheHeadersAndTheLength() throws {
        let text = "GET /?Action=X&Id.1=a%2Fb HTTP/1.1\r\nHost: h\r\nX-Acs-Version:\t2014-05-26 \r\n\r\nGET / HTTP/1.1\r\n"
        let r = try #require(Self.parse(text))
        let bytes = Array(text.utf8)
        #expect(r.method == .GET)
        #expect(String(decoding: bytes[r.target], as: UTF8.self) == "/?Action=X&Id.1=a%2Fb")
        #expect(String(decoding: bytes[r.headers], as: UTF8.self) == "Host: h\r\nX-Acs-Version:\t2014-05-26 \r\n")
        #expect(r.length == text.utf8.count - "GET / HTTP/1.1\r\n".utf8.count)
        bytes.withUnsafeBytes { raw in
            let h = PlainHTTPHeaders(raw, r)
            #expect(h.contains("x-acs-version"))
            #expect(h.contains("host"))
            #expect(!h.contains("x-acs-action"))
            #expect(!h.contains("hos"))
        }
        let post = try #require(Self.parse("POST /x HTTP/1.1\r\ncontent-length: 0\r\nhost: h\r\nConnection: Keep-Alive\r\n\r\n"))
        #expect(post.method == .POST)
        let bare = try #require(Self.parse("GET /a HTTP/1.1\r\nHost: h\r\n\r\n"))
        #expect(bare.length == 28)
    }

    @Test(arguments: [
        ("HTTP/1.0", "GET / HTTP/1.0\r\nHost: h\r\n\r\n"),
        ("HEAD", "HEAD / HTTP/1.1\r\nHost: h\r\n\r\n"),
        ("lowercase method", "get / HTTP/1.1\r\nHost: h\r\n\r\n"),
        ("PUT", "PUT / HTTP/1.1\r\nHost: h\r\n\r\n"),
        ("asterisk target", "GET * HTTP/1.1\r\nHost: h\r\n\r\n"),
        ("absolute target", "GET http://h/ HTTP/1.1\r\nHost: h\r\n\r\n"),
        ("fragment", "GET /a#b HTTP/1.1\r\nHost: h\r\n\r\n"),
        ("quote in target", "GET /a\"b HTTP/1.1\r\nHost: h\r\n\r\n"),
        ("brace in target", "GET /a{b} HTTP/1.1\r\nHost: h\r\n\r\n"),
        ("two spaces", "GET  / HTTP/1.1\r\nHost: h\r\n\r\n"),
        ("leading blank line", "\r\nGET / HTTP/1.1\r\nHost: h\r\n\r\n"),
        ("bare LF line", "GET / HTTP/1.1\nHost: h\r\n\r\n"),
        ("bare LF header", "GET / HTTP/1.1\r\nHost: h\n\r\n"),
        ("bare CR", "GET / HTTP/1.1\r\nHost: h\rX: y\r\n\r\n"),
        ("folded header", "GET / HTTP/1.1\r\nHost: h\r\n  more\r\n\r\n"),
        ("space before colon", "GET / HTTP/1.1\r\nHost : h\r\n\r\n"),
        ("empty name", "GET / HTTP/1.1\r\n: h\r\n\r\n"),
        ("NUL in value", "GET / HTTP/1.1\r\nHost: h\u{0}\r\n\r\n"),
        ("DEL in value", "GET / HTTP/1.1\r\nHost: h\u{7F}\r\n\r\n"),
        ("non-ASCII value", "GET / HTTP/1.1\r\nX: é\r\n\r\n"),
        ("body", "POST / HTTP/1.1\r\nContent-Length: 2\r\n\r\nab"),
        ("content-length 00", "POST / HTTP/1.1\r\nContent-Length: 00\r\n\r\n"),
        ("tab after the length", "POST / HTTP/1.1\r\nContent-Length: 0\t\r\n\r\n"),
        ("tab after keep-alive", "GET / HTTP/1.1\r\nConnection: keep-alive\t\r\n\r\n"),
        ("two content-lengths", "POST / HTTP/1.1\r\nContent-Length: 0\r\nContent-Length: 0\r\n\r\n"),
        ("chunked", "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"),
        ("expect", "POST / HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 0\r\n\r\n"),
        ("upgrade", "GET / HTTP/1.1\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n\r\n"),
        ("connection close", "GET / HTTP/1.1\r\nConnection: close\r\n\r\n"),
        ("proxy-connection close", "GET / HTTP/1.1\r\nProxy-Connection: close\r\n\r\n"),
        ("connection keep-alive, close", "GET / HTTP/1.1\r\nConnection: keep-alive, close\r\n\r\n"),
        ("no blank line yet", "GET / HTTP/1.1\r\nHost: h\r\n"),
        ("no Host", "GET / HTTP/1.1\r\nX: y\r\n\r\n"),
        ("two Hosts", "GET / HTTP/1.1\r\nHost: h\r\nhost: h\r\n\r\n"),
    ])
    func leavesEverythingElseToTheDecoder(_ c: (String, String)) {
        #expect(Self.parse(c.1) == nil, "\(c.0)")
    }

    @Test func leavesRequestsOverTheLimitsToTheHandler() {
        var limits = HTTPServerLimits()
        limits.maxURIBytes = 10
        limits.maxHeaderBytes = 29  // `Host: h` counts 9, as the handler counts it
        #expect(Self.parse("GET /123456789 HTTP/1.1\r\nHost: h\r\n\r\n", limits: limits) != nil)
        #expect(Self.parse("GET /1234567890 HTTP/1.1\r\nHost: h\r\n\r\n", limits: limits) == nil)
        #expect(Self.parse("GET / HTTP/1.1\r\nHost: h\r\nabcdef: 0123456789\r\n\r\n", limits: limits) != nil)
        #expect(Self.parse("GET / HTTP/1.1\r\nHost: h\r\nabcdefg: 0123456789\r\n\r\n", limits: limits) == nil)
        // Trailing whitespace counts, as in the value NIO's decoder gives (and the handler's limit counts).
        #expect(Self.parse("GET / HTTP/1.1\r\nHost: h\r\nabcdef: 0123456789 \r\n\r\n", limits: limits) == nil)
        #expect(Self.parse("GET / HTTP/1.1\r\nHost: h\r\nabcdef:   012345678\r\n\r\n", limits: limits) != nil)
        // NIO's decoder refuses a field past 80 KiB, whatever the server's limit.
        limits.maxHeaderBytes = 1 << 20
        #expect(Self.parse("GET / HTTP/1.1\r\nHost: h\r\nX: a" + String(repeating: " ", count: 81_920) + "\r\n\r\n", limits: limits) == nil)
    }

    @Test func everyProperPrefixIsIncomplete() throws {
        let text = "POST /?a=b HTTP/1.1\r\nHost: example\r\nContent-Length: 0\r\n\r\n"
        #expect(Self.parse(text)?.length == text.utf8.count)
        let bytes = Array(text.utf8)
        for n in 0..<bytes.count {
            #expect(bytes[..<n].withUnsafeBytes { PlainHTTPRequest.parse($0, limits: HTTPServerLimits()) } == nil, "prefix of \(n) bytes")
        }
    }

    /// Random requests, most of them plain, some with a byte llhttp may refuse: for every one the lane takes,
    /// NIO's decoder (what the full path runs) sees the same method, target and headers, and no body or error.
    @Test func whatItTakesLlhttpParsesTheSame() throws {
        var rng = SystemRandomNumberGenerator()
        let alphabet = Array("abcXYZ019-._~!$&'()*+,;=:@/?%\"#{}|\\^`<> \t\u{7F}\u{0}é".unicodeScalars)
        func piece(_ n: Int) -> String {
            String(String.UnicodeScalarView((0..<n).map { _ in
                Int.random(in: 0..<10, using: &rng) < 8
                    ? alphabet[Int.random(in: 0..<18, using: &rng)] : alphabet[Int.random(in: 0..<alphabet.count, using: &rng)]
            }))
        }
        var taken = 0
        for _ in 0..<1500 {
            var text = Bool.random(using: &rng) ? "GET " : "POST "
            text += "/" + piece(Int.random(in: 0..<30, using: &rng)) + " HTTP/1.1\r\nHost: h\r\n"
            for _ in 0..<Int.random(in: 0..<5, using: &rng) {
                let names = ["x-host", "X-Acs-Version", "Accept", "x-" + piece(4), "Content-Length", "Connection", "Proxy-Connection"]
                let name = names[Int.random(in: 0..<names.count, using: &rng)]
                let connection = ["keep-alive", "Keep-Alive", "close", "Close", "upgrade", "keep-alive, close", "keep-alive\t", "keep-alive  "]
                let length = ["0", "0 ", "0\t", "\t0", "00", "0  "]
                let value =
                    name == "Content-Length"
                    ? length[Int.random(in: 0..<length.count, using: &rng)]
                    : name.hasSuffix("Connection") ? connection[Int.random(in: 0..<connection.count, using: &rng)] : piece(Int.random(in: 0..<12, using: &rng))
                text += "\(name):\(Bool.random(using: &rng) ? " " : "")\(value)\r\n"
            }
            text += "\r\n"
            // A small header limit, so that the lane's count and the handler's are compared at the edge too.
            var limits = HTTPServerLimits()
            limits.maxHeaderBytes = 60
            guard let plain = Self.parse(text, limits: limits) else { continue }
            taken += 1
            let bytes = Array(text.utf8)
            let channel = EmbeddedChannel(handler: ByteToMessageHandler(HTTPRequestDecoder(leftOverBytesStrategy: .dropBytes)))
            try channel.writeInbound(ByteBuffer(bytes: bytes))
            guard case .head(let head)? = try channel.readInbound(as: HTTPServerRequestPart.self) else {
                Issue.record("llhttp gave no head for a request the lane takes: \(text.debugDescription)")
                continue
            }
            #expect(head.method == plain.method)
            #expect(head.uri == String(decoding: bytes[plain.target], as: UTF8.self))
            #expect(head.version == .http1_1)
            #expect(head.isKeepAlive, "the lane answers keep-alive: \(text.debugDescription)")
            let counted = head.headers.reduce(0) { $0 + $1.name.utf8.count + $1.value.utf8.count + 4 }
            #expect(counted <= limits.maxHeaderBytes, "the handler would refuse it (431): \(text.debugDescription)")
            let lines = String(decoding: bytes[plain.headers], as: UTF8.self).split(separator: "\r\n", omittingEmptySubsequences: true)
            let mine = lines.map { line -> String in
                let c = line.firstIndex(of: ":")!
                // llhttp drops the value's leading whitespace and keeps its trailing whitespace.
                return "\(line[..<c]):\(line[line.index(after: c)...].drop { $0 == " " || $0 == "\t" })"
            }
            #expect(head.headers.map { "\($0.name):\($0.value)" } == mine, "\(text.debugDescription)")
            let built = bytes.withUnsafeBytes { PlainHTTPHeaders($0, plain).httpHeaders() }
            #expect(built.map { "\($0.name):\($0.value)" } == head.headers.map { "\($0.name):\($0.value)" })
            let next = try channel.readInbound(as: HTTPServerRequestPart.self)
            guard case .end? = next else {
                Issue.record("llhttp saw more than a head for \(text.debugDescription): \(String(describing: next))")
                continue
            }
            _ = try channel.finish()
        }
        #expect(taken > 200)
    }
}
