import Cassette
import CloudSigning
import Foundation
import Matching
@testable import Proxy
import Testing

/// The recorder's decisions without a socket: replay order, exhaustion policies and every failure.
@Suite struct RecorderTests {
    func request(
        _ query: String, upstream: UpstreamTarget? = UpstreamTarget(url: "http://127.0.0.1:9")
    ) throws -> Recorder.Request {
        let signable = SignableRequest(method: "GET", rawPath: "/", query: try QueryParameters.parse(query), headers: [])
        let key = RequestKey(signable, host: "ecs.aliyuncs.com", profile: .aliyunRPC)
        return .init(key: key, signable: signable, profile: .aliyunRPC, upstream: upstream, uri: "/?" + query)
    }

    /// A cassette with `Action=A` recorded twice and `Action=B` once.
    func session(_ policy: ExhaustedPolicy) throws -> (CassetteSession, String) {
        let path = tempCassette("recorder")
        let w = try CassetteWriter(path: path)
        for (action, body) in [("A", "a1"), ("A", "a2"), ("B", "b1")] {
            let r = try request("Action=\(action)")
            let req = Exchange.Request(method: "GET", url: "http://ecs.aliyuncs.com/?Action=\(action)", headers: [], body: .empty)
            try w.append(
                Exchange(
                    seq: 0, key: try #require(r.key).string, profile: "aliyun-rpc", request: req,
                    response: .init(status: 200, headers: [], body: Body(encoding: .text, data: body)),
                    timing: .init(started_at: "2026-01-01T00:00:00.000Z", duration_ms: 1)))
        }
        w.close()
        return (try CassetteSession(path: path, policy: policy, writable: false), path)
    }

    func seqs(_ policy: ExhaustedPolicy, _ n: Int) throws -> [String] {
        let (s, path) = try session(policy)
        defer { try? FileManager.default.removeItem(atPath: path) }
        let recorder = Recorder(session: s)
        return try (0..<n).map { _ in
            switch recorder.decide(try request("Action=A"), mode: .replay) {
            case .replay(let e): return "\(e.seq)"
            case .fail(let f): return f.code
            case .forward: return "forward"
            }
        }
    }

    @Test func repeatedRequestsReplayInRecordedOrderThenFollowThePolicy() throws {
        #expect(try seqs(.error, 4) == ["1", "2", "Tapedeck.ExchangesExhausted", "Tapedeck.ExchangesExhausted"])
        #expect(try seqs(.last, 4) == ["1", "2", "2", "2"])
        #expect(try seqs(.cycle, 5) == ["1", "2", "1", "2", "1"])
    }

    @Test func aMissInReplayFailsNamingTheNearestRecording() throws {
        let (s, path) = try session(.error)
        defer { try? FileManager.default.removeItem(atPath: path) }
        guard case .fail(let f) = Recorder(session: s).decide(try request("Action=C"), mode: .replay),
            case .noMatch(let cassette, _, let nearest, let differences, _) = f
        else {
            Issue.record("expected a miss"); return
        }
        #expect(cassette == path && nearest != nil && differences == ["Action: A ≠ C"] || differences == ["Action: B ≠ C"])
        #expect(f.status == .notFound && f.message.contains("nearest recorded") && f.recommend == "tapedeck cassette ls \(path)")
    }

    @Test func autoForwardsWhatIsNotRecordedAndRecordIgnoresTheCassette() throws {
        let (s, path) = try session(.error)
        defer { try? FileManager.default.removeItem(atPath: path) }
        let recorder = Recorder(session: s)
        #expect(recorder.decide(try request("Action=C"), mode: .auto) == .forward(record: true))
        if case .replay(let e) = recorder.decide(try request("Action=B"), mode: .auto) {
            #expect(e.seq == 3)
        } else {
            Issue.record("B is recorded")
        }
        #expect(recorder.decide(try request("Action=B"), mode: .auto) == .forward(record: true), "used up in auto: recorded anew")
        #expect(recorder.decide(try request("Action=A"), mode: .record) == .forward(record: true))
        #expect(recorder.decide(try request("Action=A"), mode: .passthrough) == .forward(record: false))
        var unkeyed = try request("Action=A")
        unkeyed.key = nil  // passthrough does not key requests
        #expect(recorder.decide(unkeyed, mode: .passthrough) == .forward(record: false))
        guard case .hit(let first) = s.replay.next(try #require(try request("Action=A").key)) else {
            Issue.record("A is recorded"); return
        }
        #expect(first.seq == 1, "record and passthrough used no recording")
        #expect(recorder.decide(try request("Action=C", upstream: nil), mode: .record) == .fail(.noUpstream(uri: "/?Action=C")))
        guard case .fail(.loopRefused) = Recorder(session: s, isSelf: { _ in true }).decide(try request("Action=C"), mode: .record) else {
            Issue.record("forwarding to itself must be refused"); return
        }
    }

    @Test func everyFailureOwnsADistinctCodeAndAnErrorStatus() {
        let all: [ProxyFailure] = [
            .badRequest("x"), .noMatch(cassette: "c", key: "k", nearest: nil, differences: [], ignoredDifferences: []),
            .exhausted(cassette: "c", key: "k", recorded: 1), .cassetteUnreadable("x"), .noUpstream(uri: "/"), .loopRefused(target: "t"),
            .resignFailed("x"), .cassetteUnwritable("x"), .recordFailed("x"), .upstreamTLS("x"), .upstreamTimeout("x"),
            .upstreamUnavailable("x"), .requestTimeout("x"), .proxyError("x"), .requestTooLarge(status: .payloadTooLarge, message: "x"),
            .badConnect("x"), .noCA("x"), .certificateError("x"),
        ]
        #expect(Set(all.map(\.code)).count == all.count)
        for f in all {
            #expect(f.status.code >= 400 && f.code.hasPrefix("Tapedeck.") && f.message.hasPrefix("tapedeck: "), "\(f)")
        }
    }

    @Test func anAppendAfterCloseIsRefusedNotAReopen() throws {
        let path = tempCassette("closed")
        defer { try? FileManager.default.removeItem(atPath: path) }
        let s = try CassetteSession(path: path, policy: .error)
        s.close()
        let e = Exchange(
            seq: 0, key: "k", profile: "generic", request: .init(method: "GET", url: "http://h/", headers: [], body: .empty),
            response: .init(status: 200, headers: [], body: .empty), timing: .init(started_at: "2026-01-01T00:00:00.000Z", duration_ms: 1))
        #expect(throws: CassetteError.self) { try s.append(e) }
        #expect(throws: CassetteError.self) { try s.prepareForRecording() }
        #expect(!FileManager.default.fileExists(atPath: path), "nothing was created after close")
    }

    @Test func aRetiredSessionTakesItsInFlightExchangesThenRefuses() throws {
        let path = tempCassette("retired")
        defer { try? FileManager.default.removeItem(atPath: path) }
        let s = try CassetteSession(path: path, policy: .error)
        let e = Exchange(
            seq: 0, key: "k", profile: "generic", request: .init(method: "GET", url: "http://h/", headers: [], body: .empty),
            response: .init(status: 200, headers: [], body: .empty), timing: .init(started_at: "2026-01-01T00:00:00.000Z", duration_ms: 1))
        try s.prepareForRecording()  // an exchange in flight
        s.retire()  // the control API switched cassettes
        #expect(throws: CassetteError.self) { try s.prepareForRecording() }
        _ = try s.append(e)  // the one in flight still lands here
        #expect(throws: CassetteError.self) { try s.append(e) }
        #expect(try CassetteReader(path: path).entries.count == 1)
    }
}
