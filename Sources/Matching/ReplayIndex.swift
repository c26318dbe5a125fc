import Cassette
import Synchronization

/// What replay does when a request has been answered as often as it was recorded.
public enum ExhaustedPolicy: String, Sendable, CaseIterable {
    /// Fail like any unmatched request (so a test calling more often than recorded fails).
    case error
    /// Keep answering with the last recorded answer.
    case last
    /// Start again from the first recorded answer.
    case cycle
}

/// Key → recorded exchanges in order, with a cursor per key: repeated identical requests get their
/// answers in recorded order. Safe to use from many connections.
public final class ReplayIndex: Sendable {
    public enum Outcome: Sendable {
        case hit(CassetteReader.Entry)
        /// No recorded exchange has this key; `nearest` is the closest recorded key, if any.
        case miss(nearest: RequestKey?)
        /// Recorded, but every recording has been used.
        case exhausted(recorded: Int)
    }

    private struct State {
        var byKey: [String: Recorded] = [:]
        var count = 0
    }
    private let state = Mutex(State())

    /// One key's recordings in order, and how many times the key has been answered (its cursor, kept
    /// here so a lookup hashes the key once). Most keys have one recording, held inline: a million
    /// distinct keys cost no array each (that was a third of opening a large cassette).
    struct Recorded: Sendable {
        private var head: CassetteReader.Entry?
        private var rest: [CassetteReader.Entry] = []
        var used = 0

        init() {}

        var count: Int { head == nil ? 0 : 1 + rest.count }

        mutating func append(_ e: CassetteReader.Entry) {
            if head == nil { head = e } else { rest.append(e) }
        }

        subscript(i: Int) -> CassetteReader.Entry { i == 0 ? head! : rest[i - 1] }
        var first: CassetteReader.Entry? { head }
    }
    public let policy: ExhaustedPolicy

    public init(entries: [CassetteReader.Entry], policy: ExhaustedPolicy) {
        var s = State()
        s.byKey.reserveCapacity(entries.count)
        for e in entries { s.byKey[e.key, default: Recorded()].append(e) }
        s.count = entries.count
        state.withLock { $0 = s }
        self.policy = policy
    }

    public var count: Int { state.withLock { $0.count } }

    /// Adds an exchange recorded during this session, as already answered once (auto mode).
    public func appendUsed(_ entry: CassetteReader.Entry) {
        state.withLock { s in
            var recorded = s.byKey.removeValue(forKey: entry.key) ?? Recorded()
            recorded.append(entry)
            recorded.used = recorded.count
            s.byKey[entry.key] = recorded
            s.count += 1
        }
    }

    /// Adds an exchange recorded during this session, not yet answered (record mode): a later switch to
    /// replay answers it.
    public func append(_ entry: CassetteReader.Entry) {
        state.withLock { s in
            s.byKey[entry.key, default: Recorded()].append(entry)
            s.count += 1
        }
    }

    /// The next recorded exchange for `key`. A miss names the nearest recorded key unless `findNearest` is
    /// false (then its `nearest` is nil: finding it reads every key, which a caller may do elsewhere).
    public func next(_ key: RequestKey, findNearest: Bool = true) -> Outcome {
        let policy = self.policy
        let outcome = state.withLock { s -> Outcome? in
            guard let index = s.byKey.index(forKey: key.string) else { return nil }
            let i = s.byKey.values[index].used
            s.byKey.values[index].used = i + 1  // in place, by index: no second hash
            let list = s.byKey.values[index]
            if i < list.count { return .hit(list[i]) }
            switch policy {
            case .error: return .exhausted(recorded: list.count)
            case .last: return .hit(list[list.count - 1])
            case .cycle: return .hit(list[i % list.count])
            }
        }
        return outcome ?? .miss(nearest: findNearest ? nearest(to: key) : nil)
    }

    /// Forgets how often each key has been answered.
    public func rewind() {
        state.withLock { s in
            for i in s.byKey.indices where s.byKey.values[i].used != 0 { s.byKey.values[i].used = 0 }
        }
    }

    /// The first recording of `key`, if any.
    public func first(_ key: RequestKey) -> CassetteReader.Entry? { state.withLock { $0.byKey[key.string]?.first } }

    /// Every distinct recorded key.
    public var keys: [String] { state.withLock { Array($0.byKey.keys) } }

    /// The recorded key with the fewest differing fields (ties: the first in sorted order). Each recorded
    /// key is compared in place (`KeyLayout`), stopping once it differs more than the best so far. The keys
    /// are copied out first, so other event loops keep replaying meanwhile (the pass is memory-bound: about
    /// 0.45 s at a million keys, where parsing every key into `fields` took 13 s).
    public func nearest(to key: RequestKey) -> RequestKey? {
        let candidates = keys
        var own = key.string
        let found = own.withUTF8 { a -> String? in
            var mine = KeyLayout(), theirs = KeyLayout()
            mine.parse(a)
            var best: (distance: Int, key: String)? = nil
            for k in candidates {
                let d = KeyLayout.distance(mine, a, to: k, &theirs, limit: best?.distance ?? Int.max)
                if d == Int.max { continue }  // the request's own key
                if let b = best, d > b.distance || (d == b.distance && !(k < b.key)) { continue }
                best = (d, k)
            }
            return best?.key
        }
        return found.map { RequestKey(parsing: $0) }
    }
}
