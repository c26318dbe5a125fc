import Foundation

/// A deterministic synthetic data set: `groups` security groups per cloud with 2–5 rules each, a share of
/// them referencing other groups, with targets drawn Zipf-like (rank r has weight ~1/(r+1)), so a few
/// groups are referenced by thousands. The same `(groups, seed)` gives the same ids and graph everywhere.
///
/// The load generator reuses this type to draw ids that exist (`zipfHandle`) and to know the right answer.
public struct SyntheticDataSet: Sendable {
    public let groups: Int
    public let seed: UInt64

    /// Alibaba region every synthetic group lives in.
    public static let aliyunRegion = "cn-hangzhou"
    /// Regions the simulated ECS endpoint knows; any other `RegionId` is `InvalidRegionId.NotFound`.
    public static let aliyunRegions = [
        "cn-hangzhou", "cn-shanghai", "cn-beijing", "cn-shenzhen", "cn-qingdao",
        "cn-hongkong", "ap-southeast-1", "us-west-1", "us-east-1", "eu-central-1",
    ]
    /// First synthetic creation time: 2026-01-01T00:00:00Z; group i was created i seconds later.
    public static let epoch: Int64 = 1_767_225_600

    public init(groups: Int, seed: UInt64) {
        self.groups = max(0, groups)
        self.seed = seed
    }

    /// The Huawei project id all synthetic Huawei groups belong to.
    public var huaweiProjectID: String {
        let a = IDCodec.mix(seed ^ 0x70726F6A), b = IDCodec.mix(a)
        return String(format: "%016llx%016llx", a, b)
    }

    /// The Alibaba account id (`AliUid`) owning every group.
    public var aliyunAccountID: String { String(1_000_000_000_000_000 + IDCodec.mix(seed ^ 0xA11) % 8_999_999_999_999_999) }

    public var aliyunCodec: IDCodec { IDCodec(style: .aliyun, seed: seed) }
    public var huaweiCodec: IDCodec { IDCodec(style: .huawei, seed: seed) }

    /// A Zipf-like draw of a handle in `0..<groups`: P(r) ∝ 1/(r+1).
    @inline(__always)
    public func zipfHandle(_ rng: inout SplitMix64) -> UInt32 {
        guard groups > 1 else { return 0 }
        let r = Int(exp(rng.unit() * log(Double(groups) + 1))) - 1
        return UInt32(min(max(r, 0), groups - 1))
    }

    private static let cidrs = ["0.0.0.0/0", "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10", "47.96.0.0/16"]
    private static let ports: [Int32] = [22, 80, 443, 3306, 5432, 6379, 8080, 9000]

    /// Builds one cloud's graph. `huawei` selects the Huawei vocabulary (protocol names, priorities).
    public func build(huawei: Bool) -> GraphSnapshot {
        var rng = SplitMix64(seed: seed ^ (huawei ? 0x4855_4157 : 0x414C_4959))
        var b = SnapshotBuilder(partitions: huawei ? [huaweiProjectID] : SyntheticDataSet.aliyunRegions, expectedCount: groups)
        for i in 0..<groups {
            let created = SyntheticDataSet.epoch + Int64(i)
            let n = 2 + rng.below(4)
            var rules: [RuleRecord] = []
            rules.reserveCapacity(n)
            for s in 0..<n {
                let x = rng.next()
                let direction: RuleRecord.Direction = x & 0xF < 11 ? .ingress : .egress
                let peer: RuleRecord.Peer
                if (x >> 4) % 100 < 45, groups > 1 {
                    var t = zipfHandle(&rng)
                    if Int(t) == i { t = UInt32((i + 1) % groups) }
                    peer = .group(t)
                } else {
                    peer = .cidr(SyntheticDataSet.cidrs[Int((x >> 12) % UInt64(SyntheticDataSet.cidrs.count))])
                }
                let proto: String, from: Int32, to: Int32
                switch (x >> 20) % 8 {
                case 0: (proto, from, to) = (huawei ? "icmp" : "icmp", -1, -1)
                case 1: (proto, from, to) = (huawei ? "" : "all", -1, -1)
                case 2: (proto, from, to) = ("udp", 53, 53)
                case 3: (proto, from, to) = ("tcp", 1024, 65535)
                default:
                    let p = SyntheticDataSet.ports[Int((x >> 24) % UInt64(SyntheticDataSet.ports.count))]
                    (proto, from, to) = ("tcp", p, p)
                }
                rules.append(
                    RuleRecord(
                        serial: UInt32(s), direction: direction, ipProtocol: proto, portFrom: from, portTo: to,
                        peer: peer, policy: (x >> 28) % 10 == 0 ? .drop : .accept,
                        priority: UInt8(1 + (x >> 32) % 100), createdAt: created))
            }
            b.append(GroupRecord(handle: UInt32(i), partition: 0, name: "grp-\(i)", createdAt: created, rules: rules))
        }
        return b.build()
    }

    /// Builds both clouds' stores, in parallel.
    public func makeStores() async -> (aliyun: SecurityGroupStore, huawei: SecurityGroupStore) {
        async let a = Task.detached { build(huawei: false) }.value
        async let h = Task.detached { build(huawei: true) }.value
        return (
            SecurityGroupStore(codec: aliyunCodec, ownerID: aliyunAccountID, snapshot: await a),
            SecurityGroupStore(codec: huaweiCodec, ownerID: huaweiProjectID, snapshot: await h)
        )
    }
}
