import Cassette
import Foundation
import Matching
import Proxy
import TapedeckHTTP
import TapedeckTesting
import Testing

let repositoryRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

@Suite struct SampleCassetteTests {
    static var samples: [String] {
        let dir = repositoryRoot.appendingPathComponent("cassettes")
        return ((try? FileManager.default.contentsOfDirectory(atPath: dir.path)) ?? []).filter { $0.hasSuffix(".jsonl.gz") }.sorted()
    }

    @Test func theSamplesAreThere() {
        #expect(SampleCassetteTests.samples.contains("sdk-session.jsonl.gz") && SampleCassetteTests.samples.count >= 2)
    }

    /// cassettes/sdk-session.jsonl.gz was recorded from the three official SDKs through the proxy
    /// (scripts/conformance), curl-session.jsonl.gz from curl (scripts/record-samples): every stored
    /// request, sent again, gets its stored answer.
    @Test(arguments: SampleCassetteTests.samples)
    func checkedInSampleReplaysItsOwnRequests(name: String) async throws {
        let sample = repositoryRoot.appendingPathComponent("cassettes/\(name)").path
        let copy = tempCassette("sample")
        try FileManager.default.copyItem(atPath: sample, toPath: copy)
        defer { try? FileManager.default.removeItem(atPath: copy) }
        let exchanges = try CassetteReader(path: copy).allExchanges()
        #expect(exchanges.count >= 5)
        if name == "sdk-session.jsonl.gz" { #expect(Set(exchanges.map(\.profile)) == ["aliyun-rpc", "aliyun-acs3", "huawei"]) }
        try await TestProxy.with(cassette: copy, mode: .replay) { proxy in
            for e in exchanges {
                let url = e.request.url
                let target = String(url[url.range(of: "://")!.upperBound...].drop { $0 != "/" })
                let headers = e.request.headerPairs.filter { !["host", "content-length"].contains($0.0.lowercased()) }
                let r = try await RawHTTPClient.request(
                    e.request.method, target, port: proxy.port, headers: headers, body: e.request.body.bytes)
                #expect(r.status == e.response.status, "seq \(e.seq) \(e.key): \(r.bodyString)")
                #expect(r.body == e.response.body.bytes, "seq \(e.seq)")
            }
            #expect(proxy.engine.status.hits == exchanges.count && proxy.engine.status.misses == 0)
        }
    }

    @Test(arguments: SampleCassetteTests.samples)
    func storedKeysAreWhatTheMatcherComputes(name: String) throws {
        let sample = repositoryRoot.appendingPathComponent("cassettes/\(name)").path
        for e in try CassetteReader(path: sample).allExchanges() {
            #expect(RequestKey.of(recorded: e.request, profile: MatchProfile.named(e.profile)).key.string == e.key, "seq \(e.seq)")
        }
    }
}
