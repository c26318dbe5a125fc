import Cassette
import CloudSigning
import Foundation
import Matching
import Testing

/// Captured official-SDK requests (Tests/Fixtures/sdk-requests).
struct Captured: Decodable {
    var method: String
    var target: String
    var headers: [[String]]
    var body: String

    static func load(_ name: String) throws -> Captured {
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Fixtures/sdk-requests/\(name).json")
        return try JSONDecoder().decode(Captured.self, from: Data(contentsOf: url))
    }

    func signable(mutate: (inout SignableRequest) -> Void = { _ in }) throws -> SignableRequest {
        let parts = target.split(separator: "?", maxSplits: 1)
        let hs = headers.map { (name: $0[0], value: $0[1]) }
        let isForm = hs.contains { $0.name.lowercased() == "content-type" && $0.value.hasPrefix("application/x-www-form-urlencoded") }
        var r = SignableRequest(
            method: method, rawPath: String(parts[0]),
            query: parts.count > 1 ? try QueryParameters.parse(String(parts[1])) : QueryParameters(),
            form: isForm ? try QueryParameters.parse(body) : QueryParameters(), headers: hs, body: Array(body.utf8))
        mutate(&r)
        return r
    }
}

func key(_ r: SignableRequest) -> String { RequestKey(r, host: "ecs.aliyuncs.com", profile: MatchProfile.detect(r)).string }

func setParam(_ q: inout QueryParameters, _ name: String, _ value: String) {
    if let i = q.pairs.firstIndex(where: { $0.name == name }) { q.pairs[i].value = value }
}

func setHeader(_ r: inout SignableRequest, _ name: String, _ value: String) {
    if let i = r.headers.firstIndex(where: { $0.name.lowercased() == name.lowercased() }) { r.headers[i].value = value }
}

@Suite struct RequestKeyTests {
    @Test func rpcKeyIgnoresSignatureNonceTimestampAndOrder() throws {
        let c = try Captured.load("aliyun-core-DescribeSecurityGroupReferences-POST")
        let base = try c.signable()
        #expect(MatchProfile.detect(base) == .aliyunRPC)
        let fresh = try c.signable { r in
            setParam(&r.query, "Signature", "AnotherSignature=")
            setParam(&r.query, "SignatureNonce", "another-nonce")
            setParam(&r.query, "Timestamp", "2031-01-01T00:00:00Z")
            setParam(&r.query, "AccessKeyId", "SomeoneElse")
            r.query.pairs.reverse()
        }
        #expect(key(base) == key(fresh))
        #expect(!key(base).contains("Signature=") && !key(base).contains("SignatureNonce"))
        let other = try c.signable { r in setParam(&r.query, "SecurityGroupId.1", "sg-other") }
        #expect(key(base) != key(other))
        #expect(RequestKey(parsing: key(base)).differences(from: RequestKey(parsing: key(other))).count == 1)
    }

    @Test func getAndFormPostOfTheSameRPCCallShareAKey() throws {
        let get = try Captured.load("aliyun-core-DescribeSecurityGroupReferences-GET").signable()
        var post = get
        post.method = "POST"
        post.form = post.query
        post.query = QueryParameters()
        post.headers.append(("Content-Type", "application/x-www-form-urlencoded"))
        #expect(key(get) == key(post))
    }

    @Test func acs3KeyIgnoresVolatileHeadersButKeepsTheAction() throws {
        let c = try Captured.load("tea-ecs-DescribeSecurityGroupReferences-ACS3")
        let base = try c.signable()
        #expect(MatchProfile.detect(base) == .aliyunACS3)
        let fresh = try c.signable { r in
            for (h, v) in [
                ("x-acs-date", "2031-01-01T00:00:00Z"), ("x-acs-signature-nonce", "zzz"),
                ("Authorization", "ACS3-HMAC-SHA256 Credential=x,SignedHeaders=host,Signature=00"),
            ] {
                setHeader(&r, h, v)
            }
        }
        #expect(key(base) == key(fresh))
        #expect(key(base).contains("x-acs-action=DescribeSecurityGroupReferences"))
        let otherAction = try c.signable { r in setHeader(&r, "x-acs-action", "DescribeSecurityGroups") }
        #expect(key(base) != key(otherAction))
    }

    @Test func huaweiKeyIgnoresDateAndSignatureButNotTheBody() throws {
        let c = try Captured.load("huawei-vpc-v3-CreateSecurityGroupRule")
        let base = try c.signable()
        #expect(MatchProfile.detect(base) == .huawei)
        let fresh = try c.signable { r in
            setHeader(&r, "X-Sdk-Date", "20310101T000000Z")
            setHeader(&r, "Authorization", "SDK-HMAC-SHA256 Access=x, SignedHeaders=host, Signature=00")
            setHeader(&r, "User-Agent", "another/1.0")
        }
        #expect(key(base) == key(fresh))
        let otherBody = try c.signable { r in r.body = Array(r.body.reversed()) }
        #expect(key(base) != key(otherBody))
        // JSON bodies match by content, not formatting.
        let reformatted = try c.signable { r in
            let obj = try! JSONSerialization.jsonObject(with: Data(r.body))
            r.body = Array(try! JSONSerialization.data(withJSONObject: obj, options: [.prettyPrinted]))
        }
        #expect(key(base) == key(reformatted))
    }

    @Test func replayIndexAnswersInOrderAndHonoursExhaustion() {
        let entries = [
            CassetteReader.Entry(seq: 1, key: "a", offset: 0, length: 1), CassetteReader.Entry(seq: 2, key: "a", offset: 1, length: 1),
            CassetteReader.Entry(seq: 3, key: "GET h/x?p=1", offset: 2, length: 1),
        ]
        func seqs(_ policy: ExhaustedPolicy) -> [String] {
            let idx = ReplayIndex(entries: entries, policy: policy)
            return (0..<4).map { _ in
                switch idx.next(RequestKey(parsing: "a")) {
                case .hit(let e): return "\(e.seq)"
                case .exhausted: return "x"
                case .miss: return "m"
                }
            }
        }
        #expect(seqs(.error) == ["1", "2", "x", "x"])
        #expect(seqs(.last) == ["1", "2", "2", "2"])
        #expect(seqs(.cycle) == ["1", "2", "1", "2"])
        guard case .miss(let nearest) = ReplayIndex(entries: entries, policy: .error).next(RequestKey(parsing: "GET h/x?p=2")) else {
            Issue.record("expected a miss"); return
        }
        #expect(nearest?.string == "GET h/x?p=1")
        #expect(RequestKey(parsing: "GET h/x?p=1").differences(from: RequestKey(parsing: "GET h/x?p=2")) == ["p: 1 ≠ 2"])
    }
}

/// A key is built in one buffer and its parts are read back from offsets into it: built and parsed back,
/// every captured SDK request under its own profile and the generic one has the same parts.
@Suite struct RequestKeyPartsTests {
    @Test func aBuiltKeyAndTheSameKeyReadBackHaveTheSameParts() throws {
        let dir = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Fixtures/sdk-requests")
        let names = try FileManager.default.contentsOfDirectory(atPath: dir.path).filter { $0.hasSuffix(".json") }
        #expect(names.count >= 10)
        for name in names {
            let r = try Captured.load(String(name.dropLast(5))).signable()
            for profile in [MatchProfile.detect(r), .generic] {
                let built = RequestKey(r, host: "ECS.Example.COM:8443", profile: profile)
                let read = RequestKey(parsing: built.string)
                #expect(built == read, "\(name)")
                #expect(built.method == read.method && built.target == read.target && built.parameters == read.parameters, "\(name)")
                #expect(built.headers.map { "\($0.name)=\($0.value)" } == read.headers.map { "\($0.name)=\($0.value)" }, "\(name)")
                #expect(built.bodyHash == read.bodyHash, "\(name)")
                #expect(built.method == (profile.includeMethod ? r.method.uppercased() : nil), "\(name)")
                #expect(built.target == "ecs.example.com:8443" + r.rawPath, "\(name)")
                #expect(built.host == "ecs.example.com:8443", "\(name)")
            }
        }
    }

    /// Keys come from cassette files a user may have edited: any text reads back without a trap, its parts
    /// taken from where they are.
    @Test(arguments: ["", " ", "?", "GET", "GET ?", "GET  h/x?a=1", "é/ü?ä=1 h=v", "h/x?a=1  body=", "GET h/x?a=1 =v", "A B C"])
    func oddKeysReadBack(key: String) {
        let k = RequestKey(parsing: key)
        #expect(k.string == key)
        #expect(k.target.utf8.count + k.parameters.utf8.count + (k.method?.utf8.count ?? 0) <= key.utf8.count)
        _ = k.fields
        _ = k.host
    }

    /// A hand-edited key with a leading space reads its method as the old parser did.
    @Test func aLeadingSpaceBeforeTheMethodIsNotPartOfIt() {
        let k = RequestKey(parsing: " GET h/x?a=1")
        #expect(k.method == "GET" && k.target == "h/x" && k.parameters == "a=1")
    }

    /// A body with credentials (YAML here) is keyed as the cassette stores it: the key made from the live request
    /// equals the one made again from the stored record (not "stale"), and it is no hash of the plaintext.
    @Test func aBodyWithCredentialsIsKeyedAsStored() throws {
        let live = Array("user: bob\npassword: SEKRETyaml01\n".utf8)
        let stored = Array("user: bob\npassword: REDACTED\n".utf8)
        func key(_ body: [UInt8]) -> RequestKey {
            RequestKey(
                SignableRequest(method: "POST", rawPath: "/y", query: QueryParameters(), headers: [("Content-Type", "application/yaml")], body: body),
                host: "h", profile: .generic)
        }
        #expect(key(live) == key(stored))
        #expect(key(live).bodyHash != RequestKey.bodyHash(live), "the plaintext's hash is not the key's")
        #expect(key(Array("user: alice\n".utf8)) != key(Array("user: bob\n".utf8)))
    }

    @Test func queryAndFormAreMergedSortedAndTheEmptyCasesHaveNoQuestionMark() throws {
        let merged = SignableRequest(
            method: "post", rawPath: "/x", query: try QueryParameters.parse("b=2&Signature=s"), form: try QueryParameters.parse("a=1+2"),
            headers: [])
        let k = RequestKey(merged, host: "H", profile: MatchProfile(name: "t", volatileParameters: ["Signature"]))
        #expect(k.string == "POST h/x?a=1%202&b=2")
        #expect(k.method == "POST" && k.target == "h/x" && k.parameters == "a=1%202&b=2")
        let bare = RequestKey(
            SignableRequest(method: "GET", rawPath: "", query: try QueryParameters.parse("Signature=s"), headers: []), host: "h",
            profile: MatchProfile(name: "t", includeMethod: false, volatileParameters: ["Signature"]))
        #expect(bare.string == "h/" && bare.method == nil && bare.target == "h/" && bare.parameters == "")
        let read = RequestKey(parsing: "GET h/x x-acs-action=Describe%20It body=00ff")
        #expect(read.method == "GET" && read.target == "h/x" && read.parameters == "" && read.bodyHash == "00ff")
        #expect(read.headers.count == 1 && read.headers[0].value == "Describe It")
    }
}

@Suite struct VolatileTokenTests {
    /// Some clients send a fresh ClientToken on every call: it must not break replay.
    @Test(arguments: [MatchProfile.aliyunRPC, MatchProfile.aliyunACS3])
    func clientTokensAreVolatileInAlibabaProfiles(profile: MatchProfile) throws {
        func key(_ token: String) throws -> String {
            let r = SignableRequest(
                method: "GET", rawPath: "/",
                query: try QueryParameters.parse("Action=CreateSecurityGroup&RegionId=cn-hangzhou&ClientToken=\(token)"),
                headers: [("x-acs-action", "CreateSecurityGroup"), ("x-acs-version", "2014-05-26")])
            return RequestKey(r, host: "ecs.aliyuncs.com", profile: profile).string
        }
        #expect(try key("a1b2") == key("z9y8"))
        #expect(try !key("a1b2").contains("ClientToken"))
    }

    /// Secret-named parameters appear redacted in keys: a key never carries a secret, and a redacted recording matches.
    @Test func secretParametersAreComparedRedacted() throws {
        let r = SignableRequest(
            method: "GET", rawPath: "/login", query: try QueryParameters.parse("user=bob&password=hunter2"), headers: [])
        let k = RequestKey(r, host: "h", profile: .generic).string
        #expect(!k.contains("hunter2") && k.contains("password=REDACTED") && k.contains("user=bob"))
    }

    /// Cursors: a rewind starts every key again; a recording added in auto mode counts as answered, one
    /// added in record mode does not.
    @Test func replayIndexRewindsAndCountsRecordingsAddedThisSession() {
        let a = RequestKey(parsing: "a"), b = RequestKey(parsing: "b")
        let idx = ReplayIndex(entries: [CassetteReader.Entry(seq: 1, key: "a", offset: 0, length: 1)], policy: .error)
        func next(_ k: RequestKey) -> String {
            switch idx.next(k) {
            case .hit(let e): return "\(e.seq)"
            case .exhausted: return "x"
            case .miss: return "m"
            }
        }
        #expect([next(a), next(a)] == ["1", "x"])
        idx.appendUsed(CassetteReader.Entry(seq: 2, key: "a", offset: 1, length: 1))
        #expect(next(a) == "x", "the auto-mode recording was answered live")
        idx.append(CassetteReader.Entry(seq: 3, key: "b", offset: 2, length: 1))
        #expect([next(b), next(b)] == ["3", "x"])
        idx.rewind()
        #expect([next(a), next(a), next(a), next(b)] == ["1", "2", "x", "3"])
        #expect(idx.count == 3)
    }
}

/// A replay miss names the recorded key nearest the request. It is found by comparing key bytes in place;
/// on random keys it must be the key the field-by-field definition picks (fewest differing `fields`, ties
/// to the first in sorted order).
@Suite struct NearestKeyTests {
    static func reference(_ key: RequestKey, among keys: [String]) -> String? {
        let target = key.fields
        var best: (Int, String)? = nil
        for k in keys.sorted() where k != key.string {
            let f = RequestKey(parsing: k).fields
            let d = Set(target.keys).union(f.keys).filter { target[$0] != f[$0] }.count
            if best == nil || d < best!.0 { best = (d, k) }
        }
        return best?.1
    }

    @Test func agreesWithTheFieldByFieldDefinitionOnRandomKeys() {
        var rng = SystemRandomNumberGenerator()
        func pick<T>(_ xs: [T]) -> T { xs[Int.random(in: 0..<xs.count, using: &rng)] }
        func randomKey() -> String {
            var parts: [String] = []
            if Bool.random(using: &rng) { parts.append(pick(["GET", "POST", "PUT"])) }
            let names = ["Action", "RegionId", "SecurityGroupId.1", "SecurityGroupId.2", "Version", "a", "b%20c"]
            let chosen = names.filter { _ in Int.random(in: 0..<3, using: &rng) > 0 }.sorted { Array($0.utf8).lexicographicallyPrecedes(Array($1.utf8)) }
            let query = chosen.map { "\($0)=\(pick(["1", "2", "x", "", "sg-bp0"]))" }.joined(separator: "&")
            parts.append(pick(["ecs.aliyuncs.com/", "vpc.myhuaweicloud.com/v3/p/sg"]) + (query.isEmpty ? "" : "?" + query))
            if Bool.random(using: &rng) { parts.append("X-Project-Id=\(pick(["p1", "p2"]))") }
            if Bool.random(using: &rng) { parts.append("body=\(pick(["00ff", "abcd"]))") }
            return parts.joined(separator: " ")
        }
        for _ in 0..<200 {
            let recorded = Array(Set((0..<Int.random(in: 1...40, using: &rng)).map { _ in randomKey() }))
            let entries = recorded.enumerated().map { CassetteReader.Entry(seq: $0.offset + 1, key: $0.element, offset: $0.offset, length: 1) }
            let index = ReplayIndex(entries: entries, policy: .error)
            let request = RequestKey(parsing: randomKey())
            #expect(index.nearest(to: request)?.string == Self.reference(request, among: recorded), "\(request) among \(recorded)")
        }
    }
}
