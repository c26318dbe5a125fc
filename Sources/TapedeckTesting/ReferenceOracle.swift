import CloudModel

// Brute-force oracles for the reverse reference index: what tests compare the index against.

/// Ground truth for every handle in one pass over all rules.
public func referrerMapByScan(_ snap: GraphSnapshot) -> [UInt32: Set<UInt32>] {
    var out: [UInt32: Set<UInt32>] = [:]
    for h in 0..<UInt32(snap.handleCount) {
        guard let g = snap.group(h) else { continue }
        for r in g.rules { if let t = r.referencedGroup, t != h { out[t, default: []].insert(h) } }
    }
    return out
}

/// Ground truth by brute force: the distinct groups (other than `target`) whose rules reference `target`.
public func referrersByScan(_ snap: GraphSnapshot, _ target: UInt32) -> Set<UInt32> {
    var out = Set<UInt32>()
    for h in 0..<UInt32(snap.handleCount) {
        guard let g = snap.group(h), h != target else { continue }
        if g.rules.contains(where: { $0.referencedGroup == target }) { out.insert(h) }
    }
    return out
}
