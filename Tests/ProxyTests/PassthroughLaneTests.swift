import Foundation
import Matching
import NIOCore
import NIOPosix
@testable import Proxy
import Synchronization
import TapedeckHTTP
import TapedeckTesting
import Testing

/// The passthrough lane (`ProxyEngine.forwardPlain`): plain requests go upstream as bytes and their answers
/// come back re-framed from the upstream's bytes. What the client gets must be what the full path (`forward`)
/// gives for the same upstream answer; what the upstream gets, the client's request with the upstream's `Host`.
@Suite struct PassthroughLaneTests {
    static func withProxy(
        answer: @escaping @Sendable (String) -> [UInt8], delay: TimeAmount = .zero,
        configure: @escaping (inout ProxyConfiguration) -> Void = { _ in },
        _ body: (TestProxy, Int) async throws -> Void
    ) async throws {
        let dir = NSTemporaryDirectory() + "tapedeck-lane-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try await ScriptedUpstream.with(delay: delay, answer: answer) { upstream in
            try await TestProxy.with(
                cassette: dir + "/c.jsonl.gz", mode: .passthrough, upstream: "http://127.0.0.1:\(upstream)", configure: configure
            ) { proxy in try await body(proxy, upstream) }
        }
    }

    /// One request on its own connection, and everything the proxy sent back until it closed or went quiet.
    static func exchange(_ port: Int, _ request: String) async throws -> String {
        let c = try await RawHTTPConnection.connect(port: port)
        try await c.send(request)
        let text = try await c.received(timeout: .seconds(5)) { text in
            guard let end = text.range(of: "\r\n\r\n") else { return false }
            let head = text[..<end.lowerBound].lowercased()
            let length = head.split(separator: "\r\n").first { $0.hasPrefix("content-length:") }
                .flatMap { Int($0.dropFirst(15).trimmingCharacters(in: .whitespaces)) } ?? 0
            return text.utf8.count - text[..<end.upperBound].utf8.count >= length
        }
        await c.close()
        return text
    }

    static let gzipHello: [UInt8] = [
        0x1f, 0x8b, 0x08, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x03, 0xcb, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00, 0x86, 0xa6, 0x10, 0x36,
        0x05, 0x00, 0x00, 0x00,
    ]
    /// "hello", gzipped twice (`Content-Encoding: gzip, gzip`).
    static let gzipGzipHello: [UInt8] = [
        0x1f, 0x8b, 0x08, 0x00, 0x00, 0x00, 0x00, 0x00, 0x02, 0x03, 0x93, 0xef, 0xe6, 0x60, 0x00, 0x01, 0x26, 0xe6, 0xd3, 0x1e, 0x67,
        0x4f, 0x9e, 0x64, 0x67, 0x68, 0x5b, 0x26, 0x60, 0xc6, 0x0a, 0x14, 0x00, 0x00, 0xa7, 0x6f, 0xb4, 0x45, 0x19, 0x00, 0x00, 0x00,
    ]

    /// Upstream answers of every framing and header case the lane meets; each answer through the lane is
    /// byte for byte the full path's (a loopback `Origin` sends the same request down the full path).
    @Test(arguments: [
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nX-A:  spaced  \r\nContent-Length: 5\r\nKeep-Alive: timeout=5\r\nConnection: keep-alive\r\n\r\nhello",
        "HTTP/1.1 201 Created\r\nTransfer-Encoding: chunked\r\nX-B: 1\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n",
        "HTTP/1.1 404 Nope\r\nContent-Length: 2\r\nx-acs-request-id: R\r\n\r\nno",
        "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
        "HTTP/1.1 304 Not Modified\r\nETag: \"x\"\r\nContent-Length: 10\r\n\r\n",
        "HTTP/1.1 204 No Content\r\nX-C: 3\r\n\r\n",
        "HTTP/1.1 200 OK\r\nConnection: X-Secret\r\nX-Secret: s\r\nContent-Length: 2\r\n\r\nok",
        "HTTP/1.1 200 OK\r\nUpgrade: h2c\r\nTE: trailers\r\nProxy-Authenticate: Basic\r\nContent-Length: 2\r\n\r\nok",
        "HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: 25\r\n\r\n\u{1}",
        "HTTP/1.1 200 OK\r\nContent-Encoding: gzip, gzip\r\nContent-Length: 42\r\n\r\n\u{2}",
        "HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Encoding: gzip\r\nContent-Length: 42\r\n\r\n\u{2}",
    ])
    func anAnswerThroughTheLaneIsTheFullPaths(answer: String) async throws {
        // (The gzip cases' body is the compressed "hello", once or twice, put in place of its marker.)
        let bytes =
            answer.hasSuffix("\u{1}")
            ? Array(answer.utf8.dropLast()) + Self.gzipHello
            : answer.hasSuffix("\u{2}") ? Array(answer.utf8.dropLast()) + Self.gzipGzipHello : Array(answer.utf8)
        try await Self.withProxy(answer: { _ in bytes }) { proxy, _ in
            let lane = try await Self.exchange(proxy.port, "GET /a?Action=X HTTP/1.1\r\nHost: h\r\n\r\n")
            #expect(proxy.engine.stats.forwardedAsBytes.load(ordering: .relaxed) == 1)
            let full = try await Self.exchange(proxy.port, "GET /a?Action=X HTTP/1.1\r\nHost: h\r\nOrigin: http://localhost\r\n\r\n")
            #expect(proxy.engine.stats.forwardedAsBytes.load(ordering: .relaxed) == 1, "the second went the full path")
            #expect(lane == full)
            #expect(!lane.lowercased().contains("keep-alive") && !lane.contains("X-Secret") && !lane.contains("Upgrade"))
            #expect(!lane.contains("Transfer-Encoding") && !lane.contains("Content-Encoding"))
            if answer.contains("gzip") || answer.contains("chunked") { #expect(lane.hasSuffix(answer.contains("gzip") ? "\r\n\r\nhello" : "hello world")) }
        }
    }

    /// What the upstream reads: the request line and headers as sent, `Host` the upstream's, no `Connection`;
    /// a POST without a length gets `Content-Length: 0`. One with `Authorization` goes the full path (it may
    /// need the Host-signature warning) and still arrives.
    @Test func theUpstreamGetsTheClientsRequestWithItsOwnHost() async throws {
        final class Seen: Sendable { let heads = Mutex<[String]>([]) }
        let seen = Seen()
        try await Self.withProxy(answer: { head in
            seen.heads.withLock { $0.append(head) }
            return Array("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok".utf8)
        }) { proxy, upstream in
            let c = try await RawHTTPConnection.connect(port: proxy.port)
            try await c.send("GET /x?Action=A&b=%20 HTTP/1.1\r\nHost: client.example\r\nX-Custom:  v \r\nConnection: keep-alive\r\nAccept: */*\r\n\r\n")
            _ = try await c.received(timeout: .seconds(5)) { $0.hasSuffix("ok") }
            try await c.send("POST /y HTTP/1.1\r\nHost: client.example\r\n\r\n")
            _ = try await c.received(timeout: .seconds(5)) { $0.components(separatedBy: "ok").count == 3 }
            try await c.send("GET /z HTTP/1.1\r\nHost: client.example\r\nAuthorization: ACS3-HMAC-SHA256 Credential=a,SignedHeaders=x-acs-date,Signature=b\r\n\r\n")
            _ = try await c.received(timeout: .seconds(5)) { $0.components(separatedBy: "ok").count == 4 }
            await c.close()
            #expect(proxy.engine.stats.forwardedAsBytes.load(ordering: .relaxed) == 2)
            #expect(proxy.engine.status.forwarded == 3)
            let heads = seen.heads.withLock { $0 }
            #expect(heads.count == 3)
            guard heads.count == 3 else { return }
            let via = "Via: \(proxy.engine.viaValue)\r\n"
            #expect(heads[0] == "GET /x?Action=A&b=%20 HTTP/1.1\r\nHost: 127.0.0.1:\(upstream)\r\nX-Custom:  v \r\nAccept: */*\r\n\(via)\r\n")
            #expect(heads[1] == "POST /y HTTP/1.1\r\nHost: 127.0.0.1:\(upstream)\r\nContent-Length: 0\r\n\(via)\r\n")
            #expect(heads[2].contains(via))
            #expect(heads[2].hasPrefix("GET /z HTTP/1.1\r\n") && heads[2].contains("Authorization: ACS3"))
        }
    }

    /// A request whose `Via` names this proxy came round a loop (two proxies each the other's upstream): refused
    /// 403 in every mode, lane or not, and not forwarded; another proxy's `Via` passes, and ours is added.
    @Test func aRequestThatCameRoundALoopIsRefused() async throws {
        final class Seen: Sendable { let heads = Mutex<[String]>([]) }
        let seen = Seen()
        try await Self.withProxy(answer: { head in
            seen.heads.withLock { $0.append(head) }
            return Array("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok".utf8)
        }) { proxy, _ in
            for mode in [ProxyMode.passthrough, .record, .auto] {
                proxy.engine.setMode(mode)
                for method in ["GET", "POST"] {
                    let looped = try await RawHTTPClient.request(
                        method, "/?Action=A&m=\(mode)", port: proxy.port, headers: [("Via", "1.1 other, 1.1 \(proxy.engine.viaToken)")])
                    #expect(looped.status == 403 && looped.bodyString.contains("Tapedeck.LoopRefused") && looped.bodyString.contains("loop"),
                        "\(mode) \(method): \(looped.bodyString)")
                }
            }
            #expect(seen.heads.withLock { $0.isEmpty }, "nothing went upstream")
            proxy.engine.setMode(.passthrough)
            let chained = try await RawHTTPClient.request("GET", "/?Action=B", port: proxy.port, headers: [("Via", "1.1 squid")])
            #expect(chained.status == 200)
            let head = seen.heads.withLock { $0.last } ?? ""
            #expect(head.contains("Via: 1.1 squid\r\n") && head.contains("Via: \(proxy.engine.viaValue)\r\n"), "\(head)")
        }
    }

    /// A slow upstream: the lane's request gets its 504 in the cloud's shape on time, and the client's
    /// connection serves the next request. A dead upstream: a 502, also in the cloud's shape.
    @Test func upstreamFailuresAreAnsweredInTheCloudsShape() async throws {
        try await Self.withProxy(
            answer: { _ in Array("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok".utf8) }, delay: .seconds(3),
            configure: { $0.upstreamTimeout = .milliseconds(300) }
        ) { proxy, _ in
            let c = try await RawHTTPConnection.connect(port: proxy.port)
            try await c.send("GET /?Action=DescribeSecurityGroups&Format=XML HTTP/1.1\r\nHost: h\r\n\r\n")
            let first = try await c.received(timeout: .seconds(5)) { $0.contains("</Error>") }
            #expect(first.hasPrefix("HTTP/1.1 504 Gateway Timeout\r\n"), "\(first)")
            #expect(first.contains("<Code>"))
            try await c.send("GET /?Action=DescribeSecurityGroups HTTP/1.1\r\nHost: h\r\n\r\n")
            let second = try await c.received(timeout: .seconds(5)) { $0.components(separatedBy: "\"Code\"").count == 2 }
            #expect(second.contains("504 Gateway Timeout") && second.contains("\"RequestId\""), "\(second)")
            await c.close()
            #expect(proxy.engine.status.upstream_errors == 2)
        }
        // Nothing listens on the upstream's port.
        let closed = try ClosedPort()
        defer { withExtendedLifetime(closed) {} }
        let closedPort = closed.port
        let dir = NSTemporaryDirectory() + "tapedeck-lane-dead-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try await TestProxy.with(cassette: dir + "/c.jsonl.gz", mode: .passthrough, upstream: "http://127.0.0.1:\(closedPort)") { proxy in
            let text = try await Self.exchange(proxy.port, "GET /v3/p/vpc/security-groups/x HTTP/1.1\r\nHost: h\r\n\r\n")
            #expect(text.hasPrefix("HTTP/1.1 502 Bad Gateway\r\n"), "\(text)")
            #expect(text.contains("\"error_code\"") && text.contains("nothing listens there"))
            #expect(proxy.engine.stats.forwardedAsBytes.load(ordering: .relaxed) == 1)
        }
    }

    /// An upstream that closes each connection after its answer (with or without saying so), and one whose
    /// body runs to the close: every request is answered, on a new upstream connection when needed.
    @Test(arguments: [
        "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok",
        "HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok",
    ])
    func closingUpstreamsAreNotReused(answer: String) async throws {
        try await Self.withProxy(answer: { _ in Array(answer.utf8) }) { proxy, _ in
            let c = try await RawHTTPConnection.connect(port: proxy.port)
            for k in 1...5 {
                try await c.send("GET /\(k) HTTP/1.1\r\nHost: h\r\n\r\n")
                let text = try await c.received(timeout: .seconds(5)) { $0.components(separatedBy: "\r\n\r\nok").count == k + 1 }
                #expect(text.components(separatedBy: "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok").count == k + 1, "\(text)")
            }
            await c.close()
            #expect(proxy.engine.status.upstream_errors == 0)
            #expect(proxy.engine.stats.forwardedAsBytes.load(ordering: .relaxed) == 5)
        }
    }

    /// Answers the framer refuses: a bad status line, a body over the proxy's limit. Each is a 502.
    @Test func aMalformedOrOversizedAnswerIsA502() async throws {
        try await Self.withProxy(answer: { head in
            head.contains("/big")
                ? Array("HTTP/1.1 200 OK\r\nContent-Length: 999999999\r\n\r\n".utf8) : Array("HTTP/1.1 2000 OK\r\nContent-Length: 0\r\n\r\n".utf8)
        }, configure: { $0.maxBodyBytes = 1 << 20 }) { proxy, _ in
            let bad = try await Self.exchange(proxy.port, "GET /bad HTTP/1.1\r\nHost: h\r\n\r\n")
            #expect(bad.hasPrefix("HTTP/1.1 502 Bad Gateway\r\n") && bad.contains("not valid HTTP"), "\(bad)")
            let big = try await Self.exchange(proxy.port, "GET /big HTTP/1.1\r\nHost: h\r\n\r\n")
            #expect(big.hasPrefix("HTTP/1.1 502 Bad Gateway\r\n") && big.contains("exceeds 1048576 bytes"), "\(big)")
        }
    }

    /// Answers the full path's parser (llhttp) refuses are refused by the lane too: a 502, and the proxy goes on.
    @Test(arguments: [
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n-1\r\nx\r\n0\r\n\r\n",
        "HTTP/1.1 200 OK\r\nX-A: a\rSet-Cookie: x=1\r\nContent-Length: 2\r\n\r\nok",
        "HTTP/1.1 200 OK\r\nX-A: a\r\n folded: b\r\nContent-Length: 2\r\n\r\nok",
        // Refused at once, not after the upstream timeout (the proxy's default: 5 s here, the exchange's limit).
        "HTTP/1.1 200 OK\nContent-Length: 2\n\nok",
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 2\r\n\r\n2\r\nok\r\n0\r\n\r\n",
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\nok\r\n0\r\n\r\n",
    ])
    func answersTheFullPathRefusesAreA502(answer: String) async throws {
        try await Self.withProxy(answer: { head in
            head.contains("/fine") ? Array("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok".utf8) : Array(answer.utf8)
        }) { proxy, _ in
            let bad = try await Self.exchange(proxy.port, "GET /bad HTTP/1.1\r\nHost: h\r\n\r\n")
            #expect(bad.hasPrefix("HTTP/1.1 502 Bad Gateway\r\n"), "\(bad)")
            #expect(!bad.contains("Set-Cookie"))
            let full = try await Self.exchange(proxy.port, "GET /bad HTTP/1.1\r\nHost: h\r\nOrigin: http://localhost\r\n\r\n")
            #expect(full.hasPrefix("HTTP/1.1 502 Bad Gateway\r\n"), "the full path refuses it too: \(full)")
            #expect(try await Self.exchange(proxy.port, "GET /fine HTTP/1.1\r\nHost: h\r\n\r\n").hasSuffix("\r\n\r\nok"))
        }
    }

    /// An upstream that resets a kept-alive connection when the next request arrives on it (its idle timeout
    /// ran out as the request was sent): the request is retried once on a new connection, as on the full path.
    @Test func aResetPooledConnectionIsRetriedOnANewOne() async throws {
        let dir = NSTemporaryDirectory() + "tapedeck-lane-reset-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        final class ResetOnSecond: ChannelInboundHandler {
            typealias InboundIn = ByteBuffer
            typealias OutboundOut = ByteBuffer
            var requests = 0
            func channelRead(context: ChannelHandlerContext, data: NIOAny) {
                requests += 1
                if requests == 1 {
                    context.writeAndFlush(wrapOutboundOut(ByteBuffer(string: "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")), promise: nil)
                } else {
                    let channel = context.channel
                    // With linger 0, the close is a reset.
                    (channel as? SocketOptionProvider)?.setSoLinger(linger(l_onoff: 1, l_linger: 0)).whenComplete { _ in channel.close(promise: nil) }
                }
            }
        }
        let server = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .childChannelInitializer { ch in ch.eventLoop.makeCompletedFuture { try ch.pipeline.syncOperations.addHandler(ResetOnSecond()) } }
            .bind(host: "127.0.0.1", port: 0).get()
        let upstream = server.localAddress?.port ?? 0
        try await TestProxy.with(
            cassette: dir + "/c.jsonl.gz", mode: .passthrough, upstream: "http://127.0.0.1:\(upstream)", configure: { $0.threads = 1 }
        ) { proxy in
            let c = try await RawHTTPConnection.connect(port: proxy.port)
            for k in 1...3 {
                try await c.send("GET /\(k) HTTP/1.1\r\nHost: h\r\n\r\n")
                let text = try await c.received(timeout: .seconds(5)) { $0.components(separatedBy: "\r\n\r\n").count > k }
                #expect(text.components(separatedBy: "HTTP/1.1 200 OK\r\n").count == k + 1, "\(text)")
            }
            await c.close()
            #expect(proxy.engine.status.upstream_errors == 0)
            #expect(proxy.engine.stats.forwardedAsBytes.load(ordering: .relaxed) == 3)
        }
        try await server.close()
    }

    /// An upstream that resets the connection halfway through its answer: the client's 502 says so in words
    /// and names the upstream (NIO's own text was "read(descriptor:pointer:size:): … (errno: 104)").
    @Test(arguments: [ProxyMode.passthrough, .record])
    func aResetMidAnswerIsSaidInWords(mode: ProxyMode) async throws {
        let dir = NSTemporaryDirectory() + "tapedeck-lane-rst-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        final class ResetMidBody: ChannelInboundHandler {
            typealias InboundIn = ByteBuffer
            typealias OutboundOut = ByteBuffer
            func channelRead(context: ChannelHandlerContext, data: NIOAny) {
                let channel = context.channel
                context.writeAndFlush(wrapOutboundOut(ByteBuffer(string: "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nhalf"))).whenComplete { _ in
                    (channel as? SocketOptionProvider)?.setSoLinger(linger(l_onoff: 1, l_linger: 0)).whenComplete { _ in channel.close(promise: nil) }
                }
            }
        }
        let server = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .childChannelInitializer { ch in ch.eventLoop.makeCompletedFuture { try ch.pipeline.syncOperations.addHandler(ResetMidBody()) } }
            .bind(host: "127.0.0.1", port: 0).get()
        let upstream = server.localAddress?.port ?? 0
        try await TestProxy.with(cassette: dir + "/c.jsonl.gz", mode: mode, upstream: "http://127.0.0.1:\(upstream)") { proxy in
            let r = try await RawHTTPClient.request("GET", "/?Action=DescribeRegions", port: proxy.port)
            #expect(r.status == 502 && r.bodyString.contains("127.0.0.1:\(upstream)") && r.bodyString.contains("reset") && !r.bodyString.contains("errno"), "\(r.bodyString)")
            #expect(proxy.engine.status.recorded == 0)
        }
        try await server.close()
    }

    /// An upstream that reads a request on a kept-alive connection and closes it without answering: a GET is
    /// sent again on a new connection, a POST is not (RFC 9110 §9.2.2: the upstream may have acted on it: a
    /// `CreateSecurityGroup` must not happen twice); its client gets a 502. The same on the lane (a POST without
    /// body), on the full path (with a body) and when recording.
    @Test(arguments: [
        (ProxyMode.passthrough, "POST", ""), (.passthrough, "POST", "Action=CreateSecurityGroup"), (.record, "POST", "Action=CreateSecurityGroup"),
        (.passthrough, "GET", ""), (.record, "GET", ""),
    ])
    func aRequestTheUpstreamReadAndDroppedIsSentAgainOnlyIfIdempotent(mode: ProxyMode, method: String, body: String) async throws {
        let dir = NSTemporaryDirectory() + "tapedeck-lane-idem-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        final class Seen: Sendable { let paths = Mutex<[String]>([]) }
        final class CloseOnSecond: ChannelInboundHandler {
            typealias InboundIn = ByteBuffer
            typealias OutboundOut = ByteBuffer
            let seen: Seen
            var requests = 0
            init(_ seen: Seen) { self.seen = seen }
            func channelRead(context: ChannelHandlerContext, data: NIOAny) {
                let text = String(buffer: unwrapInboundIn(data))
                guard let line = text.split(separator: "\r\n").first, line.hasPrefix("GET") || line.hasPrefix("POST") else { return }
                seen.paths.withLock { $0.append(String(line)) }
                requests += 1
                if requests == 1 {
                    context.writeAndFlush(wrapOutboundOut(ByteBuffer(string: "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")), promise: nil)
                } else {
                    context.close(promise: nil)  // read, then closed without an answer
                }
            }
        }
        let seen = Seen()
        let server = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .childChannelInitializer { ch in ch.eventLoop.makeCompletedFuture { try ch.pipeline.syncOperations.addHandler(CloseOnSecond(seen)) } }
            .bind(host: "127.0.0.1", port: 0).get()
        let upstream = server.localAddress?.port ?? 0
        try await TestProxy.with(
            cassette: dir + "/c.jsonl.gz", mode: mode, upstream: "http://127.0.0.1:\(upstream)", configure: { $0.threads = 1 }
        ) { proxy in
            let c = try await RawHTTPConnection.connect(port: proxy.port)
            // The first request of the same kind (lane or full path) leaves a pooled connection.
            let framing = body.isEmpty ? "" : "Content-Type: application/x-www-form-urlencoded\r\nContent-Length: \(body.utf8.count)\r\n"
            try await c.send("\(method) /warm HTTP/1.1\r\nHost: h\r\n\(framing)\r\n\(body)")
            _ = try await c.received(timeout: .seconds(5)) { $0.hasSuffix("\r\n\r\nok") }
            try await c.send("\(method) /act HTTP/1.1\r\nHost: h\r\n\(framing)\r\n\(body)")
            let text = try await c.received(timeout: .seconds(5)) {
                $0.hasSuffix("\r\n\r\nok") && $0.components(separatedBy: "HTTP/1.1 200").count == 3 || $0.contains(" 502 ") && $0.hasSuffix("}")
            }
            await c.close()
            let acts = seen.paths.withLock { $0 }.filter { $0.contains("/act") }
            if method == "GET" {
                #expect(acts.count == 2, "sent again on a new connection: \(acts)")
                #expect(text.hasSuffix("\r\n\r\nok"), "\(text)")
            } else {
                #expect(acts.count == 1, "a POST reaches the upstream once: \(acts)")
                #expect(text.contains("HTTP/1.1 502 Bad Gateway\r\n"), "\(text)")
            }
        }
        try await server.close()
    }

    /// With `--profile`, a failure's answer takes that profile's shape on the lane, as `forward` gives it.
    @Test func aFailuresShapeFollowsTheProfileOverride() async throws {
        let closed = try ClosedPort()
        defer { withExtendedLifetime(closed) {} }
        let closedPort = closed.port
        let dir = NSTemporaryDirectory() + "tapedeck-lane-profile-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try await TestProxy.with(
            cassette: dir + "/c.jsonl.gz", mode: .passthrough, upstream: "http://127.0.0.1:\(closedPort)", configure: { $0.profile = .huawei }
        ) { proxy in
            let lane = try await Self.exchange(proxy.port, "GET /foo HTTP/1.1\r\nHost: h\r\n\r\n")
            let full = try await Self.exchange(proxy.port, "GET /foo HTTP/1.1\r\nHost: h\r\nOrigin: http://localhost\r\n\r\n")
            #expect(lane.contains("\"error_code\""), "\(lane)")
            #expect(full.contains("\"error_code\""), "\(full)")
            #expect(proxy.engine.stats.forwardedAsBytes.load(ordering: .relaxed) == 1)
        }
    }

    /// More client connections than the old idle bound (64) on one event loop, in lockstep rounds: every round
    /// reuses the upstream connections of the one before; none is closed and opened again.
    @Test func manyClientsReuseTheirUpstreamConnections() async throws {
        let dir = NSTemporaryDirectory() + "tapedeck-lane-pool-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        final class Accepted: Sendable { let count = Atomic<Int>(0) }
        let accepted = Accepted()
        final class OK: ChannelInboundHandler {
            typealias InboundIn = ByteBuffer
            typealias OutboundOut = ByteBuffer
            func channelRead(context: ChannelHandlerContext, data: NIOAny) {
                // A while for each answer: all the round's requests are upstream at once.
                let channel = context.channel
                context.eventLoop.scheduleTask(in: .milliseconds(300)) {
                    channel.writeAndFlush(ByteBuffer(string: "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"), promise: nil)
                }
            }
        }
        let server = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .childChannelInitializer { ch in
                accepted.count.add(1, ordering: .relaxed)
                return ch.eventLoop.makeCompletedFuture { try ch.pipeline.syncOperations.addHandler(OK()) }
            }
            .bind(host: "127.0.0.1", port: 0).get()
        let upstream = server.localAddress?.port ?? 0
        let clients = 100
        try await TestProxy.with(
            cassette: dir + "/c.jsonl.gz", mode: .passthrough, upstream: "http://127.0.0.1:\(upstream)", configure: { $0.threads = 1 }
        ) { proxy in
            var connections: [RawHTTPConnection] = []
            for _ in 0..<clients { connections.append(try await RawHTTPConnection.connect(port: proxy.port)) }
            for round in 1...4 {
                for c in connections { try await c.send("GET /r\(round) HTTP/1.1\r\nHost: h\r\n\r\n") }
                for c in connections { _ = try await c.received(timeout: .seconds(10)) { $0.components(separatedBy: "\r\n\r\nok").count > round } }
            }
            for c in connections { await c.close() }
            #expect(proxy.engine.stats.forwardedAsBytes.load(ordering: .relaxed) == clients * 4)
        }
        try await server.close()
        #expect(accepted.count.load(ordering: .relaxed) <= clients, "upstream connections opened: \(accepted.count.load(ordering: .relaxed))")
    }
}
