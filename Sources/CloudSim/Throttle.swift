import Foundation
import Synchronization

/// A fixed one-second window shared by all connections: past `perSecond` requests in the current second,
/// requests get the clouds' throttling errors (`Throttling.User`, Huawei 429 `APIGW.0308`), as a rate-limited
/// account would. One atomic increment per request; off unless `--max-rps` is given.
public final class Throttle: Sendable {
    public let perSecond: Int
    private let window = Atomic<Int>(0)
    private let count = Atomic<Int>(0)

    private let clock: @Sendable () -> Int

    /// - Parameter clock: the current second (injectable for tests).
    public init(perSecond: Int, clock: @escaping @Sendable () -> Int = { Int(Date().timeIntervalSince1970) }) {
        self.perSecond = max(1, perSecond)
        self.clock = clock
    }

    public func admit() -> Bool {
        let now = clock()
        let w = window.load(ordering: .relaxed)
        if w != now, window.compareExchange(expected: w, desired: now, ordering: .relaxed).exchanged {
            count.store(0, ordering: .relaxed)
        }
        return count.add(1, ordering: .relaxed).newValue <= perSecond
    }
}
