import CloudSigning
import CloudSim
import Foundation
import TapedeckHTTP
import TapedeckTesting
import Testing

@Suite struct SignatureEnforcementTests {
    func rpcTarget(secret: String) -> String {
        var p = QueryParameters([
            ("Action", "DescribeSecurityGroups"), ("RegionId", "cn-hangzhou"), ("Format", "JSON"),
            ("AccessKeyId", "ak"), ("SignatureNonce", UUID().uuidString), ("Timestamp", "2026-01-01T00:00:00Z"),
        ])
        AliyunRPCSigner.sign(method: "GET", parameters: &p, secret: secret)
        return "/?" + p.encoded
    }

    @Test func rpcSignaturesAreVerified() async throws {
        try await TestSimulator.with(groups: 5, accessKeys: ["ak": "right"]) { sim in
            #expect(try await RawHTTPClient.request("GET", rpcTarget(secret: "right"), port: sim.port).status == 200)
            let wrong = try await RawHTTPClient.request("GET", rpcTarget(secret: "wrong"), port: sim.port)
            #expect(wrong.status == 400)
            let body = try json(wrong)
            #expect(body["Code"] as? String == "SignatureDoesNotMatch")
            #expect((body["Message"] as? String)?.contains("server string to sign is:GET&%2F&") == true)
            let unsigned = try await RawHTTPClient.request("GET", "/?Action=DescribeSecurityGroups&RegionId=cn-hangzhou", port: sim.port)
            #expect(try unsigned.status == 400 && (json(unsigned)["Code"] as? String) == "MissingSignature")
        }
    }

    /// SDK-HMAC-SHA256, SDK-HMAC-SM3 and the derived V11-HMAC-SHA256, as huaweicloudsdkcore signs them.
    @Test(arguments: HuaweiSigner.Algorithm.allCases)
    func huaweiSignaturesAreVerified(algorithm: HuaweiSigner.Algorithm) async throws {
        try await TestSimulator.with(groups: 5, accessKeys: ["ak": "right"]) { sim in
            func signed(_ secret: String) -> [(String, String)] {
                var r = SignableRequest(
                    method: "GET", rawPath: "/v3/p/vpc/security-groups", query: .init(),
                    headers: [("Host", "127.0.0.1:\(sim.port)"), ("X-Sdk-Date", "20260101T000000Z")])
                let scope = algorithm == .derivedHMACSHA256 ? "20260101/cn-north-4/vpc" : nil
                HuaweiSigner.sign(&r, accessKeyId: "ak", secret: secret, algorithm: algorithm, scope: scope)
                return r.headers.filter { $0.name != "Host" }.map { ($0.name, $0.value) }
            }
            let ok = try await RawHTTPClient.request("GET", "/v3/p/vpc/security-groups", port: sim.port, headers: signed("right"))
            #expect(ok.status == 200, "\(ok.bodyString)")
            let wrong = try await RawHTTPClient.request("GET", "/v3/p/vpc/security-groups", port: sim.port, headers: signed("wrong"))
            #expect(try wrong.status == 401 && (json(wrong)["error_code"] as? String) == "APIGW.0301")
        }
    }

    @Test func anUnsupportedHuaweiAlgorithmIsNamed() async throws {
        try await TestSimulator.with(groups: 5, accessKeys: ["ak": "right"]) { sim in
            let headers = [
                ("X-Sdk-Date", "20260101T000000Z"),
                ("Authorization", "SDK-ECDSA-P256-SHA256 Access=ak, SignedHeaders=host;x-sdk-date, Signature=00"),
            ]
            let r = try await RawHTTPClient.request("GET", "/v3/p/vpc/security-groups", port: sim.port, headers: headers)
            #expect(r.status == 401)
            #expect(try json(r)["error_code"] as? String == "APIGW.0301")
            #expect((try json(r)["error_msg"] as? String ?? "").contains("SDK-ECDSA-P256-SHA256 is not supported"), "\(r.bodyString)")
        }
    }

    func acs3Headers(_ sim: TestSimulator, secret: String, algorithm: ACS3Signer.Algorithm) -> [(String, String)] {
        var r = SignableRequest(
            method: "GET", rawPath: "/", query: QueryParameters([("RegionId", "cn-hangzhou")]),
            headers: [
                ("host", "127.0.0.1:\(sim.port)"), ("x-acs-action", "DescribeSecurityGroups"),
                ("x-acs-version", "2014-05-26"), ("x-acs-date", "2026-01-01T00:00:00Z"),
                ("x-acs-signature-nonce", UUID().uuidString),
            ])
        ACS3Signer.sign(&r, accessKeyId: "ak", secret: secret, algorithm: algorithm)
        return r.headers.filter { $0.name != "host" }.map { ($0.name, $0.value) }
    }

    @Test(arguments: ACS3Signer.Algorithm.allCases)
    func acs3SignaturesAreVerifiedWithSHA256AndSM3(algorithm: ACS3Signer.Algorithm) async throws {
        try await TestSimulator.with(groups: 5, accessKeys: ["ak": "right"]) { sim in
            let ok = try await RawHTTPClient.request(
                "GET", "/?RegionId=cn-hangzhou", port: sim.port, headers: acs3Headers(sim, secret: "right", algorithm: algorithm))
            #expect(ok.status == 200, "\(ok.bodyString)")
            let wrong = try await RawHTTPClient.request(
                "GET", "/?RegionId=cn-hangzhou", port: sim.port, headers: acs3Headers(sim, secret: "wrong", algorithm: algorithm))
            #expect(wrong.status == 400)
            #expect(try json(wrong)["Code"] as? String == "SignatureDoesNotMatch")
            #expect(
                (try json(wrong)["Message"] as? String ?? "").contains(algorithm.rawValue + "\n"), "the string to sign names the algorithm")
        }
    }

    @Test func anUnsupportedAlgorithmIsNamed() async throws {
        try await TestSimulator.with(groups: 5, accessKeys: ["ak": "right"]) { sim in
            var headers = acs3Headers(sim, secret: "right", algorithm: .hmacSHA256)
            headers = headers.map {
                $0.0 == "Authorization" ? ($0.0, $0.1.replacingOccurrences(of: "ACS3-HMAC-SHA256", with: "ACS3-RSA-SHA256")) : $0
            }
            let r = try await RawHTTPClient.request("GET", "/?RegionId=cn-hangzhou", port: sim.port, headers: headers)
            #expect(r.status == 400)
            #expect(try json(r)["Code"] as? String == "InvalidSignatureMethod")
            #expect((try json(r)["Message"] as? String ?? "").contains("ACS3-RSA-SHA256"))
        }
    }
}
