/// An immutable, consistent view of one cloud's security groups and their reverse reference index.
///
/// Records live in fixed-size chunks of `GraphSnapshot.chunkSize` handles. A mutation copies only the
/// chunks it touches plus the (small) array of chunk pointers, and publishes a new snapshot; readers keep
/// using whichever snapshot they hold. So a lookup never takes a lock or waits for a writer, and a write
/// costs O(chunkSize + groups/chunkSize) instead of O(groups). See `SecurityGroupStore` for publication.
public struct GraphSnapshot: Sendable {
    public static let chunkBits = 10
    public static let chunkSize = 1 << chunkBits

    /// Records and reverse index for `chunkSize` consecutive handles. The index is stored flat (CSR):
    /// `slots[i]` holds group i's meta word and where its referrers start in `refData`, so a lookup touches
    /// two cache lines (slot, then entries) rather than chasing an array per group.
    @usableFromInline
    final class Chunk: @unchecked Sendable {
        let groups: [GroupRecord?]
        /// `slots[i].meta`: 0 if there is no group, else `partition + 1`, with `customIDBit` set when the
        /// group has a fixture id. `slots[i].start ..< slots[i + 1].start`: its referrers in `refData`.
        /// Plain memory, not arrays: reading them costs no reference counting on the lookup path
        /// (atomics on cold cache lines were half the cost at a million groups). Immutable after init.
        let slots: UnsafeMutableBufferPointer<Slot>
        /// The groups whose rules reference each handle, with rule counts, oldest first.
        let refData: UnsafeMutableBufferPointer<RefEntry>

        @usableFromInline
        struct Slot: Sendable {
            @usableFromInline var meta: UInt32
            @usableFromInline var start: UInt32
        }

        init(groups: [GroupRecord?], refs: [[RefEntry]]) {
            self.groups = groups
            slots = .allocate(capacity: groups.count + 1)
            refData = .allocate(capacity: max(1, refs.reduce(0) { $0 + $1.count }))
            var n = 0
            for (i, g) in groups.enumerated() {
                slots[i] = Slot(meta: Chunk.meta(g), start: UInt32(n))
                if i < refs.count {
                    for r in refs[i] { refData[n] = r; n += 1 }
                }
            }
            slots[groups.count] = Slot(meta: 0, start: UInt32(n))
        }

        /// A chunk from a counting sort: `sortedSources[starts[h] ..< starts[h + 1]]` are the groups whose rules
        /// reference handle h, one element per rule, in increasing order. Repeats from one source become one
        /// entry with their count.
        init(groups: [GroupRecord?], sortedSources: UnsafeBufferPointer<UInt32>, starts: UnsafeBufferPointer<UInt32>, firstHandle: Int) {
            self.groups = groups
            slots = .allocate(capacity: groups.count + 1)
            let lo = Int(starts[firstHandle]), hi = Int(starts[firstHandle + groups.count])
            refData = .allocate(capacity: max(1, hi - lo))
            var n = 0
            for (i, g) in groups.enumerated() {
                slots[i] = Slot(meta: Chunk.meta(g), start: UInt32(n))
                let first = n
                for k in Int(starts[firstHandle + i])..<Int(starts[firstHandle + i + 1]) {
                    let source = sortedSources[k]
                    if n > first, refData[n - 1].group == source {
                        refData[n - 1].count += 1
                    } else {
                        refData[n] = RefEntry(group: source, count: 1)
                        n += 1
                    }
                }
            }
            slots[groups.count] = Slot(meta: 0, start: UInt32(n))
        }

        /// A slot's meta word for `g` (see `slots`).
        private static func meta(_ g: GroupRecord?) -> UInt32 {
            g.map { UInt32($0.partition) + 1 | ($0.customID == nil ? 0 : customIDBit) } ?? 0
        }

        deinit {
            slots.deallocate()
            refData.deallocate()
        }

        /// Group i's referrers; valid while this chunk is alive (the snapshot holding it keeps it so).
        @inline(__always)
        func refs(_ i: Int) -> UnsafeBufferPointer<RefEntry> {
            let a = Int(slots[i].start), b = Int(slots[i + 1].start)
            return UnsafeBufferPointer(rebasing: refData[a..<b])
        }

        /// The per-group lists again, for a mutation that edits this chunk.
        func refLists() -> [[RefEntry]] { (0..<groups.count).map { Array(refs($0)) } }
    }

    @usableFromInline static let customIDBit: UInt32 = 1 << 31

    @inlinable @inline(__always)
    func meta(_ handle: UInt32) -> UInt32 {
        let h = Int(handle)
        guard h < handleCount else { return 0 }
        return slotBases[h >> GraphSnapshot.chunkBits][h & (GraphSnapshot.chunkSize - 1)].meta
    }

    /// Whether the group has an id from a fixture file (so its generated id does not apply).
    @inlinable @inline(__always)
    public func hasCustomID(_ handle: UInt32) -> Bool { meta(handle) & GraphSnapshot.customIDBit != 0 }

    let chunks: [Chunk]
    /// Handles allocated so far (deleted groups leave a nil slot).
    public let handleCount: Int
    /// Live groups.
    public let liveCount: Int
    /// Live groups per partition (so listing a region answers `TotalCount` without a scan).
    public let partitionCounts: [Int]
    /// Alibaba regions or Huawei project ids, by partition index.
    public let partitions: [String]
    /// Ids that came from a fixture file rather than the generator (immutable after load).
    @usableFromInline let customIDs: [String: UInt32]
    public let version: UInt64
    /// Each chunk's slot and entry memory, so the lookup path reaches them without retaining the chunk
    /// (plain pointers; valid because `chunks` keeps every chunk alive as long as this snapshot).
    /// (`@usableFromInline`: the lookup below is inlined into the API front ends of another module.)
    @usableFromInline nonisolated(unsafe) let slotBases: [UnsafeMutablePointer<Chunk.Slot>]
    @usableFromInline nonisolated(unsafe) let refBases: [UnsafeMutablePointer<RefEntry>]

    init(
        chunks: [Chunk], handleCount: Int, liveCount: Int, partitions: [String], partitionCounts: [Int], customIDs: [String: UInt32],
        version: UInt64
    ) {
        self.partitionCounts = partitionCounts
        self.chunks = chunks
        self.handleCount = handleCount
        self.liveCount = liveCount
        self.partitions = partitions
        self.customIDs = customIDs
        self.version = version
        self.slotBases = chunks.map { $0.slots.baseAddress! }
        self.refBases = chunks.map { $0.refData.baseAddress! }
    }

    /// The group with `handle`, if it exists.
    @inline(__always)
    public func group(_ handle: UInt32) -> GroupRecord? {
        let h = Int(handle)
        guard h < handleCount else { return nil }
        return chunks[h >> GraphSnapshot.chunkBits].groups[h & (GraphSnapshot.chunkSize - 1)]
    }

    /// Whether the group exists, without copying its record.
    @inlinable @inline(__always)
    public func exists(_ handle: UInt32) -> Bool { meta(handle) != 0 }

    @inline(__always)
    public func partition(of handle: UInt32) -> UInt16? {
        let m = meta(handle)
        return m == 0 ? nil : UInt16(truncatingIfNeeded: (m & ~GraphSnapshot.customIDBit) - 1)
    }

    /// Groups referencing `handle` (both directions), in the order they first referenced it, with
    /// how many of their rules do. Includes a group referencing itself. O(1): the reverse index.
    @inline(__always)
    public func referrers(of handle: UInt32) -> [RefEntry] {
        let h = Int(handle)
        guard h < handleCount else { return [] }
        return Array(chunks[h >> GraphSnapshot.chunkBits].refs(h & (GraphSnapshot.chunkSize - 1)))
    }

    /// One read of a group's slot for the lookup path: its partition and referrers (nil if there is no
    /// group). The buffer is valid only while this snapshot is held: use it before letting go.
    @inlinable @inline(__always)
    public func lookup(_ handle: UInt32) -> (partition: UInt16, referrers: UnsafeBufferPointer<RefEntry>)? {
        let h = Int(handle)
        guard h < handleCount else { return nil }
        let c = h >> GraphSnapshot.chunkBits, i = h & (GraphSnapshot.chunkSize - 1)
        let slot = slotBases[c] + i
        let meta = slot.pointee.meta
        guard meta != 0 else { return nil }
        let start = Int(slot.pointee.start), end = Int((slot + 1).pointee.start)
        return (
            UInt16(truncatingIfNeeded: (meta & ~GraphSnapshot.customIDBit) - 1),
            UnsafeBufferPointer(start: refBases[c] + start, count: end - start)
        )
    }

    public func partitionIndex(_ name: String) -> UInt16? {
        partitions.firstIndex(of: name).map { UInt16($0) }
    }

    /// Handle for an id from a fixture file.
    @inlinable
    public func customHandle(_ id: String) -> UInt32? { customIDs[id] }
    /// Whether any group carries an id given by a fixture (not derived from its handle).
    public var hasCustomIDs: Bool { !customIDs.isEmpty }
}
