import Synchronization

/// Counters the control API reports.
final class ProxyStats: Sendable {
    let hits = Atomic<Int>(0)
    let misses = Atomic<Int>(0)
    let recorded = Atomic<Int>(0)
    let forwarded = Atomic<Int>(0)
    let upstreamErrors = Atomic<Int>(0)
    /// Requests refused before forwarding because the cassette could not be written (disk full, removed).
    let refusedUnwritable = Atomic<Int>(0)
    /// Requests that reused an identical request's parse (`ParseCache`); not reported, for tests and profiles.
    let parsesReused = Atomic<Int>(0)
    /// Requests that reused the key of a request differing only in volatile values (`ParseCache.lookupShape`).
    let keysReused = Atomic<Int>(0)
    /// Requests the passthrough lane forwarded as bytes (`ProxyEngine.forwardPlain`); not reported.
    let forwardedAsBytes = Atomic<Int>(0)

    func reset() {
        hits.store(0, ordering: .relaxed)
        misses.store(0, ordering: .relaxed)
        recorded.store(0, ordering: .relaxed)
        forwarded.store(0, ordering: .relaxed)
        upstreamErrors.store(0, ordering: .relaxed)
        refusedUnwritable.store(0, ordering: .relaxed)
        parsesReused.store(0, ordering: .relaxed)
        keysReused.store(0, ordering: .relaxed)
        forwardedAsBytes.store(0, ordering: .relaxed)
    }
}
