import Foundation

/// The `--data FILE` format: a JSON document with each cloud's groups and rules, for hand-written
/// scenarios (the seed documents' examples, a bug report's graph). Ids are kept as written; groups
/// without an `id` get a generated one. Rules reference groups of the same cloud by id.
///
/// ```json
/// {"format": 1,
///  "aliyun": {"account_id": "123", "groups": [
///     {"id": "sg-1133aa", "region": "cn-hangzhou", "name": "web",
///      "rules": [{"direction": "ingress", "protocol": "tcp", "ports": "22/22", "group": "sg-2255cc"}]}]},
///  "huawei": {"project_id": "0605767829…", "groups": [
///     {"id": "69c999ad-…", "name": "sg-1", "rules": [{"direction": "ingress", "ethertype": "IPv4", "group": "69c999ad-…"}]}]}}
/// ```
public struct FixtureData: Codable, Sendable {
    public var format: Int
    public var aliyun: Cloud?
    public var huawei: Cloud?

    public struct Cloud: Codable, Sendable {
        public var account_id: String?
        public var project_id: String?
        public var groups: [Group]
    }

    public struct Group: Codable, Sendable {
        public var id: String?
        /// Alibaba region (default cn-hangzhou); ignored for Huawei (the cloud's `project_id` applies).
        public var region: String?
        public var name: String
        public var description: String?
        public var vpc_id: String?
        public var created_at: String?
        public var tags: [GroupRecord.Tag]?
        public var rules: [Rule]?
    }

    public struct Rule: Codable, Sendable {
        public var direction: String
        /// tcp, udp, icmp, gre, all (Alibaba) or empty/absent for any.
        public var `protocol`: String?
        /// `22/22`, `1024/65535`, `-1/-1` (absent: all ports).
        public var ports: String?
        /// A referenced group's id (exclusive with `cidr`).
        public var group: String?
        public var cidr: String?
        public var ethertype: String?
        public var policy: String?
        public var priority: Int?
        public var description: String?
    }

    /// The error for a fixture that cannot be used: which file, group and rule.
    public struct LoadError: Error, CustomStringConvertible {
        public var description: String
    }

    public static let currentFormat = 1

    public static func load(path: String) throws -> FixtureData {
        let data: Data
        do { data = try Data(contentsOf: URL(fileURLWithPath: path)) } catch {
            throw LoadError(description: "\(path): cannot read: \(error.localizedDescription)")
        }
        return try decode(data, file: path)
    }

    /// A data file's bytes (`file` names it in errors).
    public static func decode(_ data: Data, file path: String) throws -> FixtureData {
        guard !data.isEmpty else { throw LoadError(description: "\(path) is empty; --data takes a JSON data file") }
        let fixture: FixtureData
        do { fixture = try JSONDecoder().decode(FixtureData.self, from: data) } catch let e as DecodingError {
            throw LoadError(description: "\(path): not a Tapedeck data file: \(FixtureData.describe(e))")
        } catch {
            throw LoadError(description: "\(path): not a Tapedeck data file: \(error)")
        }
        guard fixture.format <= currentFormat else {
            throw LoadError(
                description: "\(path): format \(fixture.format) is newer than this tapedeck reads (\(currentFormat)); upgrade tapedeck")
        }
        return fixture
    }

    /// A decoding error as a person reads it: what is wrong, and where (`aliyun.groups[3].rules`).
    public static func describe(_ error: DecodingError) -> String {
        func at(_ path: [CodingKey]) -> String {
            path.isEmpty ? "the top level" : path.map { $0.intValue.map { "[\($0)]" } ?? ".\($0.stringValue)" }.joined().drop { $0 == "." }.description
        }
        switch error {
        case .keyNotFound(let key, let c): return "missing \"\(key.stringValue)\" at \(at(c.codingPath))"
        case .typeMismatch(let type, let c): return "\(at(c.codingPath)) should be \(type)"
        case .valueNotFound(let type, let c): return "\(at(c.codingPath)) is null, should be \(type)"
        case .dataCorrupted(let c):
            let underlying = (c.underlyingError as NSError?)?.userInfo[NSDebugDescriptionErrorKey] as? String
            return c.codingPath.isEmpty ? "not valid JSON (\(underlying ?? c.debugDescription))" : "\(at(c.codingPath)): \(c.debugDescription)"
        @unknown default: return "\(error)"
        }
    }

    /// Builds one cloud's snapshot.
    public static func snapshot(_ cloud: Cloud?, huawei: Bool, codec: IDCodec, file: String) throws -> GraphSnapshot {
        let groups = cloud?.groups ?? []
        var handles: [String: UInt32] = [:]
        for (i, g) in groups.enumerated() {
            let id = g.id ?? codec.format(UInt64(i), kind: .group)
            guard handles[id] == nil else { throw LoadError(description: "\(file): group \(i) repeats id \(id)") }
            handles[id] = UInt32(i)
        }
        let partitions =
            huawei ? [cloud?.project_id ?? SyntheticDataSet(groups: 0, seed: 0).huaweiProjectID] : SyntheticDataSet.aliyunRegions
        var b = SnapshotBuilder(partitions: partitions, expectedCount: groups.count)
        for (i, g) in groups.enumerated() {
            let partition = huawei ? 0 : b.partition(named: g.region ?? SyntheticDataSet.aliyunRegion)
            let created = g.created_at.flatMap(SimulatorClock.parseISO8601) ?? SyntheticDataSet.epoch
            var rules: [RuleRecord] = []
            for (j, r) in (g.rules ?? []).enumerated() {
                func fail(_ why: String) -> LoadError {
                    LoadError(description: "\(file): group \(i) (\(g.id ?? g.name)) rule \(j): \(why)")
                }
                let peer: RuleRecord.Peer
                if let t = r.group {
                    guard let h = handles[t] else { throw fail("references unknown group \(t)") }
                    peer = .group(h)
                } else if let c = r.cidr {
                    peer = .cidr(c)
                } else {
                    peer = .any
                }
                var from: Int32 = -1, to: Int32 = -1
                if let p = r.ports {
                    let parts = p.split(separator: "/")
                    guard parts.count == 2, let a = Int32(parts[0]), let z = Int32(parts[1]) else {
                        throw fail("ports must look like 22/22")
                    }
                    (from, to) = (a, z)
                }
                guard r.direction == "ingress" || r.direction == "egress" else { throw fail("direction must be ingress or egress") }
                rules.append(
                    RuleRecord(
                        serial: UInt32(j), direction: r.direction == "ingress" ? .ingress : .egress,
                        ipProtocol: (r.protocol ?? (huawei ? "" : "all")).lowercased(), portFrom: from, portTo: to,
                        peer: peer, policy: ["drop", "deny"].contains(r.policy?.lowercased() ?? "") ? .drop : .accept,
                        priority: UInt8(clamping: r.priority ?? (huawei ? 100 : 1)),
                        etherType: r.ethertype?.lowercased() == "ipv6" ? .ipv6 : .ipv4,
                        description: r.description ?? "", createdAt: created))
            }
            b.append(
                GroupRecord(
                    handle: UInt32(i), partition: partition, name: g.name, description: g.description ?? "",
                    customID: g.id, vpcID: g.vpc_id ?? "", createdAt: created, tags: g.tags ?? [], rules: rules))
        }
        return b.build()
    }

    /// Both clouds' stores from this fixture.
    public func makeStores(seed: UInt64, file: String) throws -> (aliyun: SecurityGroupStore, huawei: SecurityGroupStore) {
        let ds = SyntheticDataSet(groups: 0, seed: seed)
        let a = try FixtureData.snapshot(aliyun, huawei: false, codec: ds.aliyunCodec, file: file)
        let h = try FixtureData.snapshot(huawei, huawei: true, codec: ds.huaweiCodec, file: file)
        return (
            SecurityGroupStore(codec: ds.aliyunCodec, ownerID: aliyun?.account_id ?? ds.aliyunAccountID, snapshot: a),
            SecurityGroupStore(codec: ds.huaweiCodec, ownerID: huawei?.project_id ?? ds.huaweiProjectID, snapshot: h)
        )
    }
}
