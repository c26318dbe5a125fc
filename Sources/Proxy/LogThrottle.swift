import NIOCore
import Synchronization

/// Log lines by reason, at most one per reason per `interval`: a reason's first occurrence is logged, the
/// repeats within the interval are counted, and the next line says how many were not logged. On a full disk
/// every request is refused, and with the upstream down every request fails: one line per request buried the
/// log (13,725 `upstream failed` lines in 2 s of a load run against a stopped upstream).
final class LogThrottle: Sendable {
    private let interval: TimeAmount
    private let byReason = Mutex<[String: (loggedAt: NIODeadline, unlogged: Int)]>([:])

    init(interval: TimeAmount = .seconds(10)) { self.interval = interval }

    /// Whether to log `reason` now, with the number of its occurrences not logged since its last line.
    func shouldLog(_ reason: String, now: NIODeadline = .now()) -> (log: Bool, unlogged: Int) {
        byReason.withLock { r in
            if let seen = r[reason], now - seen.loggedAt < interval {
                r[reason]!.unlogged += 1
                return (false, 0)
            }
            if r.count > 64 { r.removeAll() }  // reasons carry paths and ports: a bound, not a log of them
            let unlogged = r[reason]?.unlogged ?? 0
            r[reason] = (now, 0)
            return (true, unlogged)
        }
    }

    func reset() { byReason.withLock { $0.removeAll() } }
}
