import Cassette
import CloudSigning
import CloudSim
import Foundation
import Matching
import NIOCore
import NIOPosix
import Proxy
import TapedeckHTTP
import TapedeckTesting
import Testing

func tempCassette(_ name: String) -> String {
    FileManager.default.temporaryDirectory.appendingPathComponent("tapedeck-proxy-\(UInt32.random(in: 0...UInt32.max))-\(name).jsonl.gz")
        .path
}

/// A signed RPC call with a fresh nonce and timestamp each time, as the SDK sends it.
func signedRPC(_ params: [(String, String)], nonce: String = UUID().uuidString) -> String {
    var p = QueryParameters(
        [
            ("Action", "DescribeSecurityGroupReferences"), ("Version", "2014-05-26"), ("Format", "JSON"),
            ("RegionId", "cn-hangzhou"), ("AccessKeyId", "LTAItestkey"), ("SignatureMethod", "HMAC-SHA1"),
            ("SignatureVersion", "1.0"), ("SignatureNonce", nonce),
            ("Timestamp", ISO8601DateFormatter().string(from: Date())),
        ] + params)
    AliyunRPCSigner.sign(method: "GET", parameters: &p, secret: "testsecret")
    return "/?" + p.encoded
}

let jsonType = [("Content-Type", "application/json")]

func json(_ r: RawHTTPClient.Response) -> [String: Any] {
    (try? JSONSerialization.jsonObject(with: Data(r.body)) as? [String: Any]) ?? [:]
}

@Suite struct ProxyRoundTripTests {
    @Test func recordThenReplayOfflineGivesIdenticalBytesDespiteFreshSignatures() async throws {
        let path = tempCassette("rt")
        defer { try? FileManager.default.removeItem(atPath: path) }
        let queries: [[(String, String)]] = [[("SecurityGroupId.1", "")], [("SecurityGroupId.2", "")]]
        _ = queries
        // Record against a live simulator.
        let recorded: [RawHTTPClient.Response] = try await TestSimulator.with(groups: 200) { sim in
            let ids = (0..<3).map { sim.simulator.aliyun.store.generatedID(of: UInt32($0)) }
            return try await TestProxy.with(cassette: path, mode: .record, upstream: sim.url) { proxy in
                var out: [RawHTTPClient.Response] = []
                for id in ids {
                    out.append(try await RawHTTPClient.request("GET", signedRPC([("SecurityGroupId.1", id)]), port: proxy.port))
                }
                // The same call twice: answers are replayed in recorded order.
                out.append(try await RawHTTPClient.request("GET", signedRPC([("SecurityGroupId.1", ids[0])]), port: proxy.port))
                let huawei =
                    "/v3/\(sim.simulator.huawei.store.ownerID)/vpc/security-groups/\(sim.simulator.huawei.store.generatedID(of: 1))"
                out.append(
                    try await RawHTTPClient.request(
                        "GET", huawei, port: proxy.port,
                        headers: [
                            ("X-Sdk-Date", "20260101T000000Z"),
                            ("Authorization", "SDK-HMAC-SHA256 Access=AK, SignedHeaders=host;x-sdk-date, Signature=abc"),
                        ]))
                #expect(proxy.engine.status.recorded == 5)
                return out
            }
        }
        for r in recorded { #expect(r.status == 200, "\(r.bodyString)") }
        // The simulator is gone; replay with new signatures, nonces and timestamps.
        let ids = (0..<3).map { i in
            (json(recorded[i])["SecurityGroupReferences"] as? [String: Any]).flatMap {
                ($0["SecurityGroupReference"] as? [[String: Any]])?.first?["SecurityGroupId"] as? String
            } ?? ""
        }
        try await TestProxy.with(cassette: path, mode: .replay) { proxy in
            for (i, id) in ids.enumerated() {
                let r = try await RawHTTPClient.request("GET", signedRPC([("SecurityGroupId.1", id)]), port: proxy.port)
                #expect(r.status == 200 && r.body == recorded[i].body, "exchange \(i)")
            }
            let again = try await RawHTTPClient.request("GET", signedRPC([("SecurityGroupId.1", ids[0])]), port: proxy.port)
            #expect(again.body == recorded[3].body)
            let huaweiPath = (json(recorded[4])["security_group"] as? [String: Any]).map { sg in
                "/v3/\(sg["project_id"]!)/vpc/security-groups/\(sg["id"]!)"
            }!
            let h = try await RawHTTPClient.request(
                "GET", huaweiPath, port: proxy.port,
                headers: [
                    ("X-Sdk-Date", "20991231T000000Z"),
                    ("Authorization", "SDK-HMAC-SHA256 Access=AK, SignedHeaders=host;x-sdk-date, Signature=fff"),
                ])
            #expect(h.status == 200 && h.body == recorded[4].body)
            // Used up: fails closed with the cloud's error shape.
            let exhausted = try await RawHTTPClient.request("GET", signedRPC([("SecurityGroupId.1", ids[1])]), port: proxy.port)
            #expect(exhausted.status == 404 && json(exhausted)["Code"] as? String == "Tapedeck.ExchangesExhausted")
            #expect(proxy.engine.status.hits == 5)
        }
        // Nothing secret reached the file.
        let findings = try SecretScanner.scan(path: path, secrets: [("sig", "testsecret"), ("ak", "LTAItestkey")])
        #expect(findings.isEmpty, "\(findings)")
    }

    @Test func unmatchedRequestFailsClosedNamingCassetteKeyAndNearest() async throws {
        let path = tempCassette("miss")
        defer { try? FileManager.default.removeItem(atPath: path) }
        try await TestSimulator.with(groups: 50) { sim in
            let id = sim.simulator.aliyun.store.generatedID(of: 1)
            try await TestProxy.with(cassette: path, mode: .record, upstream: sim.url) { proxy in
                _ = try await RawHTTPClient.request("GET", signedRPC([("SecurityGroupId.1", id)]), port: proxy.port)
            }
        }
        try await TestProxy.with(cassette: path, mode: .replay) { proxy in
            let r = try await RawHTTPClient.request("GET", signedRPC([("SecurityGroupId.1", "sg-bp0000000000000")]), port: proxy.port)
            #expect(r.status == 404)
            let body = json(r)
            #expect(body["Code"] as? String == "Tapedeck.NoMatchingExchange")
            let msg = body["Message"] as? String ?? ""
            #expect(msg.contains(path) && msg.contains("nearest recorded") && msg.contains("SecurityGroupId.1: "))
            #expect(body["RequestId"] is String && body["HostId"] is String)
            let huawei = try await RawHTTPClient.request(
                "GET", "/v3/p/vpc/security-groups/x", port: proxy.port,
                headers: [
                    ("X-Sdk-Date", "20260101T000000Z"), ("Authorization", "SDK-HMAC-SHA256 Access=a, SignedHeaders=host, Signature=b"),
                ])
            #expect(huawei.status == 404 && json(huawei)["error_code"] as? String == "Tapedeck.NoMatchingExchange")
            #expect(huawei.header("X-Request-Id") != nil)
            #expect(proxy.engine.status.misses == 2)
        }
    }

    @Test func hundredsOfConcurrentClientsRecordEachExchangeOnce() async throws {
        let path = tempCassette("concurrent")
        defer { try? FileManager.default.removeItem(atPath: path) }
        try await TestSimulator.with(groups: 500, threads: 2) { sim in
            let store = sim.simulator.aliyun.store
            try await TestProxy.with(cassette: path, mode: .record, upstream: sim.url) { proxy in
                try await withThrowingTaskGroup(of: Int.self) { g in
                    for i in 0..<200 {
                        g.addTask {
                            try await RawHTTPClient.request(
                                "GET", signedRPC([("SecurityGroupId.1", store.generatedID(of: UInt32(i)))]), port: proxy.port
                            ).status
                        }
                    }
                    for try await s in g { #expect(s == 200) }
                }
                #expect(proxy.engine.status.recorded == 200)
            }
        }
        let r = try CassetteReader(path: path)
        #expect(r.entries.count == 200)
        #expect(Set(r.entries.map(\.key)).count == 200)
        for e in r.entries { #expect(try r.exchange(e).response.status == 200) }
    }

    @Test func upstreamRefusedAndSlowGive502And504AndWriteNothing() async throws {
        let path = tempCassette("faults")
        defer { try? FileManager.default.removeItem(atPath: path) }
        // A port nobody listens on, held for the whole test: bound but not listening (connections are refused),
        // so no test running in parallel can be given it (a closed listener's port could be).
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &addr) { p in
            p.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) == 0 && getsockname(fd, $0, &length) == 0 }
        }
        #expect(bound)
        let deadPort = Int(UInt16(bigEndian: addr.sin_port))
        try await TestProxy.with(cassette: path, mode: .record, upstream: "http://127.0.0.1:\(deadPort)") { proxy in
            let r = try await RawHTTPClient.request("GET", "/?Action=DescribeSecurityGroups&RegionId=cn-hangzhou", port: proxy.port)
            #expect(r.status == 502 && json(r)["Code"] as? String == "Tapedeck.UpstreamUnavailable")
            #expect(proxy.engine.status.recorded == 0)
        }
        // A server that accepts and never answers.
        let silent = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton).bind(host: "127.0.0.1", port: 0).get()
        defer { silent.close(promise: nil) }
        try await TestProxy.with(
            cassette: path, mode: .record, upstream: "http://127.0.0.1:\(silent.localAddress!.port!)",
            configure: { $0.upstreamTimeout = .milliseconds(300) }
        ) { proxy in
            let r = try await RawHTTPClient.request("GET", "/v3/p/vpc/security-groups", port: proxy.port)
            #expect(r.status == 504 && json(r)["error_code"] as? String == "Tapedeck.UpstreamTimeout")
            // The proxy is still up.
            #expect(try await RawHTTPClient.request("GET", "/__tapedeck/status", port: proxy.port).status == 200)
        }
        let size = (try? FileManager.default.attributesOfItem(atPath: path)[.size] as? Int) ?? 0
        #expect(try size == 0 || CassetteReader(path: path).entries.isEmpty)
    }

    @Test func controlAPISwitchesModeAndCassette() async throws {
        let first = tempCassette("c1"), second = tempCassette("c2")
        defer { for p in [first, second] { try? FileManager.default.removeItem(atPath: p) } }
        try await TestSimulator.with(groups: 20) { sim in
            try await TestProxy.with(cassette: first, mode: .record, upstream: sim.url) { proxy in
                _ = try await RawHTTPClient.request("GET", "/?Action=DescribeSecurityGroups&RegionId=cn-hangzhou", port: proxy.port)
                let status = json(try await RawHTTPClient.request("GET", "/__tapedeck/status", port: proxy.port))
                #expect(status["mode"] as? String == "record" && status["recorded"] as? Int == 1 && status["cassette"] as? String == first)
                let switched = try await RawHTTPClient.request(
                    "POST", "/__tapedeck/cassette", port: proxy.port, headers: jsonType,
                    body: Array(#"{"path":"\#(second)","mode":"auto"}"#.utf8))
                #expect(json(switched)["cassette"] as? String == second && json(switched)["mode"] as? String == "auto")
                _ = try await RawHTTPClient.request("GET", "/?Action=DescribeSecurityGroups&RegionId=cn-shanghai", port: proxy.port)
                _ = try await RawHTTPClient.request("GET", "/?Action=DescribeSecurityGroups&RegionId=cn-shanghai", port: proxy.port)
                let s2 = json(try await RawHTTPClient.request("GET", "/__tapedeck/status", port: proxy.port))
                // auto: the first call was new, the second found its recording already used: both were recorded.
                #expect(s2["recorded"] as? Int == 2 && s2["hits"] as? Int == 0)
                _ = try await RawHTTPClient.request("POST", "/__tapedeck/rewind", port: proxy.port, headers: jsonType)
                for _ in 0..<2 {
                    _ = try await RawHTTPClient.request("GET", "/?Action=DescribeSecurityGroups&RegionId=cn-shanghai", port: proxy.port)
                }
                let s3 = json(try await RawHTTPClient.request("GET", "/__tapedeck/status", port: proxy.port))
                #expect(s3["recorded"] as? Int == 2 && s3["hits"] as? Int == 2, "after a rewind both recordings replay")
                let bad = try await RawHTTPClient.request(
                    "POST", "/__tapedeck/mode", port: proxy.port, headers: jsonType, body: Array(#"{"mode":"sideways"}"#.utf8))
                #expect(bad.status == 400)
                // A misspelled mode or field, or a cassette to replay that does not exist, is refused, not ignored.
                let missing = first + ".missing"
                for body in [
                    #"{"path":"\#(second)","mode":"recrod"}"#, #"{"path":"\#(second)","mode":5}"#,
                    #"{"path":"\#(second)","mdoe":"record"}"#, #"{"path":"\#(missing)","mode":"replay"}"#, "not json",
                ] {
                    let r = try await RawHTTPClient.request(
                        "POST", "/__tapedeck/cassette", port: proxy.port, headers: jsonType, body: Array(body.utf8))
                    #expect(r.status == 400, "\(body): \(r.status) \(r.bodyString)")
                }
                #expect(!FileManager.default.fileExists(atPath: missing))
                let after = json(try await RawHTTPClient.request("GET", "/__tapedeck/status", port: proxy.port))
                #expect(after["mode"] as? String == "auto" && after["cassette"] as? String == second, "nothing changed")
            }
        }
        #expect(try CassetteReader(path: first).entries.count == 1)
        #expect(try CassetteReader(path: second).entries.count == 2)
    }

    /// A HEAD answer's and a 304's Content-Length (of a body they do not carry) reach the client when recorded
    /// and again when replayed offline.
    @Test func announcedLengthsOfHeadAnd304AreReplayed() async throws {
        let path = tempCassette("head")
        defer { try? FileManager.default.removeItem(atPath: path) }
        func check(_ port: Int) async throws {
            // Raw reads: a client that believed the announced length would wait for a body that never comes.
            let c = try await RawHTTPConnection.connect(port: port)
            defer { Task { await c.close() } }
            try await c.send("HEAD /file HTTP/1.1\r\nHost: x\r\n\r\n")
            let h = try await c.received { $0.contains("\r\n\r\n") }
            #expect(h.hasPrefix("HTTP/1.1 200 OK\r\n") && h.contains("\r\nContent-Length: 9999\r\n"), "\(h)")
            try await c.send("GET /cached HTTP/1.1\r\nHost: x\r\n\r\n")
            let n = try await c.received { $0.components(separatedBy: "\r\n\r\n").count > 2 }
            let second = n.components(separatedBy: "\r\n\r\n")[1]
            #expect(second.hasPrefix("HTTP/1.1 304 Not Modified\r\n") && second.contains("\r\nContent-Length: 1234"), "\(n)")
            #expect(second.contains("ETag: \"x\""), "\(n)")
        }
        try await ScriptedUpstream.with(answer: { head in
            head.hasPrefix("HEAD")
                ? Array("HTTP/1.1 200 OK\r\nContent-Length: 9999\r\nContent-Type: text/plain\r\n\r\n".utf8)
                : Array("HTTP/1.1 304 Not Modified\r\nContent-Length: 1234\r\nETag: \"x\"\r\n\r\n".utf8)
        }) { upstream in
            try await TestProxy.with(cassette: path, mode: .record, upstream: "http://127.0.0.1:\(upstream)") { try await check($0.port) }
        }
        try await TestProxy.with(cassette: path, mode: .replay) { try await check($0.port) }
    }

    /// A query that does not percent-decode to UTF-8 (`caf%E9`, `100%`) is the upstream's to judge: forwarded as
    /// sent, recorded, and replayed by the same bytes.
    @Test func aQueryThatDoesNotDecodeIsForwardedAndReplayed() async throws {
        let path = tempCassette("rawquery")
        defer { try? FileManager.default.removeItem(atPath: path) }
        let target = "/echo?name=caf%E9&discount=100%"
        try await ScriptedUpstream.with(answer: { head in
            let line = head.components(separatedBy: "\r\n")[0]
            return Array("HTTP/1.1 200 OK\r\nContent-Length: \(line.utf8.count)\r\n\r\n\(line)".utf8)
        }) { upstream in
            try await TestProxy.with(cassette: path, mode: .record, upstream: "http://127.0.0.1:\(upstream)") { proxy in
                let r = try await RawHTTPClient.request("GET", target, port: proxy.port)
                #expect(r.status == 200 && r.bodyString == "GET \(target) HTTP/1.1", "\(r.status) \(r.bodyString)")
            }
        }
        try await TestProxy.with(cassette: path, mode: .replay) { proxy in
            let r = try await RawHTTPClient.request("GET", target, port: proxy.port)
            #expect(r.status == 200 && r.bodyString == "GET \(target) HTTP/1.1", "\(r.status) \(r.bodyString)")
        }
    }

    /// A first write that failed (a full disk) leaves an empty file: recording into it again starts it afresh.
    @Test func anEmptyCassetteFileIsRecordedInto() async throws {
        let path = tempCassette("empty")
        defer { try? FileManager.default.removeItem(atPath: path) }
        #expect(FileManager.default.createFile(atPath: path, contents: Data()))
        try await TestSimulator.with(groups: 20) { sim in
            try await TestProxy.with(cassette: path, mode: .record, upstream: sim.url) { proxy in
                let r = try await RawHTTPClient.request("GET", "/?Action=DescribeSecurityGroups&RegionId=cn-hangzhou", port: proxy.port)
                #expect(r.status == 200)
            }
        }
        #expect(try CassetteReader(path: path).entries.count == 1)
    }

    @Test func forwardProxyAbsoluteFormRecords() async throws {
        let path = tempCassette("forward")
        defer { try? FileManager.default.removeItem(atPath: path) }
        try await TestSimulator.with(groups: 20) { sim in
            try await TestProxy.with(cassette: path, mode: .record) { proxy in
                let r = try await RawHTTPClient.request(
                    "GET", "\(sim.url)/?Action=DescribeSecurityGroups&RegionId=cn-hangzhou", port: proxy.port)
                #expect(r.status == 200 && r.bodyString.contains("SecurityGroups"))
            }
        }
        let e = try CassetteReader(path: path).allExchanges()
        #expect(e.count == 1 && e[0].request.url.hasPrefix("http://127.0.0.1:") && e[0].key.hasPrefix("127.0.0.1:"))
    }
}
