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

    @Test func huaweiResignedVerifies() throws {
        var r = SignableRequest(
            method: "GET", rawPath: "/v3/p/vpc/security-groups", query: .init(),
            headers: [("Host", "127.0.0.1:8081"), ("X-Sdk-Date", "20260101T000000Z")])
        HuaweiSigner.sign(&r, accessKeyId: "clientAK", secret: "x")
        #expect(Resigner.signsHost(r))
        try Resigner(pair: "realAK:realSecret")!.resign(&r, host: "vpc.cn-north-4.myhuaweicloud.com")
        guard case .success(.huawei) = keys.verify(r) else { Issue.record("\(keys.verify(r))"); return }
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
