import Cassette
import CloudSigning
import Foundation
import NIOCore
@testable import Proxy
import Synchronization
import X509
import TapedeckHTTP
import TapedeckTesting
import Testing

/// Faults injected into a running proxy: SIGTERM with slow exchanges in flight, web pages driving the
/// control API, requests relayed back to the proxy, odd cassette paths, and the CA key's mode.
@Suite struct ProxyFaultTests {
    static let ok = Array("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 11\r\n\r\n{\"ok\":true}".utf8)

    /// The upstream timeout is one watchdog per kept-alive connection, not a timer per request: after fast
    /// exchanges on a connection, a request the upstream never answers still gets its 504 on time, and the
    /// next request (on a new connection) is answered.
    @Test func aSilentAnswerAfterFastOnesOnTheSameConnectionTimesOut() async throws {
        let dir = NSTemporaryDirectory() + "tapedeck-watchdog-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try await ScriptedUpstream.with(answer: { head in head.contains("/silent") ? [] : Self.ok }) { upstream in
            try await TestProxy.with(
                cassette: dir + "/c.jsonl.gz", mode: .passthrough, upstream: "http://127.0.0.1:\(upstream)",
                configure: { $0.upstreamTimeout = .milliseconds(1200) }  // far above a fast answer's time, even on a loaded machine
            ) { proxy in
                for i in 0..<5 { #expect(try await RawHTTPClient.request("GET", "/fast/\(i)", port: proxy.port).status == 200) }
                try await Task.sleep(for: .milliseconds(700))  // the first watchdog fires while the connection is busy again
                let started = ContinuousClock.now
                let r = try await RawHTTPClient.request("GET", "/silent", port: proxy.port)
                #expect(r.status == 504)
                #expect(ContinuousClock.now - started < .seconds(5))
                #expect(try await RawHTTPClient.request("GET", "/fast/after", port: proxy.port).status == 200)
            }
        }
    }

    /// An upstream that answers `ok` after `delay` (1.5 s) and counts the requests it has read. `body` gets its
    /// port and a wait until `n` requests got there (at most 5 s; returns how many did), so a test acts while
    /// they all wait on the upstream rather than after a fixed sleep: a loaded CI run may not have forwarded them yet.
    static func withSlowUpstream(
        delay: TimeAmount = .milliseconds(1500),
        _ body: (_ port: Int, _ waitUntilReached: @escaping (Int) async throws -> Int) async throws -> Void
    ) async throws {
        let reached = Atomic<Int>(0)
        try await ScriptedUpstream.with(
            delay: delay,
            answer: { _ in
                reached.add(1, ordering: .relaxed)
                return Self.ok
            }
        ) { port in
            try await body(port) { n in
                for _ in 0..<100 where reached.load(ordering: .relaxed) < n { try await Task.sleep(for: .milliseconds(50)) }
                return reached.load(ordering: .relaxed)
            }
        }
    }

    /// `tapedeck proxy --mode record` in front of the upstream on `upstream`, as a process (its signals are real).
    static func recordingProxy(cassette: String, upstream: Int, dir: String, mode: ProxyMode = .record) throws -> UnprivilegedUserTests.Running {
        try UnprivilegedUserTests.Running(
            [
                try UnprivilegedUserTests.binary(), "proxy", "--port", "0", "--mode", mode.rawValue, "--cassette", cassette,
                "--upstream", "http://127.0.0.1:\(upstream)", "--ca-dir", dir + "/ca",
            ], as: false, home: dir)
    }

    /// (In passthrough the requests take the passthrough lane: the lane holds the stop until their answers are written.)
    @Test(arguments: [ProxyMode.record, .passthrough])
    func sigtermWaitsForSlowExchangesToBeAnsweredAndRecorded(mode: ProxyMode) async throws {
        let dir = NSTemporaryDirectory() + "tapedeck-term-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let cassette = dir + "/c.jsonl.gz"
        try await Self.withSlowUpstream { upstream, waitUntilReached in
            let proxy = try Self.recordingProxy(cassette: cassette, upstream: upstream, dir: dir, mode: mode)
            defer { proxy.stop() }
            let port = try await proxy.port()
            let statuses = try await withThrowingTaskGroup(of: Int.self) { group in
                for i in 0..<5 {
                    group.addTask { try await RawHTTPClient.request("GET", "/slow/\(i)", port: port).status }
                }
                // SIGTERM while all five wait on the upstream (on a loaded machine, wait until they all got there).
                _ = try await waitUntilReached(5)
                proxy.process.terminate()
                var out: [Int] = []
                for try await s in group { out.append(s) }
                return out
            }
            proxy.process.waitUntilExit()
            #expect(statuses == [200, 200, 200, 200, 200], "\(proxy.printed)")
            #expect(proxy.process.terminationStatus == 0, "\(proxy.printed)")
            #expect(!proxy.printed.contains("ERROR"), "nothing is scheduled on a loop that has shut down: \(proxy.printed)")
            if mode == .record {
                #expect(try CassetteReader(path: cassette).entries.count == 5, "every exchange in flight was recorded")
            }
            await #expect(throws: (any Error).self) { _ = try await RawHTTPClient.request("GET", "/after", port: port) }
        }
    }

    /// With the upstream down, every request fails: the log says so once per target and error per 10 s (one line
    /// per request wrote 13,725 lines in 2 s of a load run), and every client still gets its 502.
    @Test func upstreamFailuresAreLoggedOncePerReasonNotPerRequest() async throws {
        let dir = NSTemporaryDirectory() + "tapedeck-logflood-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let closed = try ClosedPort()
        defer { withExtendedLifetime(closed) {} }
        let closedPort = closed.port
        let proxy = try Self.recordingProxy(cassette: dir + "/c.jsonl.gz", upstream: closedPort, dir: dir, mode: .passthrough)
        defer { proxy.stop() }
        let port = try await proxy.port()
        let started = Date()
        for i in 0..<30 {
            // The lane's requests and the full path's (Authorization): the same reason, one line.
            let headers = i % 2 == 0 ? [] : [("Authorization", "x")]
            #expect(try await RawHTTPClient.request("GET", "/\(i)", port: port, headers: headers).status == 502)
        }
        proxy.process.terminate()
        proxy.process.waitUntilExit()
        let elapsed = Date().timeIntervalSince(started)
        let lines = proxy.printed.split(separator: "\n").filter { $0.contains("upstream failed") }
        // One line per 10 s (a loaded machine may take longer than that for the 30 requests).
        #expect(lines.count >= 1 && lines.count <= 1 + Int(elapsed / 10), "\(elapsed) s: \(proxy.printed)")
    }

    /// A second SIGTERM (a second or more after the first) while the first one's drain waits on a hung upstream
    /// stops the proxy at once: the exchange in flight is abandoned (not recorded), the cassette stays whole, and
    /// the exit status is 143. The same SIGTERM delivered twice at once is one stop.
    @Test func aSecondSigtermStopsAtOnce() async throws {
        let dir = NSTemporaryDirectory() + "tapedeck-term2-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let cassette = dir + "/c.jsonl.gz"
        try await Self.withSlowUpstream(delay: .seconds(30)) { upstream, waitUntilReached in
            let proxy = try Self.recordingProxy(cassette: cassette, upstream: upstream, dir: dir)
            defer { proxy.stop() }
            let port = try await proxy.port()
            let client = Task { try? await RawHTTPClient.request("GET", "/hung", port: port).status }
            _ = try await waitUntilReached(1)
            proxy.process.terminate()
            proxy.process.terminate()  // the same stop delivered twice at once (`timeout` does): still graceful
            try await Task.sleep(for: .milliseconds(1200))
            #expect(proxy.process.isRunning, "the first SIGTERM waits for the exchange in flight")
            let started = ContinuousClock.now
            proxy.process.terminate()
            for _ in 0..<200 where proxy.process.isRunning { try await Task.sleep(for: .milliseconds(25)) }
            #expect(!proxy.process.isRunning && ContinuousClock.now - started < .seconds(5), "\(proxy.printed)")
            proxy.process.waitUntilExit()
            #expect(proxy.printed.contains("second SIGTERM: stopping now"), "\(proxy.printed)")
            #expect(proxy.process.terminationStatus == 128 + SIGTERM, "the exit status says the exchange was abandoned")
            #expect(!proxy.printed.contains("Cannot schedule tasks"), "connections closed before the loops stop: \(proxy.printed)")
            #expect(try CassetteReader(path: cassette).entries.isEmpty, "nothing half-written")
            _ = await client.value
        }
    }

    /// A client trickling a request body (one byte every 300 ms, for up to 15 s) does not hold a SIGTERM'd proxy:
    /// the request gets `shutdownGrace` to complete, then a 408, and the process exits while the client is still
    /// sending.
    @Test func sigtermIsNotHeldByAClientTricklingABody() async throws {
        let dir = NSTemporaryDirectory() + "tapedeck-trickle-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let proxy = try UnprivilegedUserTests.Running(
            [
                try UnprivilegedUserTests.binary(), "proxy", "--port", "0", "--mode", "record", "--cassette", dir + "/c.jsonl.gz",
                "--upstream", "http://127.0.0.1:9", "--ca-dir", dir + "/ca", "--idle-timeout", "20",
            ], as: false, home: dir)
        defer { proxy.stop() }
        let port = try await proxy.port()
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        #expect(fd >= 0)
        let trickling = Atomic<Bool>(true), stop = Atomic<Bool>(false)
        // The sending thread is stopped before the descriptor is closed: a number reused by another test's
        // connection must never get its bytes.
        defer {
            stop.store(true, ordering: .relaxed)
            while trickling.load(ordering: .relaxed) { usleep(10_000) }
            close(fd)
        }
        #expect(connectLoopback(fd, port: port) == 0)
        let head = "POST /upload HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 100\r\n\r\nabc"
        #expect(send(fd, head, head.utf8.count, Int32(MSG_NOSIGNAL)) == head.utf8.count)
        let trickler = Thread {
            let until = Date().addingTimeInterval(15)
            while !stop.load(ordering: .relaxed) && Date() < until && send(fd, "x", 1, Int32(MSG_NOSIGNAL)) == 1 { usleep(300_000) }
            trickling.store(false, ordering: .relaxed)
        }
        trickler.start()
        try await Task.sleep(for: .seconds(1))
        proxy.process.terminate()
        while proxy.process.isRunning && trickling.load(ordering: .relaxed) { try await Task.sleep(for: .milliseconds(100)) }
        #expect(!proxy.process.isRunning, "the proxy was still running when the client stopped sending: \(proxy.printed)")
        proxy.process.waitUntilExit()
        #expect(proxy.process.terminationStatus == 0, "\(proxy.printed)")
        var answer = [UInt8](repeating: 0, count: 4096)
        let n = recv(fd, &answer, answer.count, Int32(MSG_DONTWAIT))
        #expect(n <= 0 || String(decoding: answer[0..<n], as: UTF8.self).hasPrefix("HTTP/1.1 408"), "\(String(decoding: answer[0..<max(n, 0)], as: UTF8.self))")
    }

    /// A request whose query does not decode is the upstream's to judge: the proxy forwards it (here to an
    /// upstream that is down) and its own error still takes the request's cloud's shape.
    @Test func aRequestThatDoesNotDecodeIsForwardedAndFailsInItsCloudsShape() async throws {
        let path = tempCassette("unparsable")
        defer { try? FileManager.default.removeItem(atPath: path) }
        try await TestProxy.with(cassette: path, mode: .record, upstream: "http://127.0.0.1:9") { proxy in
            let xml = try await RawHTTPClient.request(
                "GET", "/?Action=DescribeSecurityGroupReferences&Format=XML&SecurityGroupId.1=%FF", port: proxy.port)
            #expect(xml.status == 502 && xml.bodyString.contains("<Code>Tapedeck.UpstreamUnavailable</Code>"), "\(xml.bodyString)")
            let rpc = try await RawHTTPClient.request("GET", "/?Action=DescribeSecurityGroups&Name=%zz", port: proxy.port)
            #expect(rpc.status == 502 && rpc.bodyString.contains("\"Code\":\"Tapedeck.UpstreamUnavailable\""), "\(rpc.bodyString)")
            let huawei = try await RawHTTPClient.request("GET", "/v3/p/vpc/security-groups?name=%zz", port: proxy.port)
            #expect(huawei.status == 502 && huawei.bodyString.contains("\"error_code\""), "\(huawei.bodyString)")
        }
    }

    /// A web page can send requests to loopback. The proxy forwards none of a browser's cross-site requests, and
    /// with `--resign` (it signs with a real key) none addressed by a DNS name, which a page can rebind to
    /// 127.0.0.1. Clients that send neither header, and loopback origins, are served.
    @Test(arguments: [false, true])
    func webPagesCannotSendRequestsThroughTheProxy(resigning: Bool) async throws {
        let path = tempCassette("browser")
        defer { try? FileManager.default.removeItem(atPath: path) }
        let forwarded = Atomic<Int>(0)
        try await ScriptedUpstream.with(answer: { _ in
            forwarded.add(1, ordering: .relaxed)
            return Self.ok
        }) { upstream in
            try await TestProxy.with(
                cassette: path, mode: .passthrough, upstream: "http://127.0.0.1:\(upstream)",
                configure: { if resigning { $0.resigner = Resigner(pair: "realAK:realSecret") } }
            ) { proxy in
                let call = "/?Action=DeleteSecurityGroup&RegionId=cn-hangzhou&SecurityGroupId=sg-1&Signature=x&AccessKeyId=y"
                let refused = [
                    [("Sec-Fetch-Site", "cross-site")], [("Sec-Fetch-Site", "same-site")], [("Origin", "https://evil.example")],
                    // No origin has a user part; and a second Origin does not hide behind a loopback first.
                    [("Origin", "http://evil.example@127.0.0.1")], [("Origin", "http://127.0.0.1"), ("Origin", "https://evil.example")],
                ]
                for headers in refused {
                    let r = try await RawHTTPClient.request("GET", call, port: proxy.port, headers: headers)
                    #expect(r.status == 403 && r.bodyString.contains("Tapedeck.BrowserRequestRefused"), "\(headers): \(r.bodyString)")
                }
                // A page on a name rebound to 127.0.0.1: same-origin to the browser, no Origin on a GET.
                let rebound = try await RawHTTPClient.send(
                    Array("GET \(call) HTTP/1.1\r\nHost: rebind.evil.example:\(proxy.port)\r\nSec-Fetch-Site: same-origin\r\n\r\n".utf8),
                    port: proxy.port)
                // Refused with or without --resign: in replay it would read a recorded cloud session.
                #expect(rebound.status == 403 && rebound.bodyString.contains("Tapedeck.BrowserRequestRefused"), "\(rebound.status) \(rebound.bodyString)")
                // A second Sec-Fetch-Site does not hide behind a same-origin first; two Hosts are no request.
                let twoSites = try await RawHTTPClient.request(
                    "GET", call, port: proxy.port, headers: [("Sec-Fetch-Site", "same-origin"), ("Sec-Fetch-Site", "cross-site")])
                #expect(twoSites.status == 403, "\(twoSites.bodyString)")
                let twoHosts = try await RawHTTPClient.send(
                    Array("GET \(call) HTTP/1.1\r\nHost: 127.0.0.1:\(proxy.port)\r\nHost: evil.example\r\n\r\n".utf8), port: proxy.port)
                #expect(twoHosts.status == 400, "\(twoHosts.status) \(twoHosts.bodyString)")
                #expect(forwarded.load(ordering: .relaxed) == 0, "refused requests never reach the upstream")
                // Not a browser (no Sec-Fetch-*): a client pointed at the proxy by a name of its own (/etc/hosts).
                let named = try await RawHTTPClient.send(
                    Array("GET \(call) HTTP/1.1\r\nHost: ecs.aliyuncs.com\r\n\r\n".utf8), port: proxy.port)
                #expect((named.status == 200) == !resigning, "\(named.status) \(named.bodyString)")
                #expect(try await RawHTTPClient.request("GET", call, port: proxy.port, headers: [("Sec-Fetch-Site", "cross-site"), ("Origin", "null")]).status == 403)
                // A local app's page (a loopback origin) is served, though the browser calls it cross-site.
                let mine = try await RawHTTPClient.request(
                    "GET", call, port: proxy.port, headers: [("Origin", "http://localhost:3000"), ("Sec-Fetch-Site", "cross-site")])
                #expect(mine.status == 200, "\(mine.bodyString)")
                // A browser using the proxy as its forward proxy names the real target: not checked.
                let forward = try await RawHTTPClient.request(
                    "GET", "http://127.0.0.1:\(upstream)/page", port: proxy.port, headers: [("Sec-Fetch-Site", "cross-site")])
                #expect(forward.status == 200, "\(forward.bodyString)")
                let sdk = try await RawHTTPClient.request("GET", call, port: proxy.port)
                #expect(sdk.status == 200, "\(sdk.bodyString)")
            }
        }
    }

    @Test func theControlAPIRefusesWebPages() async throws {
        let path = tempCassette("csrf")
        defer { try? FileManager.default.removeItem(atPath: path) }
        try await TestProxy.with(cassette: path, mode: .record) { proxy in
            let body = Array(#"{"mode":"replay"}"#.utf8)
            let attempts: [([(String, String)], Int)] = [
                ([("Content-Type", "text/plain")], 415),  // a cross-site form or fetch without preflight
                ([("Content-Type", "application/x-www-form-urlencoded")], 415),
                ([("Content-Type", "application/json"), ("Origin", "https://evil.example")], 403),
                ([("Content-Type", "application/json"), ("Sec-Fetch-Site", "cross-site")], 403),
                // Every value counts: a second header does not hide behind a first that passes.
                ([("Content-Type", "application/json"), ("Content-Type", "text/plain")], 415),
                ([("Content-Type", "application/json"), ("Sec-Fetch-Site", "same-origin"), ("Sec-Fetch-Site", "cross-site")], 403),
            ]
            for (headers, status) in attempts {
                let r = try await RawHTTPClient.request("POST", "/__tapedeck/mode", port: proxy.port, headers: headers, body: body)
                #expect(r.status == status, "\(headers): \(r.bodyString)")
            }
            // DNS rebinding: a page on evil.example whose name now resolves to 127.0.0.1 sends Host: evil.example.
            let rebound = try await RawHTTPClient.send(
                Array(
                    ("POST /__tapedeck/mode HTTP/1.1\r\nHost: evil.example:\(proxy.port)\r\n"
                        + "Content-Type: application/json\r\nContent-Length: \(body.count)\r\n\r\n").utf8) + body, port: proxy.port)
            #expect(rebound.status == 403, "\(rebound.bodyString)")
            // A name that only starts like a loopback address is a DNS name an attacker can rebind, and the
            // page that uses it is same-origin with itself.
            for name in ["127.0.0.1.rebind.evil.example", "127.0.0.1.nip.io", "localhost.evil.example", "127.1", "[::1].evil"] {
                let r = try await RawHTTPClient.send(
                    Array(
                        ("POST /__tapedeck/mode HTTP/1.1\r\nHost: \(name):\(proxy.port)\r\nOrigin: http://\(name):\(proxy.port)\r\n"
                            + "Sec-Fetch-Site: same-origin\r\nContent-Type: application/json\r\nContent-Length: \(body.count)\r\n\r\n").utf8)
                        + body, port: proxy.port)
                #expect(r.status == 403 || r.status == 400, "Host \(name): \(r.status) \(r.bodyString)")
            }
            for (name, loopback) in [
                ("127.0.0.1", true), ("127.255.0.9:80", true), ("localhost:1", true), ("LOCALHOST", true), ("[::1]:8", true),
                ("127.0.0.1.nip.io", false), ("127.evil", false), ("128.0.0.1", false), ("[::2]", false), ("0x7f.1", false),
            ] {
                #expect(BrowserRequest.isLoopbackHost(name) == loopback, "\(name)")
            }
            let sneaky = try await RawHTTPClient.request(
                "POST", "/__tapedeck/mode", port: proxy.port, headers: [("Content-Type", "application/jsonx")], body: body)
            #expect(sneaky.status == 415)
            let twoHosts = try await RawHTTPClient.send(
                Array(
                    ("POST /__tapedeck/mode HTTP/1.1\r\nHost: 127.0.0.1:\(proxy.port)\r\nHost: evil.example\r\n"
                        + "Content-Type: application/json\r\nContent-Length: \(body.count)\r\n\r\n").utf8) + body, port: proxy.port)
            #expect(twoHosts.status == 400, "\(twoHosts.bodyString)")
            #expect(proxy.engine.mode == .record, "no refused call changed anything")
            let mine = try await RawHTTPClient.request(
                "POST", "/__tapedeck/mode", port: proxy.port,
                headers: [("Content-Type", "application/json"), ("Origin", "http://127.0.0.1:\(proxy.port)")], body: body)
            #expect(mine.status == 200)
            #expect(proxy.engine.mode == .replay)
        }
    }

    /// A file written at the cassette's path after the proxy started (before its first record) is not a cassette:
    /// the exchange is refused, not appended to that file and counted as recorded.
    @Test func aFileWrittenAtTheCassettePathMeanwhileIsNotRecordedInto() async throws {
        let path = tempCassette("lazy")
        defer { try? FileManager.default.removeItem(atPath: path) }
        try await ScriptedUpstream.with(answer: { _ in Self.ok }) { upstream in
            try await TestProxy.with(cassette: path, mode: .record, upstream: "http://127.0.0.1:\(upstream)") { proxy in
                try? FileManager.default.removeItem(atPath: path)  // as if it had not been created yet
                try "my notes\n".write(toFile: path, atomically: false, encoding: .utf8)
                let r = try await RawHTTPClient.request("GET", "/x", port: proxy.port)
                #expect(r.status >= 500 && r.bodyString.contains("not a Tapedeck cassette"), "\(r.status) \(r.bodyString)")
                #expect(proxy.engine.status.recorded == 0)
                #expect(try String(contentsOfFile: path, encoding: .utf8) == "my notes\n")
            }
        }
    }

    /// A control call with the wrong method is a 405 naming the right one; an unknown call is a 404.
    @Test func aControlCallWithTheWrongMethodSaysWhichItTakes() async throws {
        let path = tempCassette("method")
        defer { try? FileManager.default.removeItem(atPath: path) }
        try await TestProxy.with(cassette: path, mode: .record) { proxy in
            for (method, call, allowed) in [("GET", "mode", "POST"), ("PUT", "cassette", "POST"), ("POST", "status", "GET, HEAD"), ("DELETE", "rewind", "POST")] {
                let r = try await RawHTTPClient.request(
                    method, "/__tapedeck/\(call)", port: proxy.port, headers: [("Content-Type", "application/json")], body: Array("{}".utf8))
                #expect(r.status == 405 && r.header("allow") == allowed && r.bodyString.contains("takes \(allowed)"), "\(method) \(call): \(r.bodyString)")
            }
            #expect(try await RawHTTPClient.request("GET", "/__tapedeck/nope", port: proxy.port).status == 404)
            // HEAD, as monitoring probes send it: the GET's head, no body.
            let head = try await RawHTTPClient.request("HEAD", "/__tapedeck/status", port: proxy.port)
            #expect(head.status == 200 && head.body.isEmpty && (Int(head.header("content-length") ?? "") ?? 0) > 0, "\(head.headers)")
            #expect(proxy.engine.mode == .record)
        }
    }

    @Test func aRequestRelayedToTheProxyItselfIsRefused() async throws {
        let path = tempCassette("relay")
        defer { try? FileManager.default.removeItem(atPath: path) }
        try await TestProxy.with(cassette: path, mode: .passthrough) { proxy in
            for host in ["127.0.0.1", "localhost", "127.1.2.3"] {
                let r = try await RawHTTPClient.request(
                    "POST", "http://\(host):\(proxy.port)/__tapedeck/mode", port: proxy.port,
                    headers: [("Content-Type", "application/json")], body: Array(#"{"mode":"replay"}"#.utf8))
                #expect(r.status == 403 && r.bodyString.contains("Tapedeck.LoopRefused"), "\(r.bodyString)")
            }
            #expect(proxy.engine.mode == .passthrough)
        }
    }

    @Test func cassettePathsThroughTheControlAPIAreCheckedAndConfined() async throws {
        let dir = NSTemporaryDirectory() + "tapedeck-confine-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir + "/sub", withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        #expect(mkfifo(dir + "/fifo", 0o644) == 0)
        try await TestProxy.with(cassette: dir + "/a.jsonl.gz", mode: .record, configure: { $0.cassetteDirectory = dir }) { proxy in
            func switchTo(_ p: String) async throws -> RawHTTPClient.Response {
                try await RawHTTPClient.request(
                    "POST", "/__tapedeck/cassette", port: proxy.port, headers: [("Content-Type", "application/json")],
                    body: Array(#"{"path":"\#(p)"}"#.utf8))
            }
            let outside = try await switchTo(NSTemporaryDirectory() + "elsewhere.jsonl.gz")
            #expect(outside.status == 403 && outside.bodyString.contains("--cassette-dir"))
            let escape = try await switchTo(dir + "/sub/../../escape.jsonl.gz")
            #expect(escape.status == 403)
            let directory = try await switchTo(dir + "/sub")
            #expect(directory.status == 400 && directory.bodyString.contains("is a directory"), "\(directory.bodyString)")
            let fifo = try await switchTo(dir + "/fifo")
            #expect(fifo.status == 400 && fifo.bodyString.contains("is a FIFO"), "\(fifo.bodyString)")
            let inside = try await switchTo(dir + "/sub/b.jsonl.gz")
            #expect(inside.status == 200, "\(inside.bodyString)")
            // A relative name is a file inside --cassette-dir; `..` out of it is still refused.
            let relative = try await switchTo("sub/c.jsonl.gz")
            #expect(relative.status == 200 && relative.bodyString.contains(dir + "/sub/c.jsonl.gz"), "\(relative.bodyString)")
            let relativeEscape = try await switchTo("../escape.jsonl.gz")
            #expect(relativeEscape.status == 403, "\(relativeEscape.bodyString)")
            // A file name that is a symlink counts where it leads: out of the folder (or nowhere) is refused.
            let victim = NSTemporaryDirectory() + "tapedeck-victim-\(UUID().uuidString).jsonl.gz"
            defer { try? FileManager.default.removeItem(atPath: victim) }
            try CassetteWriter(path: victim).close()
            try FileManager.default.createSymbolicLink(atPath: dir + "/link.jsonl.gz", withDestinationPath: victim)
            try FileManager.default.createSymbolicLink(atPath: dir + "/dangling.jsonl.gz", withDestinationPath: victim + ".none")
            try CassetteWriter(path: dir + "/sub/d.jsonl.gz").close()
            try FileManager.default.createSymbolicLink(atPath: dir + "/sub/in.jsonl.gz", withDestinationPath: dir + "/sub/d.jsonl.gz")
            for name in ["link.jsonl.gz", dir + "/link.jsonl.gz", "dangling.jsonl.gz"] {
                let link = try await switchTo(name)
                #expect(link.status == 403, "\(name): \(link.bodyString)")
            }
            // A name not created yet, made a symlink out of the folder after the switch: checked again at the first record.
            #expect(try await switchTo("late.jsonl.gz").status == 200)
            let lateTarget = victim + ".late"
            defer { try? FileManager.default.removeItem(atPath: lateTarget) }
            try FileManager.default.createSymbolicLink(atPath: dir + "/late.jsonl.gz", withDestinationPath: lateTarget)
            let lateRecord = try await ScriptedUpstream.with(answer: { _ in Self.ok }) { upstream in
                try await RawHTTPClient.request("GET", "http://127.0.0.1:\(upstream)/x", port: proxy.port)  // forwarded, so recorded
            }
            #expect(lateRecord.status >= 500 && lateRecord.bodyString.contains("outside --cassette-dir"), "\(lateRecord.status) \(lateRecord.bodyString)")
            #expect(!FileManager.default.fileExists(atPath: lateTarget), "nothing was written outside the folder")
            let insideLink = try await switchTo("sub/in.jsonl.gz")
            #expect(insideLink.status == 200, "a symlink to a file inside is inside: \(insideLink.bodyString)")
            let nul = try await switchTo(#"a\u0000b"#)
            #expect(nul.status == 400 && nul.bodyString.contains("NUL"), "\(nul.bodyString)")
            // A control call is a few fields: a huge body is refused unread.
            let huge = try await RawHTTPClient.request(
                "POST", "/__tapedeck/mode", port: proxy.port, headers: [("Content-Type", "application/json")],
                body: Array(#"{"mode":"record","pad":""#.utf8) + Array(repeating: UInt8(ascii: "x"), count: 200_000) + Array(#""}"#.utf8))
            #expect(huge.status == 413, "\(huge.bodyString)")
            #expect(try await RawHTTPClient.request("GET", "/__tapedeck/status", port: proxy.port).status == 200, "still up")
        }
    }

    @Test func theCAKeyIsOwnerOnlyFromTheFirstByte() throws {
        let dir = NSTemporaryDirectory() + "tapedeck-cakey-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let old = umask(0)  // the most permissive umask a user can have: the modes must still be owner-only
        defer { umask(old) }
        _ = try CertificateAuthority(directory: dir + "/ca")
        var st = stat()
        #expect(stat(dir + "/ca/ca-key.pem", &st) == 0)
        #expect(st.st_mode & 0o777 == 0o600)
        #expect(stat(dir + "/ca", &st) == 0)
        #expect(st.st_mode & 0o777 == 0o700)
        // Reloading the CA from disk works.
        _ = try CertificateAuthority(directory: dir + "/ca")
    }

    /// A CA folder a user put together by hand: a key others can read, a certificate of another key, half a CA.
    /// Each is named at start with the fix, never used silently (interception would then fail on every connection
    /// or expose the key); `ca.pem` ends in a newline so `cat ca.pem other.pem` is a valid bundle.
    @Test func aCAFolderThatIsNotAPrivatePairIsRefusedOrRemade() throws {
        let dir = NSTemporaryDirectory() + "tapedeck-capair-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let first = try CertificateAuthority(directory: dir + "/a"), second = try CertificateAuthority(directory: dir + "/b")
        #expect(first.notice == nil)
        let pem = try String(contentsOfFile: first.certificatePath, encoding: .utf8)
        #expect(pem.hasSuffix("-----END CERTIFICATE-----\n"))

        chmod(dir + "/a/ca-key.pem", 0o644)
        #expect { try CertificateAuthority(directory: dir + "/a") } throws: { "\($0)".contains("readable by other users (mode 644)") && "\($0)".contains("chmod 600") }
        chmod(dir + "/a/ca-key.pem", 0o600)
        #expect(try CertificateAuthority(directory: dir + "/a").notice == nil, "its own CA, reloaded, is fine")

        // A CA made by hand without keyUsage (OpenSSL's default): used, with a warning that strict clients refuse it.
        try FileManager.default.createDirectory(atPath: dir + "/mine", withIntermediateDirectories: true)
        _ = try OpenSSLTool.run(
            ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", "mine/ca-key.pem", "-out", "mine/ca.pem",
             "-subj", "/CN=mine", "-days", "30"], in: dir)
        chmod(dir + "/mine/ca-key.pem", 0o600)
        let mine = try CertificateAuthority(directory: dir + "/mine")
        #expect(mine.notice?.contains("no keyUsage with keyCertSign") == true, "\(mine.notice ?? "no notice")")

        // A CA of the kinds openssl guides make (RSA PKCS#8 and PKCS#1, P-384, with keyUsage): loaded, and the
        // leaves it signs pass `openssl verify -x509_strict` (what Python 3.13's default context checks).
        for (name, keyArgs) in [
            ("rsa", ["-newkey", "rsa:2048"]), ("p384", ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-384"]),
            ("rsa1", ["-key", "rsa1/ca-key.pem"]),
        ] {
            try FileManager.default.createDirectory(atPath: dir + "/" + name, withIntermediateDirectories: true)
            if name == "rsa1" { _ = try OpenSSLTool.run(["genrsa", "-traditional", "-out", "rsa1/ca-key.pem", "2048"], in: dir) }
            _ = try OpenSSLTool.run(
                ["req", "-x509"] + keyArgs + ["-nodes", "-out", "\(name)/ca.pem", "-subj", "/CN=own \(name)", "-days", "30",
                 "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign"]
                    + (name == "rsa1" ? [] : ["-keyout", "\(name)/ca-key.pem"]), in: dir)
            chmod(dir + "/\(name)/ca-key.pem", 0o600)
            let own = try CertificateAuthority(directory: dir + "/" + name)
            #expect(own.notice == nil, "\(name): \(own.notice ?? "")")
            _ = try own.serverContext(for: "ecs.aliyuncs.com")
            try own.leafPEM(for: "ecs.aliyuncs.com").write(toFile: dir + "/\(name)/leaf.pem", atomically: true, encoding: .utf8)
            let verified = try OpenSSLTool.run(["verify", "-x509_strict", "-CAfile", "\(name)/ca.pem", "\(name)/leaf.pem"], in: dir)
            #expect(verified.contains("OK"), "\(name): \(verified)")
        }

        // b's certificate with a's key.
        try FileManager.default.removeItem(atPath: dir + "/b/ca-key.pem")
        try FileManager.default.copyItem(atPath: dir + "/a/ca-key.pem", toPath: dir + "/b/ca-key.pem")
        #expect { try CertificateAuthority(directory: dir + "/b") } throws: { "\($0)".contains("are not a pair") }

        // A certificate without its key: a new CA, and a notice that clients must trust it again.
        try FileManager.default.removeItem(atPath: dir + "/b/ca-key.pem")
        let remade = try CertificateAuthority(directory: dir + "/b")
        #expect(remade.notice?.contains("ca.pem was there without ca-key.pem") == true)
        #expect(remade.certificate != second.certificate)
        _ = try CertificateAuthority(directory: dir + "/b")
    }

    /// Proxies started at once with the same new `--ca-dir` end up with one CA: each uses what is on disk.
    @Test func concurrentStartsMakeOneCA() throws {
        let dir = NSTemporaryDirectory() + "tapedeck-carace-\(UUID().uuidString)/ca"
        defer { try? FileManager.default.removeItem(atPath: (dir as NSString).deletingLastPathComponent) }
        let made = Mutex<[Certificate?]>([])
        DispatchQueue.concurrentPerform(iterations: 8) { _ in
            let ca = try? CertificateAuthority(directory: dir)
            made.withLock { $0.append(ca?.certificate) }
        }
        let onDisk = try Certificate(pemEncoded: String(contentsOfFile: dir + "/ca.pem", encoding: .utf8))
        #expect(made.withLock { $0 } == Array(repeating: onDisk, count: 8))
    }

    @Test(arguments: [ProxyMode.record, .auto])
    func exchangesRecordedInThisRunReplayAfterSwitchingToReplay(mode: ProxyMode) async throws {
        let path = tempCassette("switch-\(mode)")
        defer { try? FileManager.default.removeItem(atPath: path) }
        try await TestSimulator.with(groups: 20) { sim in
            try await TestProxy.with(cassette: path, mode: mode, upstream: sim.url) { proxy in
                let calls = [
                    "/?Action=DescribeSecurityGroups&RegionId=cn-hangzhou&PageSize=1",
                    "/?Action=DescribeSecurityGroups&RegionId=cn-hangzhou&PageSize=2",
                ]
                var live: [[UInt8]] = []
                for c in calls { live.append(try await RawHTTPClient.request("GET", c, port: proxy.port).body) }
                let switched = try await RawHTTPClient.request(
                    "POST", "/__tapedeck/mode", port: proxy.port, headers: jsonType,
                    body: Array(#"{"mode":"replay"}"#.utf8))
                #expect(switched.status == 200)
                for (c, body) in zip(calls, live) {
                    let r = try await RawHTTPClient.request("GET", c, port: proxy.port)
                    #expect(r.status == 200 && r.body == body, "replays what this run recorded: \(r.bodyString)")
                }
                #expect(proxy.engine.status.hits == 2)
            }
        }
    }

    @Test func switchingCassettesWithExchangesInFlightKeepsEachFileWhole() async throws {
        let dir = NSTemporaryDirectory() + "tapedeck-inflight-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try await Self.withSlowUpstream { upstream, waitUntilReached in
            try await TestProxy.with(cassette: dir + "/first.jsonl.gz", mode: .record, upstream: "http://127.0.0.1:\(upstream)") { proxy in
                try await withThrowingTaskGroup(of: Void.self) { group in
                    for i in 0..<4 { group.addTask { _ = try await RawHTTPClient.request("GET", "/first/\(i)", port: proxy.port) } }
                    // Switch while all four wait on the upstream (a loaded CI run had not forwarded them after a
                    // fixed 200 ms, so they were recorded into the second cassette and the first never written).
                    #expect(try await waitUntilReached(4) == 4)
                    let r = try await RawHTTPClient.request(
                        "POST", "/__tapedeck/cassette", port: proxy.port, headers: jsonType,
                        body: Array(#"{"path":"\#(dir)/second.jsonl.gz"}"#.utf8))
                    #expect(r.status == 200)
                    for i in 0..<2 { group.addTask { _ = try await RawHTTPClient.request("GET", "/second/\(i)", port: proxy.port) } }
                    try await group.waitForAll()
                }
            }
        }
        let first = try CassetteReader(path: dir + "/first.jsonl.gz").allExchanges()
        let second = try CassetteReader(path: dir + "/second.jsonl.gz").allExchanges()
        #expect(first.count == 4 && first.allSatisfy { $0.request.url.contains("/first/") }, "\(first.map(\.request.url))")
        #expect(second.count == 2 && second.allSatisfy { $0.request.url.contains("/second/") })
        #expect(first.map(\.seq) == [1, 2, 3, 4] && second.map(\.seq) == [1, 2], "sequence numbers stay monotonic within a file")
    }

    /// Switching back to a cassette whose exchange is still in flight takes its session back: one writer per
    /// file. (A second session was a second writer, each with its own end of file and next sequence number:
    /// sequence numbers repeated and replays of the later records failed as damaged.)
    @Test func switchingBackToACassetteInFlightKeepsOneWriter() async throws {
        let dir = NSTemporaryDirectory() + "tapedeck-reopen-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let x = dir + "/x.jsonl.gz", y = dir + "/y.jsonl.gz"
        try await Self.withSlowUpstream(delay: .milliseconds(800)) { upstream, reached in
            try await TestProxy.with(cassette: x, mode: .record, upstream: "http://127.0.0.1:\(upstream)") { proxy in
                async let first = RawHTTPClient.request("GET", "/?Action=A&n=1", port: proxy.port)
                _ = try await reached(1)
                try proxy.engine.switchCassette(path: y, mode: nil)
                try proxy.engine.switchCassette(path: x, mode: nil)  // back while n=1 is still in flight
                async let second = RawHTTPClient.request("GET", "/?Action=A&n=2", port: proxy.port)
                let (a, b) = try await (first, second)
                #expect(a.status == 200 && b.status == 200, "\(a.bodyString) \(b.bodyString)")
                let third = try await RawHTTPClient.request("GET", "/?Action=A&n=3", port: proxy.port)
                #expect(third.status == 200)
                // Replayed from this proxy's own index: every record readable where the index says it is.
                try proxy.engine.switchCassette(path: x, mode: .replay)
                for n in 1...3 {
                    let r = try await RawHTTPClient.request("GET", "/?Action=A&n=\(n)", port: proxy.port)
                    #expect(r.status == 200, "n=\(n): \(r.bodyString)")
                }
            }
        }
        let back = try CassetteReader(path: x).allExchanges()
        #expect(back.map(\.seq) == [1, 2, 3], "one writer numbers the records: \(back.map(\.seq))")
        #expect(Set(back.map(\.request.url)).count == 3)
    }

    /// A CreateSecurityGroup must not happen upstream when it cannot be recorded.
    @Test func whatCannotBeRecordedIsNotSentUpstream() async throws {
        let dir = NSTemporaryDirectory() + "tapedeck-unrec-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = dir + "/c.jsonl.gz"
        let seen = Atomic<Int>(0)
        try await ScriptedUpstream.with(answer: { _ in
            seen.add(1, ordering: .relaxed); return Self.ok
        }) { upstream in
            try await TestProxy.with(cassette: path, mode: .record, upstream: "http://127.0.0.1:\(upstream)") { proxy in
                #expect(try await RawHTTPClient.request("GET", "/?Action=CreateSecurityGroup&n=1", port: proxy.port).status == 200)
                try FileManager.default.removeItem(atPath: path)  // the cassette is deleted under the running proxy
                let r = try await RawHTTPClient.request("GET", "/?Action=CreateSecurityGroup&n=2", port: proxy.port)
                #expect(r.status == 503 && r.bodyString.contains("was removed") && r.bodyString.contains(path), "\(r.bodyString)")
                _ = try await RawHTTPClient.request("GET", "/?Action=CreateSecurityGroup&n=3", port: proxy.port)
                #expect(seen.load(ordering: .relaxed) == 1, "the later calls never reached the upstream")
                // The status says so (refusals come before any write, so there is no write error to show).
                let status = json(try await RawHTTPClient.request("GET", "/__tapedeck/status", port: proxy.port))
                #expect(status["recorded"] as? Int == 1)
                #expect(status["refused_unwritable"] as? Int == 2)
                #expect((status["last_refusal"] as? String)?.contains("was removed") == true, "\(status)")
            }
        }
    }

    /// A client that sends its requests and then half-closes (FIN) still gets every answer, also when the
    /// upstream is slow (the answer is deferred while the FIN arrives), pipelined ones in order; then the
    /// proxy closes. In every mode that forwards.
    @Test(arguments: [ProxyMode.passthrough, .record])
    func aClientThatHalfClosesAfterItsRequestsGetsEveryAnswer(mode: ProxyMode) async throws {
        let dir = NSTemporaryDirectory() + "tapedeck-halfclose-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try await ScriptedUpstream.with(
            delay: .milliseconds(300),
            answer: { head in
                let path = head.split(separator: " ").dropFirst().first.map(String.init) ?? "?"
                return Array("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: \(path.utf8.count)\r\n\r\n\(path)".utf8)
            }
        ) { upstream in
            try await TestProxy.with(cassette: dir + "/c.jsonl.gz", mode: mode, upstream: "http://127.0.0.1:\(upstream)") { proxy in
                let c = try await RawHTTPConnection.connect(port: proxy.port)
                try await c.send("GET /one HTTP/1.1\r\nHost: x\r\n\r\nGET /two HTTP/1.1\r\nHost: x\r\n\r\n")
                try await c.closeOutput()
                let text = try await c.received(timeout: .seconds(5)) { $0.contains("/two") }
                #expect(text.hasPrefix("HTTP/1.1 200"), "\(text)")
                let one = text.range(of: "/one"), two = text.range(of: "/two")
                #expect(one != nil && two != nil && one!.lowerBound < two!.lowerBound, "both answers, in order: \(text)")
                #expect(try await c.received(timeout: .seconds(5)) { _ in false }.contains("/two"))
                #expect(try await c.isClosed, "the proxy closes once both are answered")
                await c.close()
            }
        }
    }
    /// The upstream pipeline has no outbound header validator: what it forwards is what NIO's request parser
    /// accepted. Control bytes in a header value or the target, a bare CR, a NUL: each is refused with 400 at
    /// the door, and nothing that reaches the upstream holds a byte that could end or split a line.
    @Test func aForwardedRequestKeepsOnlyWhatTheParserAccepted() async throws {
        let dir = NSTemporaryDirectory() + "tapedeck-forwarded-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        final class Seen: Sendable { let heads = Mutex<[String]>([]) }
        let seen = Seen()
        let values: [[UInt8]] = [
            Array("a\u{01}b".utf8), Array("a\u{7F}b".utf8), Array("a\rb".utf8), [0x61, 0x00, 0x62], Array("a\u{0B}b".utf8),
            Array("caf\u{E9}".utf8), Array("a\tb".utf8),
        ]
        let targets = ["/?a=\u{01}", "/?a=b\u{7F}", "/a\u{0C}b", "/ok"]
        try await ScriptedUpstream.with(answer: { head in
            seen.heads.withLock { $0.append(head) }
            return Array("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok".utf8)
        }) { upstream in
            try await TestProxy.with(cassette: dir + "/c.jsonl.gz", mode: .passthrough, upstream: "http://127.0.0.1:\(upstream)") {
                proxy in
                var answers: [String] = []
                for v in values {
                    let c = try await RawHTTPConnection.connect(port: proxy.port)
                    try await c.send(Array("GET /h HTTP/1.1\r\nHost: x\r\nX-T: ".utf8) + v + Array("\r\nConnection: close\r\n\r\n".utf8))
                    answers.append(String(try await c.received(timeout: .seconds(5)) { $0.contains("\r\n\r\n") }.prefix(12)))
                    await c.close()
                }
                for t in targets {
                    let c = try await RawHTTPConnection.connect(port: proxy.port)
                    try await c.send("GET \(t) HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                    answers.append(String(try await c.received(timeout: .seconds(5)) { $0.contains("\r\n\r\n") }.prefix(12)))
                    await c.close()
                }
                // Control bytes are refused at the door; obs-text and a tab are header text and go through.
                let (ok, bad) = ("HTTP/1.1 200", "HTTP/1.1 400")
                #expect(answers == [bad, bad, bad, bad, bad, ok, ok, bad, bad, bad, ok])
            }
        }
        let heads = seen.heads.withLock { $0 }
        #expect(!heads.isEmpty)
        for head in heads {
            for line in head.split(separator: "\r\n", omittingEmptySubsequences: false) {
                let bad = line.unicodeScalars.filter { ($0.value < 0x20 && $0 != "\t") || $0.value == 0x7F }
                #expect(bad.isEmpty, "a control byte reached the upstream: \(line.debugDescription)")
            }
        }
    }

    /// Hop-by-hop headers (RFC 9110 §7.6.1: the fixed ones and those a `Connection` header names) stop at the
    /// proxy; every other header goes upstream as sent, in order. A request without any goes unchanged.
    @Test(arguments: [ProxyMode.passthrough, .record])
    func hopByHopHeadersStopAtTheProxyAndTheRestGoOnInOrder(mode: ProxyMode) async throws {
        let dir = NSTemporaryDirectory() + "tapedeck-hop-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        final class Seen: Sendable { let heads = Mutex<[String]>([]) }
        let seen = Seen()
        try await ScriptedUpstream.with(answer: { head in
            seen.heads.withLock { $0.append(head) }
            return Array("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok".utf8)
        }) { upstream in
            try await TestProxy.with(cassette: dir + "/c.jsonl.gz", mode: mode, upstream: "http://127.0.0.1:\(upstream)") { proxy in
                let c = try await RawHTTPConnection.connect(port: proxy.port)
                try await c.send(
                    "GET /a HTTP/1.1\r\nHost: x\r\nX-First: 1\r\nConnection: keep-alive, X-Drop\r\nX-Drop: gone\r\nKeep-Alive: timeout=5\r\n"
                        + "Proxy-Connection: keep-alive\r\nTE: trailers\r\nUpgrade: h2c\r\nX-Last: 2\r\n\r\n"
                        + "GET /b HTTP/1.1\r\nHost: x\r\nX-First: 1\r\nx-drop: stays\r\nX-Last: 2\r\n\r\n")
                let text = try await c.received(timeout: .seconds(5)) { $0.components(separatedBy: "HTTP/1.1 200").count == 3 }
                #expect(text.components(separatedBy: "HTTP/1.1 200").count == 3, "\(text)")
                await c.close()
            }
        }
        let heads = seen.heads.withLock { $0 }
        #expect(heads.count == 2)
        func names(_ head: String) -> [String] {
            head.split(separator: "\r\n").dropFirst().compactMap { $0.split(separator: ":").first.map { $0.lowercased() } }
                .filter { $0 != "host" }
        }
        if heads.count == 2 {
            // (and the proxy's own `Via` last, RFC 9110 §7.6.3)
            #expect(names(heads[0]) == ["x-first", "x-last", "via"], "\(heads[0])")
            #expect(names(heads[1]) == ["x-first", "x-drop", "x-last", "via"], "\(heads[1])")
            #expect(heads[1].contains("x-drop: stays"))
        }
    }
}
