/// An immutable, consistent view of one cloud's security groups and their reverse reference index.
///
/// Records live in fixed-size chunks of `GraphSnapshot.chunkSize` handles. A mutation copies only the
/// chunks it touches plus the (small) array of chunk pointers, and publishes a new snapshot; readers keep
/// using whichever snapshot they hold. So a lookup never takes a lock or waits for a writer, and a write
/// costs O(chunkSize + groups/chunkSize) instead of O(groups). See `SecurityGroupStore` for publication.
public struct GraphSnapshot: Sendable {
    public static let chunkBits = 10
    public static let chunkSize = 1 << chunkBits

    final class Chunk: Sendable {
        let groups: [GroupRecord?]
        /// `refs[i]`: the groups whose rules reference handle `base + i`, with rule counts, oldest first.
        let refs: [[RefEntry]]
        /// `meta[i]`: 0 if there is no group, else `partition + 1`, with `customIDBit` set when the group
        /// has a fixture id. The lookup path reads these 4 bytes instead of copying a whole record.
        let meta: [UInt32]
        init(groups: [GroupRecord?], refs: [[RefEntry]]) {
            self.groups = groups
            self.refs = refs
            self.meta = groups.map { g in g.map { UInt32($0.partition) + 1 | ($0.customID == nil ? 0 : customIDBit) } ?? 0 }
        }
    }

    static let customIDBit: UInt32 = 1 << 31

    @inline(__always)
    func meta(_ handle: UInt32) -> UInt32 {
        let h = Int(handle)
        guard h < handleCount else { return 0 }
        return chunks[h >> GraphSnapshot.chunkBits].meta[h & (GraphSnapshot.chunkSize - 1)]
    }

    /// Whether the group has an id from a fixture file (so its generated id does not apply).
    @inline(__always)
    public func hasCustomID(_ handle: UInt32) -> Bool { meta(handle) & GraphSnapshot.customIDBit != 0 }

    let chunks: [Chunk]
    /// Handles allocated so far (deleted groups leave a nil slot).
    public let handleCount: Int
    /// Live groups.
    public let liveCount: Int
    /// Alibaba regions or Huawei project ids, by partition index.
    public let partitions: [String]
    /// Ids that came from a fixture file rather than the generator (immutable after load).
    let customIDs: [String: UInt32]
    public let version: UInt64

    /// The group with `handle`, if it exists.
    @inline(__always)
    public func group(_ handle: UInt32) -> GroupRecord? {
        let h = Int(handle)
        guard h < handleCount else { return nil }
        return chunks[h >> GraphSnapshot.chunkBits].groups[h & (GraphSnapshot.chunkSize - 1)]
    }

    /// Whether the group exists, without copying its record.
    @inline(__always)
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
        return chunks[h >> GraphSnapshot.chunkBits].refs[h & (GraphSnapshot.chunkSize - 1)]
    }

    public func partitionIndex(_ name: String) -> UInt16? {
        partitions.firstIndex(of: name).map { UInt16($0) }
    }

    /// Handle for an id from a fixture file.
    public func customHandle(_ id: String) -> UInt32? { customIDs[id] }
}
