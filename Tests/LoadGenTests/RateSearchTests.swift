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

/// What the report says when nothing completed or the schedule was not met names the cause the run saw: a target
/// that answered only errors is no "is it listening?", and refused connections are no capacity question.
@Suite struct ReportHintTests {
    static func report(_ edit: (inout WorkerResult) -> Void, rate: Double? = nil) -> LoadReport {
        var conf = LoadConfiguration(target: LoadTarget(url: "http://127.0.0.1:1")!)
        conf.rate = rate
        var r = WorkerResult()
        edit(&r)
        return LoadReport(configuration: conf, result: r, seconds: 1)
    }

    @Test func nothingCompletedSaysWhatTheRunSaw() {
        #expect(Self.report { $0.statuses = [503: 10]; $0.errors = ["http-5xx": 10] }.nothingCompletedHint.contains("only with errors (503 ×10)"))
        #expect(Self.report { $0.errors = ["protocol": 3] }.nothingCompletedHint.contains("could not be read"))
        #expect(Self.report { $0.errors = ["closed": 3] }.nothingCompletedHint.contains("closed every connection"))
        #expect(Self.report { $0.errors = ["timeout": 2] }.nothingCompletedHint.contains("did not answer in time"))
        // Stopped by Ctrl-C with requests waiting: no timeout happened, and the hint does not say one did.
        var stopped = Self.report { $0.unanswered = 4 }
        #expect(stopped.nothingCompletedHint.contains("did not answer in time"))
        stopped.stoppedEarly = true
        #expect(stopped.nothingCompletedHint.contains("the run was stopped (a signal) before the target answered any request (4 still waiting)"))
        #expect(Self.report { $0.errors = ["tls": 1] }.nothingCompletedHint.contains("--ca FILE"))
        #expect(Self.report { $0.connectFailures = 40 }.nothingCompletedHint.contains("is it listening"))
        #expect(Self.report { $0.connectFailures = 40; $0.errorDetails["connect"] = "connection refused" }.nothingCompletedHint
            .contains("no connection could be made (connection refused)"))
        #expect(Self.report { $0.errors = ["io": 5]; $0.errorDetails["io"] = "connection reset by peer" }.nothingCompletedHint
            .contains("broke the connections (connection reset by peer)"))
    }

    /// A latency column with no sample says "-", not a latency of 0 µs; one with samples gives numbers.
    @Test func anEmptyLatencyColumnSaysSoNotZero() {
        let none = Self.report { $0.unanswered = 4 }.text
        #expect(none.contains("    p50                  -             -\n"), "\(none)")
        #expect(none.contains("    max                  -             -\n"), "\(none)")
        let some = Self.report { r in
            _ = r.corrected.record(250)
            r.completed = 1
        }.text
        #expect(some.contains("    max                250             -\n"), "\(some)")
    }

    @Test func anUnmetScheduleNamesRefusedConnections() throws {
        let refused = try #require(Self.report({ $0.scheduled = 3000; $0.sent = 1000; $0.neverSent = 2000; $0.connectFailures = 168 }, rate: 500).scheduleWarning)
        #expect(refused.contains("connections to the target failed") && refused.contains("168 attempts"), "\(refused)")
        let slow = try #require(Self.report({ $0.scheduled = 3000; $0.sent = 1000; $0.neverSent = 2000 }, rate: 500).scheduleWarning)
        #expect(slow.contains("could not keep up"), "\(slow)")
        #expect(Self.report({ $0.completed = 1 }, rate: 0.5).text.contains("0.5 req/s requested"))
    }
}
