/// Idle upstream connections by pool key (event loop and origin), as events and actions with no I/O.
/// `UpstreamClient` keeps one behind a lock and does what it answers. Tested without a socket.
///
/// A lease takes the most recently parked connection that is still usable (LIFO: the warmest one, and
/// stale ones age out at the bottom); every unusable one met on the way is handed back to be closed. A
/// release parks a reusable connection unless its key already holds `maxIdlePerKey`.
struct UpstreamPool<Key: Hashable, Connection> {
    enum Lease {
        /// Send on this pooled connection.
        case use(Connection)
        /// Nothing usable is parked: open a new connection.
        case connect
    }

    enum Release {
        case parked
        /// Not reusable, or the pool for its key is full.
        case close(Connection)
    }

    let maxIdlePerKey: Int
    private var idle: [Key: [Connection]] = [:]

    init(maxIdlePerKey: Int) { self.maxIdlePerKey = maxIdlePerKey }

    /// Idle connections parked now, over all keys.
    var idleCount: Int { idle.values.reduce(0) { $0 + $1.count } }

    /// - Parameter usable: whether a parked connection may carry a request now (open, nothing arrived while idle).
    /// - Returns: what to do, and the parked connections found unusable on the way (close them).
    mutating func lease(_ key: Key, usable: (Connection) -> Bool) -> (Lease, stale: [Connection]) {
        var stale: [Connection] = []
        // One hash of the key; the list is popped in place, not copied out and back.
        guard let i = idle.index(forKey: key) else { return (.connect, stale) }
        var found: Connection?
        while found == nil, let c = idle.values[i].popLast() {
            if usable(c) { found = c } else { stale.append(c) }
        }
        if idle.values[i].isEmpty { idle.remove(at: i) }
        return (found.map { .use($0) } ?? .connect, stale)
    }

    mutating func release(_ c: Connection, key: Key, reusable: Bool) -> Release {
        guard reusable, maxIdlePerKey > 0 else { return .close(c) }
        func park(_ list: inout [Connection]) -> Bool {
            guard list.count < maxIdlePerKey else { return false }
            list.append(c)
            return true
        }
        return park(&idle[key, default: []]) ? .parked : .close(c)  // one hash of the key
    }
}
