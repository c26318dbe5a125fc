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
            if case .dataCorrupted(let c) = e, c.codingPath.isEmpty, (try? JSONSerialization.jsonObject(with: data)) != nil {
                // Foundation's decoder says "not valid JSON" for a number too large for its field, without where.
                throw LoadError(
                    description: "\(path): the JSON is valid, but a number in it is too large for its field (format is 1, priority 1 to 100, ports 1 to 65535)")
            }
            throw LoadError(description: "\(path): not a Tapedeck data file: \(FixtureData.describe(e))")
        } catch {
            throw LoadError(description: "\(path): not a Tapedeck data file: \(error)")
        }
        guard fixture.format >= 1 else {
            throw LoadError(description: "\(path): format \(fixture.format) is not a data-file format; write \"format\": \(currentFormat)")
        }
        for (name, cloud) in [("aliyun", fixture.aliyun), ("huawei", fixture.huawei)] {
            for (key, value) in [("account_id", cloud?.account_id), ("project_id", cloud?.project_id)] {
                if let value, !isPlainID(value) {
                    throw LoadError(
                        description: "\(path): \(name).\(key) \"\(value)\" is not an id a URL can name; use letters, digits, '-', '_' and '.' (1 to 128)")
                }
            }
        }
        guard fixture.format <= currentFormat else {
            throw LoadError(
                description: "\(path): format \(fixture.format) is newer than this tapedeck reads (\(currentFormat)); upgrade tapedeck")
        }
        return fixture
    }

    /// Whether an id (a group's, a project's) can stand in a URL path as it is: 1–128 letters, digits, `-_.:`,
    /// not `.` or `..`.
    static func isPlainID(_ s: String) -> Bool {
        guard (1...128).contains(s.utf8.count), s != ".", s != ".." else { return false }
        return s.utf8.allSatisfy { b in
            (b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x5A) || (b >= 0x61 && b <= 0x7A) || b == 0x2D || b == 0x5F || b == 0x2E || b == 0x3A
        }
    }

    /// `a.b.c.d/n` or an IPv6 address with `/n` (the prefix may be left out).
    static func isCIDR(_ s: String) -> Bool {
        let parts = s.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count <= 2 else { return false }
        var v4 = in_addr(), v6 = in6_addr()
        let address = String(parts[0])
        let bits: Int
        if inet_pton(AF_INET, address, &v4) == 1 { bits = 32 } else if inet_pton(AF_INET6, address, &v6) == 1 { bits = 128 } else { return false }
        guard parts.count == 2 else { return true }
        guard let n = Int(parts[1]), (0...bits).contains(n) else { return false }
        return true
    }

    static let protocols: Set<String> = ["tcp", "udp", "icmp", "icmpv6", "gre", "all", "any", ""]

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
            guard FixtureData.isPlainID(id) else {
                throw LoadError(description: "\(file): group \(i) id \"\(id)\" is not an id a URL can name; use letters, digits, '-', '_' and '.'")
            }
            if !huawei, let region = g.region {
                guard !region.isEmpty, region.utf8.allSatisfy({ ($0 >= 0x61 && $0 <= 0x7A) || ($0 >= 0x30 && $0 <= 0x39) || $0 == 0x2D }) else {
                    throw LoadError(description: "\(file): group \(i) (\(id)) region \"\(region)\" is not a region id (like cn-hangzhou)")
                }
            }
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
                    guard FixtureData.isCIDR(c) else { throw fail("cidr \"\(c)\" is not an address block like 10.0.0.0/8 or ::/0") }
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
                    guard (a == -1 && z == -1) || (1 <= a && a <= z && z <= 65535) else {
                        throw fail("ports \(p) must be FROM/TO with 1 <= FROM <= TO <= 65535, or -1/-1 for all")
                    }
                    (from, to) = (a, z)
                }
                guard r.direction == "ingress" || r.direction == "egress" else { throw fail("direction must be ingress or egress") }
                if let proto = r.protocol?.lowercased(), !FixtureData.protocols.contains(proto), !(UInt8(proto) != nil) {
                    throw fail("protocol \"\(proto)\" is not one of tcp, udp, icmp, icmpv6, gre, all (or a protocol number 0-255)")
                }
                if let priority = r.priority, !(1...100).contains(priority) {
                    throw fail("priority \(priority) must be 1 to 100")
                }
                if let e = r.ethertype, !["ipv4", "ipv6"].contains(e.lowercased()) { throw fail("ethertype \"\(e)\" must be IPv4 or IPv6") }
                if let policy = r.policy, !["accept", "allow", "drop", "deny"].contains(policy.lowercased()) {
                    throw fail("policy \"\(policy)\" must be accept or drop")
                }
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
