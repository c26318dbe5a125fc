import Cassette
import Foundation
import Matching
import Proxy
import TapedeckTesting
import Testing

let repositoryRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

@Suite struct SampleCassetteTests {
    /// cassettes/sdk-session.jsonl.gz was recorded from the three official SDKs through the proxy
    /// (scripts/conformance): every stored request, sent again, gets its stored answer.
    @Test func checkedInSDKSessionReplaysItsOwnRequests() async throws {
        let sample = repositoryRoot.appendingPathComponent("cassettes/sdk-session.jsonl.gz").path
        let copy = tempCassette("sample")
        try FileManager.default.copyItem(atPath: sample, toPath: copy)
        defer { try? FileManager.default.removeItem(atPath: copy) }
        let exchanges = try CassetteReader(path: copy).allExchanges()
        #expect(exchanges.count >= 20)
        #expect(Set(exchanges.map(\.profile)) == ["aliyun-rpc", "aliyun-acs3", "huawei"])
        try await TestProxy.with(cassette: copy, mode: .replay) { proxy in
            for e in exchanges {
                let url = e.request.url
                let target = String(url[url.range(of: "://")!.upperBound...].drop { $0 != "/" })
                let headers = e.request.headerPairs.filter { !["host", "content-length"].contains($0.0.lowercased()) }
                let r = try await RawHTTPClient.request(e.request.method, target, port: proxy.port, headers: headers, body: e.request.body.bytes)
                #expect(r.status == e.response.status, "seq \(e.seq) \(e.key): \(r.bodyString)")
                #expect(r.body == e.response.body.bytes, "seq \(e.seq)")
            }
            #expect(proxy.engine.status.hits == exchanges.count && proxy.engine.status.misses == 0)
        }
    }

    @Test func storedKeysAreWhatTheMatcherComputes() throws {
        let sample = repositoryRoot.appendingPathComponent("cassettes/sdk-session.jsonl.gz").path
        for e in try CassetteReader(path: sample).allExchanges() {
            #expect(RequestKey.make(recorded: e.request, profile: MatchProfile.named(e.profile)).key == e.key, "seq \(e.seq)")
        }
    }
}
