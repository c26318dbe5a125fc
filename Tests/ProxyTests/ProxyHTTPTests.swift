import CompressNIO
import Foundation
import Synchronization
import NIOCore
import Proxy
import TapedeckHTTP
import TapedeckTesting
import Testing

/// The HTTP behaviour of the proxy, on real sockets, in each mode: what ordinary clients (curl, aiohttp,
/// Python's http.client) do that the project's own clients never did.
@Suite struct ProxyHTTPTests {
    static let call = "/?Action=DescribeSecurityGroups&RegionId=cn-hangzhou&PageSize=1"

    @Test(arguments: [ProxyMode.record, .auto, .passthrough, .replay])
    func expect100ContinueIsAnsweredBeforeTheBodyInEveryMode(mode: ProxyMode) async throws {
        let path = tempCassette("expect-\(mode)")
        defer { try? FileManager.default.removeItem(atPath: path) }
        let body = "Action=DescribeSecurityGroups&RegionId=cn-hangzhou&PageSize=1"
        let head =
            "POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/x-www-form-urlencoded\r\n"
            + "Content-Length: \(body.utf8.count)\r\nExpect: 100-continue\r\n\r\n"
        try await TestSimulator.with(groups: 20) { sim in
            if mode == .replay {  // something to replay
                try await TestProxy.with(cassette: path, mode: .record, upstream: sim.url) { proxy in
                    _ = try await RawHTTPClient.request(
                        "POST", "/", port: proxy.port, headers: [("Content-Type", "application/x-www-form-urlencoded")],
                        body: Array(body.utf8))
                }
            }
            try await TestProxy.with(cassette: path, mode: mode, upstream: sim.url) { proxy in
                let c = try await RawHTTPConnection.connect(port: proxy.port)
                defer { Task { await c.close() } }
                try await c.send(head)
                let interim = try await c.received { $0.contains("\r\n\r\n") }
                #expect(interim == "HTTP/1.1 100 Continue\r\n\r\n", "the client waits for this before it sends the body")
                try await c.send(body)
                let all = try await c.received { $0.contains("\"SecurityGroups\"") }
                #expect(all.contains("HTTP/1.1 200 OK\r\n"), "\(all)")
            }
        }
    }

    @Test func headThroughTheProxyKeepsTheConnectionInSync() async throws {
        let path = tempCassette("head")
        defer { try? FileManager.default.removeItem(atPath: path) }
        try await TestSimulator.with(groups: 20) { sim in
            try await TestProxy.with(cassette: path, mode: .passthrough, upstream: sim.url) { proxy in
                let c = try await RawHTTPConnection.connect(port: proxy.port)
                defer { Task { await c.close() } }
                try await c.send("HEAD \(Self.call) HTTP/1.1\r\nHost: x\r\n\r\nGET \(Self.call) HTTP/1.1\r\nHost: x\r\n\r\n")
                let out = try await c.received { $0.contains("\"SecurityGroups\"") && $0.hasSuffix("}") }
                let responses = out.components(separatedBy: "HTTP/1.1 ").filter { !$0.isEmpty }
                #expect(responses.count == 2, "\(out)")
                #expect(responses.first?.hasSuffix("\r\n\r\n") == true, "the HEAD answer carries no body: \(out)")
            }
        }
    }

    /// A raw connection to a recording proxy with its own cassette and CA directory (the CONNECT tests).
    func withConnectionToAProxy(_ name: String, _ body: (RawHTTPConnection) async throws -> Void) async throws {
        let path = tempCassette(name)
        let ca = NSTemporaryDirectory() + "tapedeck-ca-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: path); try? FileManager.default.removeItem(atPath: ca) }
        try await TestProxy.with(cassette: path, mode: .record, caDirectory: ca) { proxy in
            let c = try await RawHTTPConnection.connect(port: proxy.port)
            defer { Task { await c.close() } }
            try await body(c)
        }
    }

    @Test func connectIsAnsweredWithoutContentLength() async throws {
        try await withConnectionToAProxy("connect") { c in
            try await c.send("CONNECT example.test:443 HTTP/1.1\r\nHost: example.test:443\r\n\r\n")
            let out = try await c.received { $0.contains("\r\n\r\n") }
            #expect(out == "HTTP/1.1 200 OK\r\n\r\n")
        }
    }

    /// A CONNECT target must name one host: a wildcard or an empty label gets a 400, not a wildcard
    /// certificate; a name with its root dot is taken without it (a certificate may not carry it).
    @Test(arguments: [("*.example.com:443", "400"), ("a..b:443", "400"), ("localhost.:443", "200")])
    func connectTargetsNameOneHost(_ target: String, _ status: String) async throws {
        try await withConnectionToAProxy("connect-name") { c in
            try await c.send("CONNECT \(target) HTTP/1.1\r\nHost: \(target)\r\n\r\n")
            let out = try await c.received { $0.contains("\r\n\r\n") }
            #expect(out.hasPrefix("HTTP/1.1 \(status)"), "\(target): \(out)")
        }
    }

    /// Python's http.client (urllib3, requests, every Python SDK through HTTPS_PROXY) and `curl --proxy1.0`
    /// send `CONNECT … HTTP/1.0`: not keep-alive, and still a tunnel that stays open after the 200.
    @Test func anHTTP10ConnectStaysOpenAsATunnel() async throws {
        try await withConnectionToAProxy("connect10") { c in
            try await c.send("CONNECT example.test:443 HTTP/1.0\r\n\r\n")
            let out = try await c.received { $0.contains("\r\n\r\n") }
            #expect(out.hasPrefix("HTTP/1.0 200") || out.hasPrefix("HTTP/1.1 200"), "\(out)")
            try await Task.sleep(for: .milliseconds(300))
            #expect(try await !c.isClosed, "the tunnel must stay open for the client's TLS handshake")
        }
    }

    @Test func anUpstreamGzipBombIsRefusedNotInflated() async throws {
        var zeros = ByteBuffer(repeating: 0, count: 64 << 20)
        let bomb = Array(try zeros.compress(with: .gzip()).readableBytesView)  // 64 MiB of zeros, ~64 KB on the wire
        let path = tempCassette("bomb")
        defer { try? FileManager.default.removeItem(atPath: path) }
        try await ScriptedUpstream.with(answer: { _ in
            Array(
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Encoding: gzip\r\nContent-Length: \(bomb.count)\r\n\r\n".utf8)
                + bomb
        }) { port in
            try await TestProxy.with(
                cassette: path, mode: .record, upstream: "http://127.0.0.1:\(port)",
                configure: { $0.maxBodyBytes = 1 << 20 }
            ) { proxy in
                let r = try await RawHTTPClient.request("GET", Self.call, port: proxy.port)
                #expect(r.status == 502)
                #expect(r.bodyString.contains("decodes to more than 1048576 bytes"), "\(r.bodyString)")
                #expect(proxy.engine.status.recorded == 0)
            }
        }
    }

    /// While recording, the upstream is asked only for codings the proxy can decode (and so redact); one that
    /// answers `zstd` or `br` anyway is not recorded (its body cannot be checked for credentials) and the client
    /// is told why. Passthrough writes nothing and relays it as it came.
    @Test(arguments: ["zstd", "br", "gzip, br"])
    func anAnswerInACodingTheProxyCannotDecodeIsNotRecorded(coding: String) async throws {
        let path = tempCassette("zstd")
        defer { try? FileManager.default.removeItem(atPath: path) }
        final class Seen: Sendable { let requests = Mutex<[String]>([]) }
        let seen = Seen()
        let secret = Array(#"{"AccessKeySecret":"ZSTDSECRETVALUE01"}"#.utf8)  // stands for compressed bytes
        try await ScriptedUpstream.with(answer: { request in
            seen.requests.withLock { $0.append(request) }
            return Array("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Encoding: \(coding)\r\nContent-Length: \(secret.count)\r\n\r\n".utf8) + secret
        }) { port in
            try await TestProxy.with(cassette: path, mode: .record, upstream: "http://127.0.0.1:\(port)") { proxy in
                let r = try await RawHTTPClient.request(
                    "GET", Self.call, port: proxy.port, headers: [("Accept-Encoding", "deflate, gzip;q=0.9, br, zstd")])
                #expect(r.status == 500 && r.bodyString.contains("Content-Encoding: \(coding)"), "\(r.status) \(r.bodyString)")
                #expect(proxy.engine.status.recorded == 0)
                let onlyBr = try await RawHTTPClient.request("GET", Self.call + "&b=1", port: proxy.port, headers: [("Accept-Encoding", "br")])
                #expect(onlyBr.status == 500)
                proxy.engine.setMode(.passthrough)
                let relayed = try await RawHTTPClient.request("GET", Self.call + "&c=1", port: proxy.port, headers: [("Accept-Encoding", "br")])
                #expect(relayed.status == 200 && relayed.header("content-encoding") == coding, "\(relayed.headers)")
            }
        }
        let requests = seen.requests.withLock { $0 }
        #expect(requests.count == 3)
        guard requests.count == 3 else { return }
        #expect(requests[0].contains("Accept-Encoding: deflate, gzip;q=0.9\r\n"), "\(requests[0])")
        #expect(requests[1].contains("Accept-Encoding: identity\r\n"), "\(requests[1])")
        #expect(requests[2].contains("Accept-Encoding: br\r\n"), "passthrough asks as the client asked: \(requests[2])")
        let text = (try? String(contentsOfFile: path, encoding: .isoLatin1)) ?? ""
        #expect(!text.contains("ZSTDSECRET"))
    }

    /// An upstream that announces more than `--max-body` and stalls is refused at its head in record mode too
    /// (it waited for the upstream timeout, then answered 504), as the passthrough lane refuses it.
    @Test(arguments: [ProxyMode.record, .passthrough])
    func anAnnouncedBodyOverTheLimitIsRefusedAtOnce(mode: ProxyMode) async throws {
        let path = tempCassette("bigcl")
        defer { try? FileManager.default.removeItem(atPath: path) }
        try await ScriptedUpstream.with(answer: { _ in Array("HTTP/1.1 200 OK\r\nContent-Length: 100000000\r\n\r\nstart".utf8) }) { port in
            try await TestProxy.with(
                cassette: path, mode: mode, upstream: "http://127.0.0.1:\(port)", configure: { $0.maxBodyBytes = 1 << 20 }
            ) { proxy in
                let r = try await RawHTTPClient.request("GET", Self.call, port: proxy.port)
                #expect(r.status == 502 && r.bodyString.contains("1048576"), "\(r.status) \(r.bodyString)")
                #expect(proxy.engine.status.recorded == 0)
            }
        }
    }

    @Test func aCompressedUpstreamAnswerIsDecodedForTheClientAndTheCassette() async throws {
        var text = ByteBuffer(string: #"{"ok":true}"#)
        let gz = Array(try text.compress(with: .gzip()).readableBytesView)
        let path = tempCassette("gzip")
        defer { try? FileManager.default.removeItem(atPath: path) }
        try await ScriptedUpstream.with(answer: { _ in
            Array("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Encoding: gzip\r\nContent-Length: \(gz.count)\r\n\r\n".utf8)
                + gz
        }) { port in
            try await TestProxy.with(cassette: path, mode: .record, upstream: "http://127.0.0.1:\(port)") { proxy in
                let r = try await RawHTTPClient.request("GET", "/x", port: proxy.port)
                #expect(r.status == 200 && r.bodyString == #"{"ok":true}"#)
                #expect(r.header("content-encoding") == nil)
            }
        }
    }

    /// A gzip answer cut short by the upstream (its Content-Length framing intact) is a 502 in record and
    /// passthrough, and nothing is recorded: decoded as far as it went, it was once a 200 with 8000 of 10000 bytes,
    /// replayed for good.
    @Test(arguments: [ProxyMode.record, .passthrough])
    func aCompressedAnswerCutShortIsAnUpstreamErrorNotAShorterAnswer(mode: ProxyMode) async throws {
        var text = ByteBuffer(string: String((0..<10_000).map { _ in "abcdefghij".randomElement()! }))
        let gz = Array(try text.compress(with: .gzip()).readableBytesView)
        let cut = Array(gz.prefix(gz.count * 3 / 4))
        let path = tempCassette("gzcut")
        defer { try? FileManager.default.removeItem(atPath: path) }
        try await ScriptedUpstream.with(answer: { _ in
            Array("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Encoding: gzip\r\nContent-Length: \(cut.count)\r\n\r\n".utf8) + cut
        }) { port in
            try await TestProxy.with(cassette: path, mode: mode, upstream: "http://127.0.0.1:\(port)") { proxy in
                let r = try await RawHTTPClient.request("GET", "/x", port: proxy.port)
                #expect(r.status == 502, "\(r.status) \(r.body.count) bytes")
                #expect(r.bodyString.contains("not valid gzip"), "\(r.bodyString)")
                #expect(proxy.engine.status.recorded == 0)
            }
        }
    }

    @Test func aStatusLineThatIsNotHTTPIsAnUpstreamError() async throws {
        let path = tempCassette("status")
        defer { try? FileManager.default.removeItem(atPath: path) }
        try await ScriptedUpstream.with(answer: { _ in Array("HTTP/1.1 2000 OK\r\nContent-Length: 2\r\n\r\nok".utf8) }) { port in
            try await TestProxy.with(cassette: path, mode: .record, upstream: "http://127.0.0.1:\(port)") { proxy in
                let r = try await RawHTTPClient.request("GET", "/x", port: proxy.port)
                #expect(r.status == 502, "HTTP/1.1 2000 is not a 200: \(r.bodyString)")
                #expect(proxy.engine.status.recorded == 0)
            }
        }
    }

    @Test func bytesAfterAnAnswerAreNeverTheNextExchangesAnswer() async throws {
        let path = tempCassette("stray")
        defer { try? FileManager.default.removeItem(atPath: path) }
        // Each request gets its answer and then a second, unasked-for answer on the same connection.
        try await ScriptedUpstream.with(answer: { head in
            let n = head.split(separator: " ")[1]
            return Array(
                "HTTP/1.1 200 OK\r\nContent-Length: \(n.utf8.count)\r\n\r\n\(n)HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nstray".utf8)
        }) { port in
            try await TestProxy.with(cassette: path, mode: .passthrough, upstream: "http://127.0.0.1:\(port)") { proxy in
                for i in 0..<5 {
                    let r = try await RawHTTPClient.request("GET", "/\(i)", port: proxy.port)
                    #expect(r.bodyString == "/\(i)", "answer \(i) must be its own, not a stray one")
                    try await Task.sleep(for: .milliseconds(20))
                }
            }
        }
    }

    @Test func anOversizedRequestIsAnsweredSoTheClientCanReadIt() async throws {
        let path = tempCassette("big")
        defer { try? FileManager.default.removeItem(atPath: path) }
        try await TestProxy.with(
            cassette: path, mode: .record, upstream: "http://127.0.0.1:9",
            configure: { $0.maxBodyBytes = 1 << 20 }
        ) { proxy in
            // Like Python's http.client: the whole 8 MiB body goes out before the answer is read.
            let c = try await RawHTTPConnection.connect(port: proxy.port)
            defer { Task { await c.close() } }
            try await c.send("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: \(8 << 20)\r\n\r\n")
            try await c.send([UInt8](repeating: 97, count: 8 << 20))
            let out = try await c.received { $0.contains("}") }
            #expect(out.hasPrefix("HTTP/1.1 413 Payload Too Large\r\n"), "\(out.prefix(200))")
        }
    }
}
