@testable import LoadGen
import Testing

/// `--find-max` without a network: a fake target that keeps up to 5000 req/s with p99 = 1 ms, beyond that
/// falls behind (achieves 5000/s, p99 = 50 ms).
@Suite struct RateSearchTests {
    static func fake(_ conf: LoadConfiguration) -> LoadReport {
        let rate = conf.rate ?? 0
        var r = WorkerResult()
        let achieved = min(rate, 5000)
        r.completed = Int(achieved)
        let latency: UInt64 = rate <= 5000 ? 1000 : 50_000
        _ = r.corrected.record(latency)
        _ = r.uncorrected.record(latency)
        return LoadReport(configuration: conf, result: r, seconds: 1)
    }

    @Test func findsTheCapacityWithinFivePercent() async throws {
        var base = LoadConfiguration(target: LoadTarget(url: "http://127.0.0.1:1")!)
        base.rate = 1000
        var steps: [Double] = []
        let best = try await RateSearch(percentile: 99, limitMicros: 5000).run(base, [], measure: { Self.fake($0) }) {
            steps.append($0.rate)
        }
        #expect(best <= 5000 && best >= 4750, "\(best) after \(steps)")
        #expect(Array(steps.prefix(4)) == [1000, 2000, 4000, 8000], "doubles first, then bisects")
    }

    @Test func errorsBreakTheObjective() {
        var r = WorkerResult()
        r.completed = 1000
        r.errors["timeout"] = 1
        _ = r.corrected.record(10)
        var conf = LoadConfiguration(target: LoadTarget(url: "http://127.0.0.1:1")!)
        conf.rate = 1000
        #expect(
            !RateSearch(percentile: 99, limitMicros: 5000).holds(LoadReport(configuration: conf, result: r, seconds: 1), requested: 1000))
    }
}
