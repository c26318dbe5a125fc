import CloudSigning
import Testing

@Suite struct SignerRoundTripTests {
    @Test func percentEncodingKeepsOnlyUnreserved() {
        #expect(PercentEncoding.encode("a b*c~d/e+f=é") == "a%20b%2Ac~d%2Fe%2Bf%3D%C3%A9")
        #expect(PercentEncoding.decode(Array("a+b%2Ac%7E".utf8)) == "a b*c~")
        #expect(PercentEncoding.decode(Array("%zz".utf8)) == nil)
        #expect(PercentEncoding.decode(Array("%FF%FE".utf8)) == nil, "invalid UTF-8 is refused")
    }

    @Test func queryParsingKeepsOrderAndDecodes() throws {
        let q = try QueryParameters.parse("b=2&a=1&c&d=x%20y")
        #expect(q.pairs.map(\.name) == ["b", "a", "c", "d"])
        #expect(q["c"] == "" && q["d"] == "x y")
        #expect(q.canonicalString() == "a=1&b=2&c=&d=x%20y")
        #expect(throws: QueryParameters.MalformedError.self) { try QueryParameters.parse("a=%E0%A4") }
    }

    @Test func rpcSignatureRoundTrip() throws {
        var p = try QueryParameters.parse(
            "Action=DescribeSecurityGroupReferences&AccessKeyId=ak&SignatureNonce=n1&Timestamp=2026-01-01T00%3A00%3A00Z")
        AliyunRPCSigner.sign(method: "GET", parameters: &p, secret: "s3cret")
        let req = SignableRequest(method: "GET", rawPath: "/", query: p, headers: [])
        #expect(AccessKeyStore(["ak": "s3cret"]).verify(req) == .success(.aliyunRPC))
        var tampered = req
        tampered.query.pairs[0].value = "DeleteSecurityGroup"
        guard case .failure(.mismatch(let sts)) = AccessKeyStore(["ak": "s3cret"]).verify(tampered) else {
            Issue.record("tampered request verified"); return
        }
        #expect(sts.hasPrefix("GET&%2F&AccessKeyId%3Dak%26Action%3DDeleteSecurityGroup"))
    }

    @Test func acs3AndHuaweiRoundTrip() throws {
        var a = SignableRequest(
            method: "POST", rawPath: "/", query: try .parse("RegionId=cn-hangzhou&SecurityGroupId.1=sg-a"),
            headers: [
                ("host", "127.0.0.1:1"), ("x-acs-action", "DescribeSecurityGroupReferences"),
                ("x-acs-date", "2026-01-01T00:00:00Z"), ("x-acs-signature-nonce", "n"),
            ])
        ACS3Signer.sign(&a, accessKeyId: "ak", secret: "sk")
        #expect(AccessKeyStore(["ak": "sk"]).verify(a) == .success(.aliyunACS3))
        var h = SignableRequest(
            method: "GET", rawPath: "/v3/p/vpc/security-groups/x", query: .init(),
            headers: [("Host", "127.0.0.1:1"), ("X-Sdk-Date", "20260101T000000Z"), ("Content-Type", "application/json")])
        HuaweiSigner.sign(&h, accessKeyId: "ak", secret: "sk")
        #expect(AccessKeyStore(["ak": "sk"]).verify(h) == .success(.huawei))
        h.headers[0].value = "evil.example:1"
        #expect(AccessKeyStore(["ak": "sk"]).verify(h) != .success(.huawei), "the host header is signed")
    }

    @Test func volatileFieldsNameTheSignatureFields() {
        #expect(SignatureScheme.aliyunRPC.volatileParameters.isSuperset(of: ["Signature", "SignatureNonce", "Timestamp"]))
        #expect(SignatureScheme.aliyunACS3.volatileHeaders.isSuperset(of: ["authorization", "x-acs-date", "x-acs-signature-nonce"]))
        #expect(SignatureScheme.huawei.volatileHeaders.isSuperset(of: ["authorization", "x-sdk-date"]))
    }
}
