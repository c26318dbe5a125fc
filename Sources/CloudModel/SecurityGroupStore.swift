import Synchronization

/// One cloud's security groups: the mutable owner of a sequence of immutable `GraphSnapshot`s.
///
/// Why this design: the lookup path must not queue behind writers or a global lock. Writers serialise
/// among themselves on `writeLock`, build the next snapshot by copying only the chunks they touch
/// (copy-on-write), then publish it and bump `version`. A reader (one per connection, living on one event
/// loop) keeps its own snapshot and only compares `version` (one relaxed atomic load) per request; it
/// takes the short `published` lock once after each write, never during one. Memory for old snapshots is
/// reclaimed by ARC when the last reader drops them.
public final class SecurityGroupStore: Sendable {
    public let codec: IDCodec
    /// Alibaba account id (`AliUid`) or Huawei domain owner of every group here.
    public let ownerID: String
    private let writeLock = Mutex<Void>(())
    private let published: Mutex<GraphSnapshot>
    @usableFromInline let versionCounter = Atomic<UInt64>(0)

    public init(codec: IDCodec, ownerID: String, snapshot: GraphSnapshot) {
        self.codec = codec
        self.ownerID = ownerID
        self.published = Mutex(snapshot)
        self.versionCounter.store(snapshot.version, ordering: .releasing)
    }

    /// The version of the newest snapshot (cheap: one atomic load).
    @inlinable @inline(__always)
    public var version: UInt64 { versionCounter.load(ordering: .acquiring) }

    /// The newest snapshot.
    public func snapshot() -> GraphSnapshot { published.withLock { $0 } }

    /// Returns `cached` if it is current, else the newest snapshot. The hot path's only synchronisation.
    @inlinable @inline(__always)
    public func refresh(_ cached: inout GraphSnapshot) {
        if cached.version != version { cached = snapshot() }
    }

    /// Runs `body` with exclusive write access; whatever it changed is published when it returns.
    public func write<T, E: Error>(_ body: (inout GraphMutation) throws(E) -> T) throws(E) -> T {
        try writeAndSnapshot(body).0
    }

    /// Like `write`, also returning the snapshot that holds the change.
    public func writeAndSnapshot<T, E: Error>(_ body: (inout GraphMutation) throws(E) -> T) throws(E) -> (T, GraphSnapshot) {
        try writeLock.withLock { _ throws(E) in
            var m = GraphMutation(base: snapshot())
            let result = try body(&m)
            guard m.changed else { return (result, m.base) }
            let next = m.build()
            published.withLock { $0 = next }
            versionCounter.store(next.version, ordering: .releasing)
            return (result, next)
        }
    }

    // MARK: ids

    public func id(of handle: UInt32, in snap: GraphSnapshot) -> String {
        if snap.hasCustomID(handle), let custom = snap.group(handle)?.customID { return custom }
        return codec.format(UInt64(handle), kind: .group)
    }

    /// Generated id only (callers on the hot path that know the group has no custom id).
    @inline(__always)
    public func generatedID(of handle: UInt32) -> String { codec.format(UInt64(handle), kind: .group) }

    /// Resolves an id to a live group's handle.
    @inlinable @inline(__always)
    public func resolve<S: StringProtocol>(_ id: S, in snap: GraphSnapshot) -> UInt32? {
        if let key = codec.parse(id, kind: .group), key < UInt64(snap.handleCount) {
            let h = UInt32(key)
            return snap.exists(h) && !snap.hasCustomID(h) ? h : nil
        }
        if let h = snap.customHandle(String(id)), snap.exists(h) { return h }
        return nil
    }

    public func ruleID(group: UInt32, serial: UInt32) -> String {
        codec.format(UInt64(group) << 32 | UInt64(serial), kind: .rule)
    }

    /// (group handle, rule serial) for a rule id.
    public func resolveRule<S: StringProtocol>(_ id: S) -> (group: UInt32, serial: UInt32)? {
        guard let key = codec.parse(id, kind: .rule), key >> 32 <= UInt64(UInt32.max) else { return nil }
        return (UInt32(key >> 32), UInt32(truncatingIfNeeded: key))
    }
}
