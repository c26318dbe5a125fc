import CloudSigning
import CloudSim
import Foundation
import TapedeckTesting
import Testing

@Suite struct SignatureEnforcementTests {
    func rpcTarget(secret: String) -> String {
        var p = QueryParameters([("Action", "DescribeSecurityGroups"), ("RegionId", "cn-hangzhou"), ("Format", "JSON"),
                                 ("AccessKeyId", "ak"), ("SignatureNonce", UUID().uuidString), ("Timestamp", "2026-01-01T00:00:00Z")])
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

    @Test func huaweiSignaturesAreVerified() async throws {
        try await TestSimulator.with(groups: 5, accessKeys: ["ak": "right"]) { sim in
            func signed(_ secret: String) -> [(String, String)] {
                var r = SignableRequest(method: "GET", rawPath: "/v3/p/vpc/security-groups", query: .init(),
                                        headers: [("Host", "127.0.0.1:\(sim.port)"), ("X-Sdk-Date", "20260101T000000Z")])
                HuaweiSigner.sign(&r, accessKeyId: "ak", secret: secret)
                return r.headers.filter { $0.name != "Host" }.map { ($0.name, $0.value) }
            }
            #expect(try await RawHTTPClient.request("GET", "/v3/p/vpc/security-groups", port: sim.port, headers: signed("right")).status == 200)
            let wrong = try await RawHTTPClient.request("GET", "/v3/p/vpc/security-groups", port: sim.port, headers: signed("wrong"))
            #expect(try wrong.status == 401 && (json(wrong)["error_code"] as? String) == "APIGW.0301")
        }
    }
}
