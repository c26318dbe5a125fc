import CloudSigning
import Foundation
import Matching
import Testing

@Suite struct IgnoreRulesTests {
    func rpc(_ extra: [(String, String)]) -> SignableRequest {
        SignableRequest(
            method: "GET", rawPath: "/", query: QueryParameters([("Action", "CreateSecurityGroup"), ("RegionId", "cn-hangzhou")] + extra),
            headers: [("Host", "ecs.aliyuncs.com"), ("x-trace", "abc")])
    }

    func huawei(_ body: String) -> SignableRequest {
        SignableRequest(
            method: "PUT", rawPath: "/v3/p/vpc/security-groups/g", query: .init(),
            headers: [("Host", "vpc"), ("Content-Type", "application/json")], body: Array(body.utf8))
    }

    func key(_ r: SignableRequest, _ specs: [String], profile: MatchProfile) throws -> String {
        RequestKey(r, host: "h", profile: MatchConfig(all: try IgnoreRules(specs)).applied(to: profile)).string
    }

    @Test func anIgnoredParameterLeavesTheKeyAndNothingElseDoes() throws {
        let a = rpc([("RequestTag", "1")]), b = rpc([("RequestTag", "2")])
        #expect(try key(a, [], profile: .aliyunRPC) != key(b, [], profile: .aliyunRPC))
        #expect(try key(a, ["RequestTag"], profile: .aliyunRPC) == key(b, ["RequestTag"], profile: .aliyunRPC))
        #expect(try key(a, ["param:RequestTag"], profile: .aliyunRPC) == key(b, ["param:RequestTag"], profile: .aliyunRPC))
        // A header rule does not touch parameters of that name.
        #expect(try key(a, ["header:RequestTag"], profile: .aliyunRPC) != key(b, ["header:RequestTag"], profile: .aliyunRPC))
    }

    @Test func jsonFieldsByNameAnywhereOrByPath() throws {
        let a = huawei(#"{"security_group":{"name":"web","description":"one"},"dry_run":false}"#)
        let b = huawei(#"{"security_group":{"name":"web","description":"two"},"dry_run":false}"#)
        let c = huawei(#"{"security_group":{"name":"db","description":"two"},"dry_run":false}"#)
        #expect(try key(a, [], profile: .huawei) != key(b, [], profile: .huawei))
        #expect(
            try key(a, ["json:security_group.description"], profile: .huawei)
                == key(b, ["json:security_group.description"], profile: .huawei))
        #expect(try key(a, ["description"], profile: .huawei) == key(b, ["description"], profile: .huawei))
        #expect(try key(b, ["description"], profile: .huawei) != key(c, ["description"], profile: .huawei), "other fields still count")
        // A path that does not exist changes nothing.
        #expect(try key(a, ["json:description.x"], profile: .huawei) != key(b, ["json:description.x"], profile: .huawei))
    }

    @Test func aKeyHeaderCanBeIgnored() throws {
        var a = SignableRequest(
            method: "POST", rawPath: "/", query: .init(),
            headers: [("x-acs-action", "DescribeSecurityGroups"), ("x-acs-version", "2014-05-26")])
        var b = a
        b.headers[1].value = "2016-01-01"
        #expect(try key(a, [], profile: .aliyunACS3) != key(b, [], profile: .aliyunACS3))
        #expect(try key(a, ["x-acs-version"], profile: .aliyunACS3) == key(b, ["X-Acs-Version"], profile: .aliyunACS3))
        a.headers.removeAll()
        _ = a
    }

    @Test func valuesShowWhatDifferedAndRedactSecrets() throws {
        let rules = try IgnoreRules(["RequestTag", "header:x-trace", "json:security_group.description", "Password"])
        let live = rpc([("RequestTag", "2"), ("Password", "hunter2")])
        let recorded = rpc([("RequestTag", "1"), ("Password", "REDACTED")])
        let d = IgnoreRules.differences(recorded: rules.values(in: recorded), live: rules.values(in: live))
        #expect(d == ["RequestTag: 1 ≠ 2"])
        let j = IgnoreRules.differences(
            recorded: rules.values(in: huawei(#"{"security_group":{"description":"one"}}"#)),
            live: rules.values(in: huawei(#"{"security_group":{"description":"two"}}"#)))
        #expect(j == ["json security_group.description: one ≠ two"])
    }

    @Test func badSpecsAreRefusedWithTheFix() {
        for bad in ["", "json:", "json:a..b", "cookie:x", "a b"] {
            #expect(throws: IgnoreRules.SpecError.self) { try IgnoreRules([bad]) }
        }
        let e = try? IgnoreRules(["cookie:x"])
        #expect(e == nil)
        do { _ = try IgnoreRules(["cookie:x"]) } catch { #expect(error.description.contains("param:NAME")) }
    }

    @Test func configFilesAreStrict() throws {
        let ok = try MatchConfig.parse(Data(#"{"ignore":["A"],"profiles":{"huawei":{"ignore":["json:x.y"]}}}"#.utf8), path: "m.json")
        #expect(ok.rules(for: "huawei").specs == ["A", "json:x.y"])
        #expect(ok.rules(for: "aliyun-rpc").specs == ["A"])
        #expect(MatchConfig(stored: ok.stored) == ok, "the cassette header form round-trips")
        for (text, says) in [
            (#"{"ignores":["A"]}"#, "unknown key \"ignores\""), (#"{"profiles":{"hauwei":{"ignore":[]}}}"#, "unknown profile \"hauwei\""),
            (#"{"ignore":"A"}"#, "list of strings"), ("ignore: [A]", "not JSON"), (#"{"ignore":["x:y"]}"#, "'x:' is not"),
        ] {
            do {
                _ = try MatchConfig.parse(Data(text.utf8), path: "m.json")
                Issue.record("accepted \(text)")
            } catch {
                #expect("\(error)".contains(says) && "\(error)".contains("m.json"), "\(error)")
            }
        }
    }
}
