import Cassette
import CloudSigning
import Foundation
import Matching
import Proxy
import TapedeckHTTP
import TapedeckTesting
import Testing

/// `--ignore`/match configs through record and replay, and `--resign` for Host-covering signatures.
@Suite struct IgnoreAndResignTests {
    func describe(_ tag: String, name: String = "") -> String {
        var params = [("RequestTag", tag)]
        params[0] = ("RequestTag", tag)
        if !name.isEmpty { params.append(("SecurityGroupName", name)) }
        return signedRPC(params).replacingOccurrences(of: "DescribeSecurityGroupReferences", with: "DescribeSecurityGroups")
    }

    @Test func rulesRecordedInTheHeaderApplyOnReplayAndMissesShowIgnoredDifferences() async throws {
        let path = tempCassette("ignore")
        defer { try? FileManager.default.removeItem(atPath: path) }
        let config = MatchConfig(all: try IgnoreRules(["RequestTag"]))
        let recorded = try await TestSimulator.with(groups: 20) { sim in
            try await TestProxy.with(cassette: path, mode: .record, upstream: sim.url, configure: { $0.matchConfig = config }) { proxy in
                try await RawHTTPClient.request("GET", describe("first"), port: proxy.port)
            }
        }
        #expect(recorded.status == 200, "\(recorded.bodyString)")
        #expect(try CassetteReader(path: path).header.ignore == ["*": ["RequestTag"]])
        // Replay without naming the rule again: the header's rules apply; another tag still matches.
        try await TestProxy.with(cassette: path, mode: .replay) { proxy in
            let hit = try await RawHTTPClient.request("GET", describe("second"), port: proxy.port)
            #expect(hit.status == 200 && hit.body == recorded.body, "\(hit.bodyString)")
            // A miss on another field names it, and the ignored part that differed as well.
            let miss = try await RawHTTPClient.request("GET", describe("third", name: "web"), port: proxy.port)
            let message = json(miss)["Message"] as? String ?? ""
            #expect(miss.status == 404 && message.contains("SecurityGroupName: ∅ ≠ web"), "\(message)")
            #expect(message.contains("ignored parts (not compared): RequestTag: first ≠ third"), "\(message)")
        }
    }

    @Test func ignoringAtReplayTimeReKeysAnOldCassette() async throws {
        let path = tempCassette("rekey")
        defer { try? FileManager.default.removeItem(atPath: path) }
        let recorded = try await TestSimulator.with(groups: 20) { sim in
            try await TestProxy.with(cassette: path, mode: .record, upstream: sim.url) { proxy in
                try await RawHTTPClient.request("GET", describe("first"), port: proxy.port)
            }
        }
        try await TestProxy.with(cassette: path, mode: .replay) { proxy in
            let miss = try await RawHTTPClient.request("GET", describe("second"), port: proxy.port)
            #expect(miss.status == 404 && (json(miss)["Message"] as? String ?? "").contains("RequestTag: first ≠ second"))
        }
        try await TestProxy.with(
            cassette: path, mode: .replay, configure: { $0.matchConfig = MatchConfig(all: try! IgnoreRules(["param:RequestTag"])) }
        ) { proxy in
            let hit = try await RawHTTPClient.request("GET", describe("second"), port: proxy.port)
            #expect(hit.status == 200 && hit.body == recorded.body)
        }
    }

    /// An ACS3 client signs the Host it talks to: the proxy. The upstream sees its own Host.
    func acs3(proxyPort: Int, id: String, secret: String) -> [(String, String)] {
        var r = SignableRequest(
            method: "GET", rawPath: "/", query: QueryParameters([("RegionId", "cn-hangzhou")]),
            headers: [
                ("host", "127.0.0.1:\(proxyPort)"), ("x-acs-action", "DescribeSecurityGroups"),
                ("x-acs-version", "2014-05-26"), ("x-acs-date", "2026-01-01T00:00:00Z"),
                ("x-acs-signature-nonce", UUID().uuidString),
            ])
        ACS3Signer.sign(&r, accessKeyId: id, secret: secret)
        return r.headers.filter { $0.name != "host" }.map { ($0.name, $0.value) }
    }

    @Test func reverseModeWithoutResignWarnsInTheHeaderAndWithResignTheUpstreamAccepts() async throws {
        let plain = tempCassette("noresign"), resigned = tempCassette("resign")
        defer { for p in [plain, resigned] { try? FileManager.default.removeItem(atPath: p) } }
        try await TestSimulator.with(groups: 20, accessKeys: ["realAK": "realSecret"]) { sim in
            try await TestProxy.with(cassette: plain, mode: .record, upstream: sim.url) { proxy in
                let r = try await RawHTTPClient.request(
                    "GET", "/?RegionId=cn-hangzhou", port: proxy.port,
                    headers: acs3(proxyPort: proxy.port, id: "realAK", secret: "realSecret"))
                #expect(r.status == 400 && json(r)["Code"] as? String == "SignatureDoesNotMatch", "the upstream checks its own Host")
            }
            let warnings = try CassetteReader(path: plain).header.warnings ?? []
            #expect(warnings.count == 1 && warnings[0].contains("--resign"), "\(warnings)")
            try await TestProxy.with(
                cassette: resigned, mode: .record, upstream: sim.url,
                configure: { $0.resigner = Resigner(pair: "realAK:realSecret") }
            ) { proxy in
                // The client may even use a dummy key: the proxy signs for the upstream.
                let r = try await RawHTTPClient.request(
                    "GET", "/?RegionId=cn-hangzhou", port: proxy.port,
                    headers: acs3(proxyPort: proxy.port, id: "dummy", secret: "dummy"))
                #expect(r.status == 200, "\(r.bodyString)")
            }
        }
        #expect(try CassetteReader(path: resigned).header.warnings == nil)
        // And it replays offline for the client's own signature.
        try await TestProxy.with(cassette: resigned, mode: .replay) { proxy in
            let r = try await RawHTTPClient.request(
                "GET", "/?RegionId=cn-hangzhou", port: proxy.port,
                headers: acs3(proxyPort: proxy.port, id: "dummy", secret: "dummy"))
            #expect(r.status == 200, "\(r.bodyString)")
        }
        let findings = try SecretScanner.scan(path: resigned, secrets: [("secret", "realSecret")])
        #expect(findings.isEmpty, "\(findings)")
    }

    @Test func rpcThroughAResigningProxyGetsTheUpstreamKey() async throws {
        let path = tempCassette("rpcresign")
        defer { try? FileManager.default.removeItem(atPath: path) }
        try await TestSimulator.with(groups: 20, accessKeys: ["realAK": "realSecret"]) { sim in
            try await TestProxy.with(
                cassette: path, mode: .record, upstream: sim.url,
                configure: { $0.resigner = Resigner(pair: "realAK:realSecret") }
            ) { proxy in
                // signedRPC signs with LTAItestkey/testsecret, which the upstream does not know.
                let direct = try await RawHTTPClient.request("GET", describe("x"), port: sim.port)
                #expect(direct.status != 200)
                let r = try await RawHTTPClient.request("GET", describe("x"), port: proxy.port)
                #expect(r.status == 200, "\(r.bodyString)")
            }
        }
        let findings = try SecretScanner.scan(path: path, secrets: [("secret", "realSecret")])
        #expect(findings.isEmpty, "\(findings)")
    }
}

/// The flags through the real executable.
@Suite struct IgnoreAndResignCLITests {
    @Test func cassetteDiffShowsIgnoredPartsThatDiffered() async throws {
        let a = tempCassette("diffa"), b = tempCassette("diffb")
        defer { for p in [a, b] { try? FileManager.default.removeItem(atPath: p) } }
        try await TestSimulator.with(groups: 20) { sim in
            for (path, tag) in [(a, "one"), (b, "two")] {
                try await TestProxy.with(cassette: path, mode: .record, upstream: sim.url) { proxy in
                    let target = signedRPC([("RequestTag", tag)]).replacingOccurrences(
                        of: "DescribeSecurityGroupReferences", with: "DescribeSecurityGroups")
                    let r = try await RawHTTPClient.request("GET", target, port: proxy.port)
                    #expect(r.status == 200)
                }
            }
        }
        let plain = try FirstTenMinutesTests.run(["cassette", "diff", a, b])
        #expect(plain.status == 1 && plain.output.contains("- only in") && plain.output.contains("RequestTag=one"), "\(plain.output)")
        let ignoring = try FirstTenMinutesTests.run(["cassette", "diff", a, b, "--ignore", "RequestTag"])
        #expect(ignoring.status == 1, "an ignored difference is still a difference to report")
        #expect(ignoring.output.contains("ignored (not part of the match) but different: RequestTag: one ≠ two"), "\(ignoring.output)")
        #expect(!ignoring.output.contains("only in"), "\(ignoring.output)")
    }

    @Test func badRulesAndKeysAreRefusedNamingTheFlag() throws {
        let dir = try FirstTenMinutesTests.tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let cassette = dir + "/c.jsonl.gz"
        try FileManager.default.createSymbolicLink(atPath: dir + "/loop1", withDestinationPath: dir + "/loop2")
        try FileManager.default.createSymbolicLink(atPath: dir + "/loop2", withDestinationPath: dir + "/loop1")
        let cases: [([String], String)] = [
            (["--ignore", "cookie:x"], "--ignore"),
            (["--match-config", dir], "is a folder; give a JSON match config to --match-config"),
            (["--match-config", dir + "/none.json"], "No such file or directory; give a JSON match config"),
            (["--match-config", "/dev/null"], "/dev/null is not a regular file"),
            (["--match-config", dir + "/loop1"], "Too many levels of symbolic links"),
            (["--upstream", "http://127.0.0.1:9", "--resign", "nocolon"], "--resign must be ID:SECRET"),
            (["--resign", "a:b"], "add --upstream"),
            (["--upstream", "http://127.0.0.1:9", "--resign-env", "TAPEDECK_TEST_UNSET_VAR"], "is not set"),
            // Control bytes would ride into forwarded requests: refused at start-up, the value shown escaped.
            (["--upstream", "http://a\r\nX: y"], #"without spaces or control characters, a port in 1-65535), got "http://a\r\nX: y""#),
            (["--upstream", "http://127.0.0.1:9", "--resign", "AK\r\nX: 1:secret"], "printable ASCII without spaces"),
        ]
        for (extra, says) in cases {
            let r = try FirstTenMinutesTests.run(["proxy", "--cassette", cassette, "--port", "0"] + extra)
            #expect(r.status != 0 && r.output.contains(says), "\(extra): \(r.output)")
        }
    }

    @Test func enumOptionsListTheValidValues() throws {
        let mode = try FirstTenMinutesTests.run(["proxy", "--cassette", "x.jsonl.gz", "--mode", "bogus"])
        #expect(mode.status != 0 && mode.output.contains("'record', 'replay', 'auto' or 'passthrough'"), "\(mode.output)")
        let arrival = try FirstTenMinutesTests.run(["load", "--target", "http://127.0.0.1:1", "--arrival", "uniform"])
        #expect(arrival.status != 0 && arrival.output.contains("'constant' and 'poisson'"), "\(arrival.output)")
        // Shared server options (simulate and proxy alike): a bad log level is refused, not read as info.
        for command in [["simulate"], ["proxy", "--cassette", "x.jsonl.gz"]] {
            let level = try FirstTenMinutesTests.run(command + ["--port", "0", "--log-level", "loud"])
            #expect(level.status != 0 && level.output.contains("--log-level") && level.output.contains("warning"), "\(level.output)")
        }
    }

    @Test func loadVerifyAgainstAnotherDataSetNamesTheFlags() async throws {
        try await TestSimulator.with(groups: 40, seed: 3) { sim in
            let r = try FirstTenMinutesTests.run(["load", "--target", sim.url, "--synthetic", "--verify", "--duration", "1s"])
            #expect(r.status == 2 && r.output.contains("Pass --groups 40 --seed 3 to tapedeck load"), "\(r.output)")
        }
    }
}

/// An SDK tells a wrong secret from a broken signer by comparing the string to sign ECS echoes in its
/// `SignatureDoesNotMatch` with its own (aliyun-python-sdk-core then reports `InvalidAccessKeySecret`). Replayed,
/// the answer must echo the replayed request's string to sign, not the recorded one's (another nonce, another
/// timestamp), or the SDK reports another error offline than online.
@Suite struct WrongSecretReplayTests {
    static let marker = "server string to sign is:"

    func echoed(_ r: RawHTTPClient.Response) -> String {
        let message = json(r)["Message"] as? String ?? ""
        return message.range(of: Self.marker).map { String(message[$0.upperBound...]) } ?? ""
    }

    func stringToSign(_ target: String) throws -> String {
        let query = try QueryParameters.parse(String(target.dropFirst(2)))
        return AliyunRPCSigner.stringToSign(method: "GET", parameters: query)
    }

    @Test func aReplayedSignatureMismatchEchoesTheReplayedRequest() async throws {
        let path = tempCassette("wrongsecret")
        defer { try? FileManager.default.removeItem(atPath: path) }
        // signedRPC signs with "testsecret": the simulator knows LTAItestkey with another secret.
        try await TestSimulator.with(groups: 20, accessKeys: ["LTAItestkey": "theRealSecret"]) { sim in
            try await TestProxy.with(cassette: path, mode: .record, upstream: sim.url) { proxy in
                let target = signedRPC([("SecurityGroupId.1", "sg-x")])
                let r = try await RawHTTPClient.request("GET", target, port: proxy.port)
                #expect(r.status == 400 && json(r)["Code"] as? String == "SignatureDoesNotMatch", "\(r.bodyString)")
                #expect(!echoed(r).isEmpty, "\(r.bodyString)")
            }
        }
        try await TestProxy.with(cassette: path, mode: .replay, configure: { $0.onExhausted = .last }) { proxy in
            for _ in 0..<3 {  // each time another nonce and timestamp, through the fast lane and its shape cache
                let target = signedRPC([("SecurityGroupId.1", "sg-x")])
                let r = try await RawHTTPClient.request("GET", target, port: proxy.port)
                #expect(r.status == 400 && json(r)["Code"] as? String == "SignatureDoesNotMatch", "\(r.bodyString)")
                #expect(echoed(r) == (try stringToSign(target)), "\(r.bodyString)")
            }
        }
    }
}
