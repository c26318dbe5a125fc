@testable import CloudModel
import TapedeckTesting
import Testing

@Suite struct ReferenceIndexTests {
    @Test func indexMatchesABruteForceScan() {
        let snap = SyntheticDataSet(groups: 3000, seed: 7).build(huawei: false)
        #expect(snap.liveCount == 3000)
        var totalRefs = 0
        let truth = referrerMapByScan(snap)
        for h in 0..<UInt32(3000) {
            let indexed = Set(snap.referrers(of: h).map(\.group).filter { $0 != h })
            #expect(indexed == truth[h, default: []], "handle \(h)")
            totalRefs += indexed.count
        }
        #expect(totalRefs > 1000, "the synthetic graph has references")
    }

    /// The builder's index, entry for entry: each referrer once, oldest first, with how many of its rules
    /// reference the group (repeats, self-references and both directions included); references to handles that
    /// do not exist are dropped. Random graphs over a few chunks, against a scan of the rules.
    @Test func builderIndexIsExactlyTheRulesCounted() {
        var rng = SplitMix64(seed: 42)
        for groups in [1, 5, GraphSnapshot.chunkSize - 1, GraphSnapshot.chunkSize, 2 * GraphSnapshot.chunkSize + 7] {
            var b = SnapshotBuilder(partitions: ["p"], expectedCount: groups)
            var truth: [UInt32: [RefEntry]] = [:]
            for h in 0..<UInt32(groups) {
                var rules: [RuleRecord] = []
                for _ in 0..<rng.below(6) {
                    // Mostly existing targets (often this group itself or a repeat), sometimes a handle past the end.
                    let t = rng.below(10) == 0 ? UInt32(groups + rng.below(5000)) : (rng.below(4) == 0 ? h : UInt32(rng.below(groups)))
                    rules.append(RuleRecord(direction: rng.below(2) == 0 ? .ingress : .egress, ipProtocol: "tcp", peer: .group(t)))
                    rules.append(contentsOf: rng.below(3) == 0 ? [RuleRecord(direction: .ingress, ipProtocol: "all", peer: .cidr("10.0.0.0/8"))] : [])
                }
                for r in rules {
                    guard let t = r.referencedGroup, Int(t) < groups else { continue }
                    if truth[t]?.last?.group == h { truth[t]![truth[t]!.count - 1].count += 1 } else { truth[t, default: []].append(RefEntry(group: h, count: 1)) }
                }
                b.append(GroupRecord(handle: h, partition: 0, name: "g\(h)", createdAt: 0, rules: rules))
            }
            let snap = b.build()
            for h in 0..<UInt32(groups) {
                #expect(snap.referrers(of: h) == truth[h, default: []], "groups \(groups), handle \(h)")
                #expect(Array(snap.lookup(h)?.referrers ?? UnsafeBufferPointer(start: nil, count: 0)) == truth[h, default: []])
            }
            // Past the last group (inside the last chunk and beyond it): no group, no referrers.
            #expect(snap.lookup(UInt32(groups)) == nil)
            #expect(snap.referrers(of: UInt32(groups + 4096)).isEmpty)
        }
    }

    @Test func popularityIsSkewed() {
        let snap = SyntheticDataSet(groups: 20000, seed: 3).build(huawei: true)
        let counts = (0..<UInt32(20000)).map { snap.referrers(of: $0).count }
        #expect(counts[0] > 500, "the most popular group is referenced by hundreds: \(counts[0])")
        #expect(counts.filter { $0 == 0 }.count > 10000, "most groups are referenced by few or none")
    }

    @Test func sameSeedSameGraph() {
        let a = SyntheticDataSet(groups: 500, seed: 9).build(huawei: false)
        let b = SyntheticDataSet(groups: 500, seed: 9).build(huawei: false)
        for h in 0..<UInt32(500) {
            #expect(a.group(h)!.rules == b.group(h)!.rules)
            #expect(a.referrers(of: h) == b.referrers(of: h))
        }
        let c = SyntheticDataSet(groups: 500, seed: 10).build(huawei: false)
        #expect((0..<UInt32(500)).contains { a.group($0)!.rules != c.group($0)!.rules })
    }

    @Test func mutationsKeepTheIndexInStepAndOldSnapshotsIntact() {
        let ds = SyntheticDataSet(groups: 2500, seed: 1)
        let store = SecurityGroupStore(codec: ds.aliyunCodec, ownerID: "1", snapshot: ds.build(huawei: false))
        let before = store.snapshot()
        let target: UInt32 = 2400
        let beforeRefs = before.referrers(of: target)
        let (new, serial) = store.write { m -> (UInt32, UInt32) in
            let g = m.insert(GroupRecord(handle: 0, partition: 0, name: "new", createdAt: 0))
            let s = m.addRule(
                RuleRecord(direction: .egress, ipProtocol: "tcp", portFrom: 1, portTo: 2, peer: .group(target)), to: g, now: 1)
            m.addRule(RuleRecord(direction: .ingress, ipProtocol: "tcp", portFrom: 3, portTo: 4, peer: .group(target)), to: g, now: 1)
            return (g, s)
        }
        let after = store.snapshot()
        #expect(after.version == before.version + 1)
        #expect(new == 2500 && after.handleCount == 2501 && after.liveCount == 2501)
        #expect(after.referrers(of: target).last == RefEntry(group: new, count: 2))
        #expect(before.referrers(of: target) == beforeRefs, "readers of the old snapshot see no change")
        #expect(!before.exists(new))
        #expect(Set(after.referrers(of: target).map(\.group)) == referrersByScan(after, target))

        _ = store.write { m in m.removeRule(serial: serial, from: new, now: 2) }
        #expect(store.snapshot().referrers(of: target).last == RefEntry(group: new, count: 1))
        store.write { m in m.remove(new) }
        let final = store.snapshot()
        #expect(final.referrers(of: target) == beforeRefs)
        #expect(!final.exists(new) && final.liveCount == 2500)
    }

    @Test func readersRefreshOnlyAfterAWrite() {
        let ds = SyntheticDataSet(groups: 10, seed: 1)
        let store = SecurityGroupStore(codec: ds.aliyunCodec, ownerID: "1", snapshot: ds.build(huawei: false))
        var cached = store.snapshot()
        store.refresh(&cached)
        #expect(cached.version == store.version)
        store.write { m in _ = m.insert(GroupRecord(handle: 0, partition: 0, name: "x", createdAt: 0)) }
        #expect(cached.handleCount == 10)
        store.refresh(&cached)
        #expect(cached.handleCount == 11)
    }
}
