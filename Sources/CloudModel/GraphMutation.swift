/// A write in progress against a `GraphSnapshot`: copies each touched chunk once, keeps the reverse
/// index in step with every rule change, and builds the next snapshot.
public struct GraphMutation {
    let base: GraphSnapshot
    private var chunks: [GraphSnapshot.Chunk]
    /// Chunks copied so far, by chunk index: (groups, refs).
    private var dirty: [Int: ([GroupRecord?], [[RefEntry]])] = [:]
    private var handleCount: Int
    private var liveCount: Int
    private var partitions: [String]
    private var partitionCounts: [Int]
    private(set) var changed = false

    init(base: GraphSnapshot) {
        self.base = base
        self.chunks = base.chunks
        self.handleCount = base.handleCount
        self.liveCount = base.liveCount
        self.partitions = base.partitions
        self.partitionCounts = base.partitionCounts
    }

    /// The state as of this mutation so far.
    public func group(_ handle: UInt32) -> GroupRecord? {
        let h = Int(handle)
        guard h < handleCount else { return nil }
        let c = h >> GraphSnapshot.chunkBits, i = h & (GraphSnapshot.chunkSize - 1)
        if let d = dirty[c] { return d.0[i] }
        return chunks[c].groups[i]
    }

    public func referrers(of handle: UInt32) -> [RefEntry] {
        let h = Int(handle)
        guard h < handleCount else { return [] }
        let c = h >> GraphSnapshot.chunkBits, i = h & (GraphSnapshot.chunkSize - 1)
        if let d = dirty[c] { return d.1[i] }
        return Array(chunks[c].refs(i))
    }

    public mutating func partition(named name: String) -> UInt16 {
        if let i = partitions.firstIndex(of: name) { return UInt16(i) }
        partitions.append(name)
        partitionCounts.append(0)
        changed = true
        return UInt16(partitions.count - 1)
    }

    private mutating func edit<T>(_ handle: UInt32, _ body: (inout GroupRecord?, inout [RefEntry]) -> T) -> T {
        let h = Int(handle)
        let c = h >> GraphSnapshot.chunkBits, i = h & (GraphSnapshot.chunkSize - 1)
        changed = true
        if c == chunks.count {
            chunks.append(GraphSnapshot.Chunk(groups: [], refs: []))
            dirty[c] = (Array(repeating: nil, count: GraphSnapshot.chunkSize), Array(repeating: [], count: GraphSnapshot.chunkSize))
        } else if dirty[c] == nil {
            dirty[c] = (chunks[c].groups, chunks[c].refLists())
        }
        var d = dirty.removeValue(forKey: c)!  // unique, so editing in place does not copy
        defer { dirty[c] = d }
        return body(&d.0[i], &d.1[i])
    }

    /// Changes a group's name and/or description (nil: unchanged); false when the group does not exist.
    @discardableResult
    public mutating func update(_ handle: UInt32, name: String?, description: String?, now: Int64) -> Bool {
        guard Int(handle) < handleCount else { return false }
        return edit(handle) { g, _ in
            guard g != nil else { return false }
            if let name { g!.name = name }
            if let description { g!.description = description }
            g!.updatedAt = now
            return true
        }
    }

    /// Adds a group (its `rules` are indexed) and returns its handle.
    @discardableResult
    public mutating func insert(_ record: GroupRecord) -> UInt32 {
        let handle = UInt32(handleCount)
        handleCount += 1
        liveCount += 1
        partitionCounts[Int(record.partition)] += 1
        var r = record
        r.handle = handle
        r.nextRuleSerial = max(r.nextRuleSerial, UInt32(r.rules.count))
        let rules = r.rules
        edit(handle) { g, _ in g = r }
        for rule in rules { if let t = rule.referencedGroup { addRef(target: t, from: handle) } }
        return handle
    }

    /// Removes a group and its rules' index entries. The caller checks it is not referenced.
    public mutating func remove(_ handle: UInt32) {
        guard let g = group(handle) else { return }
        for rule in g.rules { if let t = rule.referencedGroup { removeRef(target: t, from: handle) } }
        edit(handle) { g, refs in
            g = nil; refs = []
        }
        liveCount -= 1
        partitionCounts[Int(g.partition)] -= 1
    }

    /// Appends a rule to `handle` and indexes it; returns its serial.
    @discardableResult
    public mutating func addRule(_ rule: RuleRecord, to handle: UInt32, now: Int64) -> UInt32 {
        var serial: UInt32 = 0
        edit(handle) { g, _ in
            serial = g!.nextRuleSerial
            g!.nextRuleSerial += 1
            var r = rule
            r.serial = serial
            g!.rules.append(r)
            g!.updatedAt = now
        }
        if let t = rule.referencedGroup { addRef(target: t, from: handle) }
        return serial
    }

    /// Removes the rule with `serial` from `handle`; returns it, or nil if there was none.
    @discardableResult
    public mutating func removeRule(serial: UInt32, from handle: UInt32, now: Int64) -> RuleRecord? {
        guard let g = group(handle), let idx = g.rules.firstIndex(where: { $0.serial == serial }) else { return nil }
        let removed = g.rules[idx]
        edit(handle) { g, _ in
            g!.rules.remove(at: idx); g!.updatedAt = now
        }
        if let t = removed.referencedGroup { removeRef(target: t, from: handle) }
        return removed
    }

    private mutating func addRef(target: UInt32, from source: UInt32) {
        guard Int(target) < handleCount else { return }
        edit(target) { _, refs in
            if let i = refs.lastIndex(where: { $0.group == source }) {
                refs[i].count += 1
            } else {
                refs.append(RefEntry(group: source, count: 1))
            }
        }
    }

    private mutating func removeRef(target: UInt32, from source: UInt32) {
        guard Int(target) < handleCount else { return }
        edit(target) { _, refs in
            guard let i = refs.lastIndex(where: { $0.group == source }) else { return }
            if refs[i].count > 1 { refs[i].count -= 1 } else { refs.remove(at: i) }
        }
    }

    func build() -> GraphSnapshot {
        var out = chunks
        for (c, d) in dirty { out[c] = GraphSnapshot.Chunk(groups: d.0, refs: d.1) }
        return GraphSnapshot(
            chunks: out, handleCount: handleCount, liveCount: liveCount, partitions: partitions, partitionCounts: partitionCounts,
            customIDs: base.customIDs, version: base.version &+ 1)
    }
}

/// Builds a snapshot in one pass from complete records, in handle order: the fast path for synthetic data
/// and fixtures, with no per-group copy-on-write and no second copy of the records.
///
/// The reverse index is collected as flat (target, source) pairs and counting-sorted by target at the end,
/// straight into each chunk's flat entries: no array per referenced group (a million small arrays, grown
/// one append at a time, were most of the start-up's allocator time).
public struct SnapshotBuilder {
    private var chunks: [[GroupRecord?]] = []
    private var current: [GroupRecord?] = []
    /// Every group reference so far: `target << 32 | source`, sources in increasing order.
    private var pairs: [UInt64] = []
    private var partitions: [String]
    private var partitionCounts: [Int]
    private var customIDs: [String: UInt32] = [:]
    public private(set) var count = 0

    public init(partitions: [String], expectedCount: Int = 0) {
        self.partitions = partitions
        self.partitionCounts = Array(repeating: 0, count: partitions.count)
        pairs.reserveCapacity(expectedCount * 2)
        current.reserveCapacity(GraphSnapshot.chunkSize)
    }

    public mutating func partition(named name: String) -> UInt16 {
        if let i = partitions.firstIndex(of: name) { return UInt16(i) }
        partitions.append(name)
        partitionCounts.append(0)
        return UInt16(partitions.count - 1)
    }

    /// Appends a group; its handle must be `count`. Rules may reference any handle, earlier or later.
    public mutating func append(_ g: GroupRecord) {
        precondition(Int(g.handle) == count, "handles must be dense and in order")
        if let id = g.customID { customIDs[id] = g.handle }
        partitionCounts[Int(g.partition)] += 1
        for rule in g.rules {
            guard let t = rule.referencedGroup else { continue }
            pairs.append(UInt64(t) << 32 | UInt64(g.handle))
        }
        current.append(g)
        count += 1
        if current.count == GraphSnapshot.chunkSize { flushChunk() }
    }

    private mutating func flushChunk() {
        chunks.append(current)
        current = []
        current.reserveCapacity(GraphSnapshot.chunkSize)
    }

    public consuming func build() -> GraphSnapshot {
        if !current.isEmpty {
            current += Array(repeating: nil, count: GraphSnapshot.chunkSize - current.count)
            flushChunk()
        }
        let handles = chunks.count * GraphSnapshot.chunkSize
        // Counting sort by target. References to handles that never existed are dropped (a fixture naming an
        // unknown group). A stable sort keeps each target's sources in increasing order.
        var starts = [UInt32](repeating: 0, count: handles + 1)
        for p in pairs where Int(p >> 32) < handles { starts[Int(p >> 32) + 1] &+= 1 }
        for i in 0..<handles { starts[i + 1] &+= starts[i] }
        var sources = [UInt32](repeating: 0, count: Int(starts[handles]))
        var next = starts
        for p in pairs {
            let t = Int(p >> 32)
            guard t < handles else { continue }
            sources[Int(next[t])] = UInt32(truncatingIfNeeded: p)
            next[t] &+= 1
        }
        pairs = []
        let final = sources.withUnsafeBufferPointer { sources in
            starts.withUnsafeBufferPointer { starts in
                chunks.enumerated().map { c, chunk in
                    GraphSnapshot.Chunk(groups: chunk, sortedSources: sources, starts: starts, firstHandle: c << GraphSnapshot.chunkBits)
                }
            }
        }
        return GraphSnapshot(
            chunks: final, handleCount: count, liveCount: count, partitions: partitions, partitionCounts: partitionCounts,
            customIDs: customIDs, version: 1)
    }
}
