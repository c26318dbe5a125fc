import CloudSigning
import Foundation
import Testing

/// A request captured from an official SDK (see scripts/capture_sdk_requests.py).
struct CapturedRequest: Decodable {
    var sdk: String
    var access_key_id: String
    var access_key_secret: String
    var method: String
    var target: String
    var headers: [[String]]
    var body: String

    static func all() throws -> [(String, CapturedRequest)] {
        let dir = fixturesDirectory.appendingPathComponent("sdk-requests")
        let names = try FileManager.default.contentsOfDirectory(atPath: dir.path).filter { $0.hasSuffix(".json") }.sorted()
        return try names.map {
            ($0, try JSONDecoder().decode(CapturedRequest.self, from: Data(contentsOf: dir.appendingPathComponent($0))))
        }
    }

    var signable: SignableRequest {
        get throws {
            let parts = target.split(separator: "?", maxSplits: 1)
            let query = parts.count > 1 ? try QueryParameters.parse(String(parts[1])) : QueryParameters()
            let hs = headers.map { (name: $0[0], value: $0[1]) }
            let isForm = hs.contains { $0.name.lowercased() == "content-type" && $0.value.hasPrefix("application/x-www-form-urlencoded") }
            let form = isForm ? try QueryParameters.parse(body) : QueryParameters()
            return SignableRequest(method: method, rawPath: String(parts[0]), query: query, form: form, headers: hs, body: Array(body.utf8))
        }
    }
}

@Suite struct SDKFixtureTests {
    @Test func everyCapturedSDKRequestVerifiesWithItsSecret() throws {
        let fixtures = try CapturedRequest.all()
        #expect(fixtures.count >= 10)
        for (name, f) in fixtures {
            let keys = AccessKeyStore([f.access_key_id: f.access_key_secret])
            let result = keys.verify(try f.signable)
            guard case .success = result else {
                Issue.record("\(name): \(result)")
                continue
            }
        }
    }

    @Test func everyCapturedSDKRequestFailsWithAnotherSecret() throws {
        for (name, f) in try CapturedRequest.all() {
            let keys = AccessKeyStore([f.access_key_id: f.access_key_secret + "x"])
            guard case .failure(.mismatch) = keys.verify(try f.signable) else {
                Issue.record("\(name) verified with a wrong secret")
                continue
            }
        }
    }

    @Test func schemesAreDetectedPerSDK() throws {
        for (name, f) in try CapturedRequest.all() {
            let scheme = SignatureScheme.detect(try f.signable)
            if name.hasPrefix("huawei") {
                #expect(scheme == .huawei, "\(name)")
            } else if name.hasPrefix("aliyun-core") || name.hasSuffix("-v2.json") {
                #expect(scheme == .aliyunRPC, "\(name)")
            } else {
                #expect(scheme == .aliyunACS3, "\(name)")
            }
        }
    }

    @Test func unknownKeyIsReportedAsSuch() throws {
        let (_, f) = try #require(try CapturedRequest.all().first)
        #expect(AccessKeyStore(["someoneElse": "s"]).verify(try f.signable) == .failure(.unknownAccessKey(f.access_key_id)))
    }
}
