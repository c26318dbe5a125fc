import CloudSigning
import Foundation
import Testing

@Suite struct ResignerTests {
    let keys = AccessKeyStore(["realAK": "realSecret"])

    /// The key id goes into `Authorization` headers and query strings as it is: only printable ASCII.
    @Test func aKeyIdWithControlBytesOrSpacesIsRefused() {
        for bad in ["AK\r\nX-Injected: 1:secret", "A K:secret", "AK\u{0}:secret", "AK\u{7F}:secret", "AKé:secret"] {
            #expect(Resigner(pair: bad) == nil, "\(bad.debugDescription)")
        }
        #expect(Resigner(pair: "LTAI5t-ok_1:se cret:with:colons")?.accessKeyId == "LTAI5t-ok_1")
    }

    @Test(arguments: ACS3Signer.Algorithm.allCases)
    func acs3SignedForTheProxyVerifiesForTheUpstreamAfterResigning(algorithm: ACS3Signer.Algorithm) throws {
        var r = SignableRequest(
            method: "POST", rawPath: "/", query: QueryParameters([("RegionId", "cn-hangzhou")]),
            headers: [
                ("host", "127.0.0.1:8081"), ("x-acs-action", "DescribeSecurityGroups"),
                ("x-acs-version", "2014-05-26"), ("x-acs-date", "2026-01-01T00:00:00Z"),
            ])
        ACS3Signer.sign(&r, accessKeyId: "clientAK", secret: "clientSecret", algorithm: algorithm)
        #expect(Resigner.signsHost(r))
        try Resigner(accessKeyId: "realAK", secret: "realSecret").resign(&r, host: "ecs.aliyuncs.com")
        #expect(r.header("host") == "ecs.aliyuncs.com")
        #expect(r.headers.filter { $0.name.lowercased() == "authorization" }.count == 1)
        #expect(r.header("Authorization")?.hasPrefix(algorithm.rawValue + " Credential=realAK,") == true)
        guard case .success(.aliyunACS3) = keys.verify(r) else { Issue.record("\(keys.verify(r))"); return }
    }

    /// Each of huaweicloudsdkcore's HMAC algorithms is re-signed with itself (the derived one keeps its scope).
    @Test(arguments: HuaweiSigner.Algorithm.allCases)
    func huaweiResignedVerifies(algorithm: HuaweiSigner.Algorithm) throws {
        var r = SignableRequest(
            method: "GET", rawPath: "/v3/p/vpc/security-groups", query: .init(),
            headers: [("Host", "127.0.0.1:8081"), ("X-Sdk-Date", "20260101T000000Z")])
        let scope = algorithm == .derivedHMACSHA256 ? "20260101/cn-north-4/vpc" : nil
        HuaweiSigner.sign(&r, accessKeyId: "clientAK", secret: "x", algorithm: algorithm, scope: scope)
        #expect(Resigner.signsHost(r))
        #expect(AccessKeyStore(["realAK": "x"]).verify(r) == .failure(.unknownAccessKey("clientAK")))
        try Resigner(pair: "realAK:realSecret")!.resign(&r, host: "vpc.cn-north-4.myhuaweicloud.com")
        let auth = try #require(r.header("Authorization"))
        #expect(auth.hasPrefix(algorithm.rawValue + (scope.map { " Credential=realAK/\($0)," } ?? " Access=realAK,")), "\(auth)")
        guard case .success(.huawei) = keys.verify(r) else { Issue.record("\(keys.verify(r))"); return }
        #expect(AccessKeyStore(["realAK": "otherSecret"]).verify(r) != .success(.huawei))
    }

    @Test func anUnsupportedHuaweiAlgorithmIsNamed() {
        var r = SignableRequest(
            method: "GET", rawPath: "/v3/p/vpc/security-groups", query: .init(),
            headers: [
                ("Host", "a"), ("X-Sdk-Date", "20260101T000000Z"),
                ("Authorization", "SDK-ECDSA-P256-SHA256 Access=a, SignedHeaders=host, Signature=x"),
            ])
        #expect(SignatureScheme.detect(r) == .huawei)
        #expect(keys.verify(r) == .failure(.unsupportedAlgorithm("SDK-ECDSA-P256-SHA256")))
        #expect(throws: Resigner.Failure.unsupportedAlgorithm("SDK-ECDSA-P256-SHA256")) { try Resigner(pair: "a:b")!.resign(&r, host: "b") }
    }

    /// aliyun-python-sdk-core's `CommonRequest` with `RegionId` in its body also puts `RegionId` in the query
    /// and signs the two merged (once); re-signing does the same, and the verifier takes it.
    @Test func rpcParameterInQueryAndFormIsSignedOnce() throws {
        var merged = QueryParameters([
            ("Action", "DescribeSecurityGroupReferences"), ("AccessKeyId", "clientAK"), ("SignatureNonce", "n"), ("Timestamp", "t"),
            ("RegionId", "cn-hangzhou"), ("SecurityGroupId.1", "sg-1"),
        ])
        AliyunRPCSigner.sign(method: "POST", parameters: &merged, secret: "clientSecret")
        let query = QueryParameters(merged.pairs.filter { $0.name != "SecurityGroupId.1" })
        var r = SignableRequest(
            method: "POST", rawPath: "/", query: query, form: QueryParameters([("RegionId", "cn-hangzhou"), ("SecurityGroupId.1", "sg-1")]),
            headers: [("Host", "127.0.0.1:8081"), ("Content-Type", "application/x-www-form-urlencoded")])
        guard case .success(.aliyunRPC) = AccessKeyStore(["clientAK": "clientSecret"]).verify(r) else {
            Issue.record("\(AccessKeyStore(["clientAK": "clientSecret"]).verify(r))")
            return
        }
        try Resigner(pair: "realAK:realSecret")!.resign(&r, host: "ecs.aliyuncs.com")
        guard case .success(.aliyunRPC) = keys.verify(r) else { Issue.record("\(keys.verify(r))"); return }
        // The resigned signature is over the merged map: RegionId once.
        var once = AliyunRPCSigner.signedParameters(r)
        once.pairs.removeAll { $0.name == "Signature" }
        #expect(once.pairs.filter { $0.name == "RegionId" }.count == 1)
        #expect(r.query["Signature"] == AliyunRPCSigner.signature(method: "POST", parameters: once, secret: "realSecret"))
    }

    @Test func rpcGetsTheNewKeyIdAndSignature() throws {
        var p = QueryParameters([("Action", "DescribeRegions"), ("AccessKeyId", "clientAK"), ("SignatureNonce", "n"), ("Timestamp", "t")])
        AliyunRPCSigner.sign(method: "GET", parameters: &p, secret: "clientSecret")
        var r = SignableRequest(method: "GET", rawPath: "/", query: p, headers: [("Host", "127.0.0.1:8081")])
        #expect(!Resigner.signsHost(r), "RPC v1 does not sign Host")
        try Resigner(pair: "realAK:realSecret")!.resign(&r, host: "ecs.aliyuncs.com")
        #expect(r.query["AccessKeyId"] == "realAK")
        guard case .success(.aliyunRPC) = keys.verify(r) else { Issue.record("\(keys.verify(r))"); return }
    }

    @Test func theSecretIsNeverPrinted() {
        let r = Resigner(pair: "realAK:realSecret")!
        var dumped = ""
        dump(r, to: &dumped)
        #expect(!"\(r)".contains("realSecret") && !String(reflecting: r).contains("realSecret") && !dumped.contains("realSecret"))
        #expect(Resigner(pair: "nocolon") == nil && Resigner(pair: ":x") == nil && Resigner(pair: "x:") == nil)
    }

    @Test func anUnsupportedAlgorithmIsNamed() {
        var r = SignableRequest(
            method: "GET", rawPath: "/", query: .init(),
            headers: [("Host", "a"), ("Authorization", "ACS3-RSA-SHA256 Credential=a,SignedHeaders=host,Signature=x")])
        #expect(throws: Resigner.Failure.unsupportedAlgorithm("ACS3-RSA-SHA256")) { try Resigner(pair: "a:b")!.resign(&r, host: "b") }
    }
}
