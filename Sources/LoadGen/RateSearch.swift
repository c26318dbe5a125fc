/// `tapedeck load --find-max`: the highest open-loop rate at which a latency objective holds, the target
/// keeps up (≥ 95% of the requested rate achieved) and nothing fails. Doubles the rate while it holds,
/// then bisects between the last good and the first bad rate (at most four steps, stopping within 5%).
public struct RateSearch: Sendable {
    public var percentile: Double
    public var limitMicros: UInt64
    /// Never tries beyond this.
    public var ceiling: Double = 2_000_000

    public struct Step: Sendable {
        public var rate: Double
        public var achieved: Double
        public var latencyMicros: UInt64
        public var holds: Bool
    }

    public init(percentile: Double, limitMicros: UInt64) {
        self.percentile = percentile
        self.limitMicros = limitMicros
    }

    /// Whether one measured step meets the objective.
    public func holds(_ report: LoadReport, requested rate: Double) -> Bool {
        report.latency(percentile) <= limitMicros && report.throughput >= 0.95 * rate && report.errorCount == 0
    }

    /// Runs the search from `base.rate` (or 1000/s); `measure` runs one step (a real load run by default).
    public func run(
        _ base: LoadConfiguration, _ requests: [LoadRequest], measure: (@Sendable (LoadConfiguration) async throws -> LoadReport)? = nil,
        progress: (Step) -> Void = { _ in }
    ) async throws -> Double {
        let measure = measure ?? { try await LoadRunner(configuration: $0, requests: requests).run() }
        func step(_ r: Double) async throws -> Bool {
            var c = base
            c.rate = r
            let report = try await measure(c)
            let ok = holds(report, requested: r)
            progress(Step(rate: r, achieved: report.throughput, latencyMicros: report.latency(percentile), holds: ok))
            return ok
        }
        var good = 0.0, bad = 0.0, r = base.rate ?? 1000
        while bad == 0 {
            if try await step(r) { good = r; r *= 2 } else { bad = r }
            if r > ceiling { break }
        }
        if bad > 0 {
            for _ in 0..<4 where bad - good > max(50, good * 0.05) {
                let mid = ((good + bad) / 2).rounded()
                if try await step(mid) { good = mid } else { bad = mid }
            }
        }
        return good
    }
}
