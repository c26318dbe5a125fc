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
