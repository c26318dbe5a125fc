import CloudModel
import CloudSim
import Foundation
#if canImport(Glibc)
    import Glibc
#endif
import TapedeckHTTP
import TapedeckTesting
import Testing

@Suite struct HTTPRobustnessTests {
    /// A web page the user opens cannot change the data set under a test run: a cross-site form post, a foreign
    /// `Origin` (text/plain JSON to Huawei), or a DNS-rebound name are refused in the cloud's shape and change
    /// nothing; SDK-like requests and a local app's page are served.
    @Test func webPagesCannotChangeTheDataSet() async throws {
        try await TestSimulator.with(groups: 5) { sim in
            func total() async throws -> Int { try json(try await ecs(sim, "DescribeSecurityGroups"))["TotalCount"] as? Int ?? -1 }
            let before = try await total()
            let form = Array("Action=CreateSecurityGroup&RegionId=cn-hangzhou&SecurityGroupName=pwned".utf8)
            let formType = ("Content-Type", "application/x-www-form-urlencoded")
            for headers in [
                [formType, ("Origin", "http://evil.example")], [formType, ("Sec-Fetch-Site", "cross-site")],
                [formType, ("Sec-Fetch-Site", "same-origin"), ("Sec-Fetch-Site", "cross-site")], [formType, ("Origin", "null")],
            ] {
                let r = try await RawHTTPClient.request("POST", "/", port: sim.port, headers: headers, body: form)
                #expect(r.status == 403 && r.bodyString.contains("web page"), "\(headers): \(r.bodyString)")
                #expect(try json(r)["Code"] as? String == "Forbidden.BrowserRequest")
            }
            let huawei = try await RawHTTPClient.request(
                "POST", "/v3/p/vpc/security-groups", port: sim.port, headers: [("Content-Type", "text/plain"), ("Origin", "http://evil.example")],
                body: Array(#"{"security_group":{"name":"pwned"}}"#.utf8))
            #expect(try huawei.status == 403 && json(huawei)["error_code"] != nil, "\(huawei.bodyString)")
            let rebound = try await RawHTTPClient.send(
                Array(
                    ("POST / HTTP/1.1\r\nHost: evil.example:\(sim.port)\r\nSec-Fetch-Site: same-origin\r\nSec-Fetch-Mode: cors\r\n"
                        + "Content-Type: application/x-www-form-urlencoded\r\nContent-Length: \(form.count)\r\n\r\n").utf8) + form,
                port: sim.port)
            #expect(rebound.status == 403, "\(rebound.bodyString)")
            let reboundRead = try await RawHTTPClient.send(
                Array("GET /?Action=DescribeSecurityGroups&RegionId=cn-hangzhou HTTP/1.1\r\nHost: evil.example\r\nSec-Fetch-Mode: navigate\r\n\r\n".utf8),
                port: sim.port)
            #expect(reboundRead.status == 403, "\(reboundRead.bodyString)")
            #expect(try await total() == before, "nothing was created")
            // The form's Format shapes the refusal; the status document is not read by pages either.
            let xml = try await RawHTTPClient.request(
                "POST", "/", port: sim.port, headers: [formType, ("Origin", "http://evil.example")], body: form + Array("&Format=XML".utf8))
            #expect(xml.status == 403 && xml.bodyString.contains("<Code>Forbidden.BrowserRequest</Code>"), "\(xml.bodyString)")
            let status = try await RawHTTPClient.request("GET", "/__tapedeck/status", port: sim.port, headers: [("Origin", "http://evil.example")])
            #expect(status.status == 403, "\(status.bodyString)")
            #expect(try await RawHTTPClient.request("GET", "/__tapedeck/status", port: sim.port).status == 200)
            let head = try await RawHTTPClient.request("HEAD", "/__tapedeck/status", port: sim.port)
            #expect(head.status == 200 && head.body.isEmpty && (Int(head.header("content-length") ?? "") ?? 0) > 0, "\(head.headers)")
            let post = try await RawHTTPClient.request("POST", "/__tapedeck/status", port: sim.port)
            #expect(post.status == 405 && post.header("allow") == "GET, HEAD", "\(post.bodyString)")
            let local = try await RawHTTPClient.request(
                "POST", "/", port: sim.port, headers: [formType, ("Origin", "http://localhost:3000"), ("Sec-Fetch-Site", "same-site")], body: form)
            #expect(local.status == 200, "a local app's page: \(local.bodyString)")
            #expect(try await ecs(sim, "CreateSecurityGroup", [("SecurityGroupName", "mine")], method: "POST").status == 200)
            #expect(try await total() == before + 2)
        }
    }

    @Test func oversizedURIHeadersAndBodyGet414_431_413() async throws {
        var limits = SimulatorConfiguration.Limits()
        limits.maxURIBytes = 1024
        limits.maxHeaderBytes = 2048
        limits.maxBodyBytes = 4096
        try await TestSimulator.with(groups: 5, limits: limits) { sim in
            let longURI = try await RawHTTPClient.request(
                "GET", "/?Action=DescribeSecurityGroups&x=" + String(repeating: "a", count: 2000), port: sim.port)
            #expect(longURI.status == 414 && longURI.closed)
            #expect(try json(longURI)["Code"] != nil)
            // Past what NIO's decoder takes at all (it says only "header overflow"): still 414, not 431.
            let hugeURI = try await RawHTTPClient.request(
                "GET", "/?Action=DescribeSecurityGroups&x=" + String(repeating: "a", count: 200_000), port: sim.port)
            #expect(hugeURI.status == 414, "\(hugeURI.status) \(hugeURI.bodyString)")
            let bigHeaders = try await RawHTTPClient.request(
                "GET", "/v3/p/vpc/security-groups", port: sim.port, headers: [("X-Junk", String(repeating: "b", count: 3000))])
            #expect(try bigHeaders.status == 431 && (json(bigHeaders)["error_code"] as? String) != nil)
            let bigBody = try await RawHTTPClient.request(
                "POST", "/", port: sim.port, headers: [("Content-Type", "application/x-www-form-urlencoded")],
                body: Array(repeating: UInt8(ascii: "a"), count: 5000))
            #expect(bigBody.status == 413 && bigBody.closed)
            // The server is still up.
            #expect(try await ecs(sim, "DescribeSecurityGroups").status == 200)
        }
    }

    /// A client that sends its requests (pipelined, one of them large to answer) and half-closes (`nc -N`)
    /// gets every answer in order before the simulator closes.
    @Test func aClientThatHalfClosesAfterItsRequestsGetsEveryAnswer() async throws {
        try await TestSimulator.with(groups: 2000) { sim in
            let c = try await RawHTTPConnection.connect(port: sim.port)
            let big = "GET /?Action=DescribeSecurityGroups&RegionId=cn-hangzhou&PageSize=50 HTTP/1.1\r\nHost: x\r\n\r\n"
            let small = "GET /?Action=DescribeSecurityGroups&RegionId=cn-hangzhou&PageSize=1 HTTP/1.1\r\nHost: x\r\n\r\n"
            try await c.send(big + big + small)
            try await c.closeOutput()
            let text = try await c.received(timeout: .seconds(5)) { _ in false }  // until the simulator closes
            #expect(try await c.isClosed)
            let answers = text.components(separatedBy: "HTTP/1.1 200 OK").dropFirst()
            #expect(answers.count == 3, "three answers: \(text.count) bytes, ending \(text.suffix(200))")
            #expect(answers.last.map { $0.contains("\"PageSize\":1") && $0.hasSuffix("}") } == true, "the last answer arrived whole")
            await c.close()
        }
    }

    /// A client that pipelines several MiB of answers' worth of requests, half-closes and reads slowly gets
    /// every answer, then the close: the server waits while its queue keeps shrinking.
    @Test func afterAFINASlowReaderGetsEveryAnswer() async throws {
        var limits = SimulatorConfiguration.Limits()
        limits.idleTimeout = .seconds(3)
        try await TestSimulator.with(groups: 2000, limits: limits) { sim in
            let request = "GET /?Action=DescribeSecurityGroups&RegionId=cn-hangzhou&PageSize=50 HTTP/1.1\r\nHost: x\r\n\r\n"
            let count = 600  // about 9 MiB of answers
            let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            defer { close(fd) }
            var small: Int32 = 16 * 1024  // a small receive window
            setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, socklen_t(MemoryLayout<Int32>.size))
            var addr = sockaddr_in()
            addr.sin_family = sa_family_t(AF_INET)
            addr.sin_port = in_port_t(UInt16(sim.port).bigEndian)
            addr.sin_addr.s_addr = inet_addr("127.0.0.1")
            let connected = withUnsafePointer(to: &addr) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
            }
            try #require(connected == 0)
            let bytes = Array(String(repeating: request, count: count).utf8)
            var sent = 0
            while sent < bytes.count {
                let n = bytes[sent...].withUnsafeBytes { send(fd, $0.baseAddress, $0.count, 0) }
                try #require(n > 0)
                sent += n
            }
            shutdown(fd, Int32(SHUT_WR))
            var got: [UInt8] = []
            var chunk = [UInt8](repeating: 0, count: 64 * 1024)
            while true {  // until the server closes
                let n = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
                if n <= 0 { break }
                got += chunk[..<n]
                try await Task.sleep(for: .milliseconds(2))
            }
            let answers = String(decoding: got, as: UTF8.self).components(separatedBy: "HTTP/1.1 200 OK").count - 1
            #expect(answers == count, "every answer (\(got.count) bytes)")
        }
    }

    /// Hundreds of idle and slow (never-finished headers) clients are closed after the idle timeout and
    /// never lock out a normal client meanwhile.
    @Test func idleAndSlowClientsAreClosedAndLockNobodyOut() async throws {
        var limits = SimulatorConfiguration.Limits()
        limits.idleTimeout = .seconds(1)
        try await TestSimulator.with(groups: 5, limits: limits) { sim in
            var idle: [RawHTTPConnection] = []
            for i in 0..<300 {
                let c = try await RawHTTPConnection.connect(port: sim.port)
                if i % 2 == 0 { try await c.send("GET / HTTP/1.1\r\nHost: x\r\nX-Slow: ") }  // headers that never end
                idle.append(c)
            }
            #expect(try await ecs(sim, "DescribeSecurityGroups").status == 200, "a normal client is answered meanwhile")
            try await Task.sleep(for: .milliseconds(2500))
            var closed = 0
            for c in idle where try await c.isClosed { closed += 1 }
            #expect(closed == 300, "the server closed every idle or stalled connection")
            for c in idle { await c.close() }
            #expect(try await ecs(sim, "DescribeSecurityGroups").status == 200)
        }
    }

    /// Python's http.client sends an 8 MiB body whole before it reads: it must read the 413, not a reset.
    @Test func aLargeBodyGets413ThatTheClientCanRead() async throws {
        try await TestSimulator.with(groups: 5) { sim in
            let c = try await RawHTTPConnection.connect(port: sim.port)
            try await c.send("POST /?Action=DescribeSecurityGroups HTTP/1.1\r\nHost: x\r\nContent-Length: \(8 << 20)\r\n\r\n")
            try await c.send([UInt8](repeating: 97, count: 8 << 20))
            let out = try await c.received { $0.contains("}") }
            #expect(out.hasPrefix("HTTP/1.1 413 Payload Too Large\r\n"), "\(out.prefix(300))")
            #expect(out.contains("RequestTooLarge"))
            await c.close()
        }
    }

    @Test func headAndExpectContinueKeepKeepAliveClientsInSync() async throws {
        try await TestSimulator.with(groups: 5) { sim in
            let c = try await RawHTTPConnection.connect(port: sim.port)
            let q = "/?Action=DescribeSecurityGroups&RegionId=cn-hangzhou"
            let form = "Action=DescribeSecurityGroups&RegionId=x"
            try await c.send(
                "HEAD \(q) HTTP/1.1\r\nHost: x\r\n\r\nPOST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\n"
                    + "Content-Length: \(form.utf8.count)\r\nExpect: 100-continue\r\n\r\n")
            let first = try await c.received { $0.contains("100 Continue\r\n\r\n") }
            #expect(first.contains("HTTP/1.1 100 Continue\r\n\r\n"), "\(first)")
            #expect(!first.contains("{"), "the HEAD answer has no body")
            try await c.send(form)
            let all = try await c.received { $0.hasSuffix("}") }
            #expect(all.components(separatedBy: "HTTP/1.1 ").count == 4, "HEAD answer, 100 Continue, final answer: \(all)")
            await c.close()
        }
    }

    /// RFC 9112 §3.2: an HTTP/1.1 request without a Host is refused in the cloud's shape, on the lane's path and
    /// the full one alike; HTTP/1.0 may omit it.
    @Test func anHTTP11RequestWithoutHostIs400() async throws {
        try await TestSimulator.with(groups: 5) { sim in
            for raw in [
                "GET /?Action=DescribeSecurityGroups&RegionId=cn-hangzhou HTTP/1.1\r\n\r\n",
                "GET /?Action=DescribeSecurityGroups&RegionId=cn-hangzhou HTTP/1.1\r\nX-Acs-Version: 2014-05-26\r\nContent-Length: 0\r\n\r\n",
                "POST /?Action=DescribeSecurityGroups&RegionId=cn-hangzhou HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
            ] {
                let r = try await RawHTTPClient.send(Array(raw.utf8), port: sim.port)
                #expect(r.status == 400 && r.bodyString.contains("\"Code\"") && r.bodyString.contains("Host"), "\(raw.debugDescription): \(r.bodyString)")
            }
            let huawei = try await RawHTTPClient.send(Array("GET /v3/p/vpc/security-groups HTTP/1.1\r\n\r\n".utf8), port: sim.port)
            #expect(huawei.status == 400 && huawei.bodyString.contains("\"error_code\""), "\(huawei.bodyString)")
            let old = try await RawHTTPClient.send(
                Array("GET /?Action=DescribeSecurityGroups&RegionId=cn-hangzhou HTTP/1.0\r\n\r\n".utf8), port: sim.port)
            #expect(old.status == 200, "\(old.bodyString)")
        }
    }

    @Test func malformedHTTPGets400AndClose() async throws {
        try await TestSimulator.with(groups: 5) { sim in
            let r = try await RawHTTPClient.send(Array("GARBAGE\r\n\r\n".utf8), port: sim.port)
            #expect(r.status == 400 && r.closed)
            let r2 = try await RawHTTPClient.send(Array("GET / HTTP/1.1\r\nHost: x\r\nContent-Length: nope\r\n\r\n".utf8), port: sim.port)
            #expect(r2.status == 400 && r2.bodyString.contains("Content-Length that is not one number"), "\(r2.bodyString)")
            // HTTP/2's preface (prior knowledge) is told what this server speaks, in words.
            let h2 = try await RawHTTPClient.send(Array("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".utf8), port: sim.port)
            #expect(h2.status == 400 && h2.bodyString.contains("speaks HTTP/1.1") && !h2.bodyString.contains("swift-http-parser"), "\(h2.bodyString)")
            #expect(try await ecs(sim, "DescribeSecurityGroups").status == 200)
        }
    }

    /// Input NIO's parser refuses (a bare LF, a NUL in a header, two Content-Lengths) still gets the error shape
    /// of the cloud its target names.
    @Test func malformedHTTPGetsTheShapeOfTheCloudItsTargetNames() async throws {
        try await TestSimulator.with(groups: 5) { sim in
            for raw in [
                "GET /v3/p/vpc/security-groups HTTP/1.1\nHost: x\n\n",
                "GET /v3/p/vpc/security-groups HTTP/1.1\r\nHost: x\r\nX: a\u{0}b\r\n\r\n",
                "POST /v3/p/vpc/security-groups HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab",
            ] {
                let r = try await RawHTTPClient.send(Array(raw.utf8), port: sim.port)
                #expect(r.status == 400 && r.bodyString.contains("\"error_code\""), "\(raw.debugDescription): \(r.bodyString)")
            }
            let xml = try await RawHTTPClient.send(
                Array("GET /?Action=DescribeSecurityGroups&Format=XML HTTP/1.1\nHost: x\n\n".utf8), port: sim.port)
            #expect(xml.status == 400 && xml.bodyString.contains("<Code>MalformedHTTPRequest</Code>"), "\(xml.bodyString)")
            let json = try await RawHTTPClient.send(Array("GET /?Action=DescribeSecurityGroups HTTP/1.1\nHost: x\n\n".utf8), port: sim.port)
            #expect(json.status == 400 && json.bodyString.contains("\"Code\":\"MalformedHTTPRequest\""), "\(json.bodyString)")
        }
    }

    /// An upgrade offer (Java's HttpClient offers h2c on its first plain-HTTP request; `curl --http2`) is answered
    /// in HTTP/1.1 with `Connection: close`: the parser reads nothing after such a request, and a client that
    /// sent its next request on the same connection would wait forever.
    @Test func anUpgradeOfferIsAnsweredThenTheConnectionCloses() async throws {
        try await TestSimulator.with(groups: 5) { sim in
            for upgrade in ["h2c\r\nHTTP2-Settings: AAEAAEAAAAIAAAABAAMAAABkAAQBAAAAAAUAAEAA", "websocket"] {
                let r = try await RawHTTPClient.send(
                    Array(
                        ("GET /?Action=DescribeSecurityGroups&RegionId=cn-hangzhou HTTP/1.1\r\nHost: x\r\n"
                            + "Connection: Upgrade, HTTP2-Settings\r\nUpgrade: \(upgrade)\r\n\r\n").utf8), port: sim.port)
                #expect(r.status == 200 && r.closed, "\(r.status) \(r.bodyString)")
                #expect(r.headers.contains { $0.0.lowercased() == "connection" && $0.1.lowercased() == "close" }, "\(r.headers)")
            }
            #expect(try await ecs(sim, "DescribeSecurityGroups").status == 200)
        }
    }

    @Test func badEncodingGetsTheCloudsError() async throws {
        try await TestSimulator.with(groups: 5) { sim in
            let aliyun = try await RawHTTPClient.request("GET", "/?Action=DescribeSecurityGroups&RegionId=%FF%FE", port: sim.port)
            #expect(try aliyun.status == 400 && (json(aliyun)["Code"] as? String) == "InvalidParameter.Encoding")
            let huawei = try await RawHTTPClient.request("GET", "/v3/p/vpc/security-group-rules?remote_group_id=%E0%A4", port: sim.port)
            #expect(try huawei.status == 400 && (json(huawei)["error_code"] as? String) == "VPC.0601")
            // A request that asked for XML gets its error in XML, even when its parameters cannot be decoded or
            // its target is over the limit.
            let xml = try await RawHTTPClient.request(
                "GET", "/?Action=DescribeSecurityGroupReferences&RegionId=cn-hangzhou&Format=XML&SecurityGroupId.1=%FF%FE", port: sim.port)
            #expect(xml.status == 400 && xml.bodyString.contains("<Code>InvalidParameter.Encoding</Code>"), "\(xml.bodyString)")
            let long = try await RawHTTPClient.request(
                "GET", "/?Action=DescribeSecurityGroups&Format=xml&Name=" + String(repeating: "a", count: 20_000), port: sim.port)
            #expect(long.status == 414 && long.bodyString.hasPrefix("<?xml"), "\(long.bodyString)")
        }
    }

    @Test func unknownRoutesGetCloudShaped404() async throws {
        try await TestSimulator.with(groups: 5) { sim in
            let r = try await RawHTTPClient.request("GET", "/nothing/here", port: sim.port)
            #expect(try r.status == 404 && (json(r)["Code"] as? String) == "InvalidAction.NotFound")
            let h = try await RawHTTPClient.request("GET", "/v3/p/elb/loadbalancers", port: sim.port)
            #expect(try h.status == 404 && (json(h)["error_code"] as? String) == "APIGW.0101")
        }
    }

    @Test func pipelinedRequestsAnswerInOrder() async throws {
        try await TestSimulator.with(groups: 5) { sim in
            let one = "GET /?Action=NoSuch1 HTTP/1.1\r\nHost: x\r\n\r\n"
            let two = "GET /v3/p/vpc/security-groups?limit=1 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
            // The raw client parses the first response; the second must follow on the same connection.
            let r = try await RawHTTPClient.send(Array((one + two).utf8), port: sim.port)
            #expect(r.status == 404 && r.bodyString.contains("InvalidAction.NotFound"))
        }
    }
}

@Suite struct ThrottlingTests {
    @Test func overTheLimitGetsTheCloudsThrottlingErrors() async throws {
        let ds = SyntheticDataSet(groups: 10, seed: 1)
        let (a, h) = await ds.makeStores()
        // A frozen clock: every call falls in the same second.
        let sim = Simulator(
            aliyun: a, huawei: h, clock: SimulatorClock(fixedTime: 0, seed: 1), throttle: Throttle(perSecond: 3, clock: { 42 }))
        try await TestSimulator.with(simulator: sim) { sim in
            var statuses: [Int] = []
            for _ in 0..<3 { statuses.append(try await ecs(sim, "DescribeSecurityGroups").status) }
            #expect(statuses == [200, 200, 200])
            let throttled = try await ecs(sim, "DescribeSecurityGroups")
            #expect(try throttled.status == 400 && json(throttled)["Code"] as? String == "Throttling.User")
            let huawei = try await RawHTTPClient.request("GET", "/v3/p/vpc/security-groups", port: sim.port)
            #expect(try huawei.status == 429 && json(huawei)["error_code"] as? String == "APIGW.0308")
        }
    }
}
