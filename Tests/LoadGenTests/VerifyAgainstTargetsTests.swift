import Cassette
import CloudSim
import Foundation
import LoadGen
import NIOCore
import Proxy
import TapedeckHTTP
import TapedeckTesting
import Testing

/// `--verify` against the targets users point it at: a simulator with another data set, a live simulator
/// for a cassette, a replaying proxy that runs out.
@Suite(.serialized) struct VerifyAgainstTargetsTests {
    func configuration(_ url: String, duration: TimeAmount = .milliseconds(600)) -> LoadConfiguration {
        var conf = LoadConfiguration(target: LoadTarget(url: url)!)
        conf.connections = 2
        conf.duration = duration
        conf.verify = true
        return conf
    }

    @Test func theSimulatorTellsItsDataSetAndAMismatchNamesTheFlag() async throws {
        try await TestSimulator.with(groups: 300, seed: 7) { sim in
            let id = await TargetProbe.identify(configuration(sim.url))
            #expect(id == TargetProbe.Identity(role: "simulator", groups: 300, seed: 7))
            do {
                _ = try TargetProbe.check(id, source: .synthetic(groups: 1000, seed: 1), target: sim.url)
                Issue.record("a mismatched data set was accepted")
            } catch {
                #expect("\(error)".contains("Pass --groups 300 --seed 7 to tapedeck load"), "\(error)")
            }
            let notes = try TargetProbe.check(id, source: .synthetic(groups: 300, seed: 7), target: sim.url)
            #expect(notes.count == 1 && notes[0].contains("same data set"))
        }
    }

    @Test func aNonTapedeckTargetIsUnknownNotAnError() async throws {
        let id = try await ScriptedUpstream.with(answer: { _ in Array("HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n".utf8) }) {
            port in
            await TargetProbe.identify(configuration("http://127.0.0.1:\(port)"))
        }
        #expect(id == nil)
        let notes = try TargetProbe.check(nil, source: .synthetic(groups: 1, seed: 1), target: "x")
        #expect(notes.first?.contains("did not say") == true)
    }

    /// Records a few queries through a proxy; returns the cassette path.
    func recordCassette(_ sim: TestSimulator) async throws -> String {
        let path = tempCassetteForLoad("verify")
        try await TestProxy.with(cassette: path, mode: .record, upstream: sim.url) { proxy in
            for i in 0..<3 {
                let id = sim.simulator.aliyun.store.generatedID(of: UInt32(i))
                let r = try await RawHTTPClient.request(
                    "GET", "/?Action=DescribeSecurityGroupReferences&RegionId=cn-hangzhou&SecurityGroupId.1=\(id)", port: proxy.port)
                #expect(r.status == 200)
            }
        }
        return path
    }

    @Test func aCassetteVerifiedAgainstALiveSimulatorComparesStableFields() async throws {
        try await TestSimulator.with(groups: 50) { sim in
            let path = try await recordCassette(sim)
            defer { try? FileManager.default.removeItem(atPath: path) }
            var conf = configuration(sim.url)
            let (requests, _) = try CassetteSource.requests(path: path, target: conf.target)
            conf.notes = try TargetProbe.check(await TargetProbe.identify(conf), source: .cassette(path: path), target: sim.url)
            let report = try await LoadRunner(configuration: conf, requests: requests).run()
            #expect(report.result.verifyChecked > 0)
            #expect(report.result.verifyMismatched.isEmpty, "request ids differ on every call and are not compared: \(report.text)")
            #expect(report.text.contains("live simulator") && report.text.contains("--mode replay"))
        }
    }

    @Test func stableComparisonStillCatchesRealDifferences() async throws {
        let recorded = Array(#"{"RequestId":"A","SecurityGroupReferences":{"SecurityGroupReference":[{"SecurityGroupId":"sg-1"}]}}"#.utf8)
        let sameButId = #"{"RequestId":"B","SecurityGroupReferences":{"SecurityGroupReference":[{"SecurityGroupId":"sg-1"}]}}"#
        let other = #"{"RequestId":"B","SecurityGroupReferences":{"SecurityGroupReference":[{"SecurityGroupId":"sg-2"}]}}"#
        let report = try await ScriptedUpstream.with(answer: { raw in
            let body = raw.contains("GET /other") ? other : sameButId
            return Array("HTTP/1.1 200 OK\r\nContent-Length: \(body.utf8.count)\r\n\r\n\(body)".utf8)
        }) { port in
            let conf = configuration("http://127.0.0.1:\(port)", duration: .milliseconds(300))
            let requests = ["/same", "/other"].map {
                LoadRequest(
                    bytes: ByteBuffer(string: "GET \($0) HTTP/1.1\r\nHost: x\r\n\r\n"),
                    expectation: .exact(status: 200, body: recorded), kind: $0)
            }
            return try await LoadRunner(configuration: conf, requests: requests).run()
        }
        #expect(report.result.verifyMismatched["body"] ?? 0 > 0)
        #expect(
            report.result.mismatchSamples.allSatisfy {
                $0.contains("/other") && $0.contains("SecurityGroupReferences.SecurityGroupReference[0].SecurityGroupId")
            },
            "\(report.result.mismatchSamples)")
    }

    @Test func aReplayingProxyThatRunsOutIsExplainedOnce() async throws {
        try await TestSimulator.with(groups: 50) { sim in
            let path = try await recordCassette(sim)
            defer { try? FileManager.default.removeItem(atPath: path) }
            try await TestProxy.with(cassette: path, mode: .replay) { proxy in
                var conf = configuration(proxy.url)
                let id = await TargetProbe.identify(conf)
                #expect(id?.role == "proxy" && id?.mode == "replay" && id?.onExhausted == "error")
                conf.notes = try TargetProbe.check(id, source: .cassette(path: path), target: proxy.url)
                let (requests, _) = try CassetteSource.requests(path: path, target: conf.target)
                let report = try await LoadRunner(configuration: conf, requests: requests).run()
                let exhausted = report.result.tapedeckCodes["Tapedeck.ExchangesExhausted"] ?? 0
                #expect(exhausted > 10, "\(report.result.tapedeckCodes)")
                let lines = report.text.split(separator: "\n").filter { $0.contains("ExchangesExhausted") }
                #expect(lines.count == 2, "one note before, one explanation after: \(lines)")
                #expect(report.text.contains("--on-exhausted cycle"))
                let html = HTMLReport.render(title: "t", reports: [("run", report)])
                #expect(
                    html.contains("answered Tapedeck.ExchangesExhausted") && html.contains("<td>open loop") == false
                        && html.contains("closed loop"))
            }
        }
    }

    @Test func htmlAxesHaveRoundTicksAndUnits() {
        #expect(
            HTMLReport.niceStep(10) == 2 && HTMLReport.niceStep(7.3) == 2 && HTMLReport.niceStep(0.9) == 0.2
                && HTMLReport.niceStep(1234) == 500)
        #expect(
            HTMLReport.latencyUnit(900).name == "µs" && HTMLReport.latencyUnit(5_000).name == "ms"
                && HTMLReport.latencyUnit(20_000_000).name == "s")
    }
}

func tempCassetteForLoad(_ name: String) -> String {
    FileManager.default.temporaryDirectory.appendingPathComponent("tapedeck-load-\(UUID().uuidString)-\(name).jsonl.gz").path
}

/// A cassette recorded from concurrent clients is written in completion order, so a later record may have
/// started first: offsets count from the earliest start and are never negative.
@Test func cassetteOffsetsCountFromTheEarliestStart() throws {
    let path = tempCassetteForLoad("offsets")
    defer { try? FileManager.default.removeItem(atPath: path) }
    let writer = try CassetteWriter(path: path)
    for (i, started) in ["2026-01-01T00:00:00.500Z", "2026-01-01T00:00:00.000Z", "2026-01-01T00:00:00.200Z"].enumerated() {
        try writer.append(
            Exchange(
                seq: 0, key: "k\(i)", profile: "generic",
                request: .init(method: "GET", url: "http://127.0.0.1:9/\(i)", headers: [], body: .empty),
                response: .init(status: 200, headers: [], body: .empty),
                timing: .init(started_at: started, duration_ms: 1)))
    }
    writer.close()
    let (requests, offsets) = try CassetteSource.requests(path: path, target: LoadTarget(url: "http://127.0.0.1:9")!)
    #expect(requests.count == 3)
    #expect(offsets.map { ($0 * 1000).rounded() } == [500, 0, 200])
}
