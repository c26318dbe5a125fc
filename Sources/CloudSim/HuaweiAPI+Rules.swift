import CloudModel
import Foundation

extension HuaweiAPI {
    func showRule(_ call: inout Call, id: String, snapshot snap: inout GraphSnapshot) throws(HuaweiError) {
        store.refresh(&snap)
        let (g, r) = try rule(id, project: call.project, in: snap)
        writeRule(&call.writer, r, group: g, project: call.project, snap: snap, item: false)
    }

    func rule(_ id: String, project: String, in snap: GraphSnapshot) throws(HuaweiError) -> (UInt32, RuleRecord) {
        guard let (h, serial) = store.resolveRule(id), let p = snap.partitionIndex(project), let g = snap.group(h), g.partition == p,
            let r = g.rules.first(where: { $0.serial == serial })
        else { throw HuaweiError.ruleNotFound(id) }
        return (h, r)
    }

    /// `ListSecurityGroupRules`. With `remote_group_id` this is Huawei's reverse reference lookup, answered
    /// from the index: only the referencing groups' rules are visited, never the whole table.
    func listRules(_ call: inout Call, snapshot snap: inout GraphSnapshot) throws(HuaweiError) {
        store.refresh(&snap)
        let q = call.query
        let limit = try HuaweiAPI.limit(q)
        func values(_ k: String) -> [String] { q.pairs.filter { $0.name == k }.map(\.value) }
        let remote = values("remote_group_id"), groups = values("security_group_id"), ids = Set(values("id"))
        let directions = Set(values("direction")), protocols = Set(values("protocol")), actions = Set(values("action"))
        let prefixes = Set(values("remote_ip_prefix")), descriptions = Set(values("description"))
        guard let p = snap.partitionIndex(call.project) else { return writeRules(&call, [], snap: snap, more: false) }

        // Candidates come in a deterministic order from the cheapest exact source, and the walk stops as soon
        // as the page is full: a group referenced by thousands costs one page, not thousands of rules.
        let walkAll = remote.isEmpty && groups.isEmpty
        func keep(_ g: UInt32, _ r: RuleRecord) -> Bool {
            if !groups.isEmpty && !remote.isEmpty && !groups.contains(store.id(of: g, in: snap)) { return false }
            if !ids.isEmpty && !ids.contains(store.ruleID(group: g, serial: r.serial)) { return false }
            if !directions.isEmpty && !directions.contains(r.direction == .ingress ? "ingress" : "egress") { return false }
            if !protocols.isEmpty && !protocols.contains(r.ipProtocol) { return false }
            if !actions.isEmpty && !actions.contains(r.policy == .accept ? "allow" : "deny") { return false }
            if !descriptions.isEmpty && !descriptions.contains(r.description) { return false }
            if !prefixes.isEmpty { if case .cidr(let c) = r.peer, prefixes.contains(c) {} else { return false } }
            return true
        }
        var marker: (UInt32, UInt32)? = nil
        if let m = q["marker"], !m.isEmpty {
            guard let parsed = store.resolveRule(m) else { throw HuaweiError.invalid("The marker \(m) does not exist.") }
            marker = parsed
        }
        var page: [(UInt32, RuleRecord)] = []
        var more = false
        var skipping = marker != nil
        func offer(_ g: UInt32, _ r: RuleRecord) -> Bool {
            if skipping {
                if (g, r.serial) == marker! { skipping = false }
                return true
            }
            guard keep(g, r) else { return true }
            if page.count == limit { more = true; return false }
            page.append((g, r))
            return true
        }
        if walkAll {
            var h = marker?.0 ?? 0
            outer: while Int(h) < snap.handleCount {
                if let g = snap.group(h), g.partition == p {
                    for r in g.rules where !offer(h, r) { break outer }
                }
                if skipping && h == marker?.0 { skipping = false }
                h += 1
            }
        } else if !remote.isEmpty {
            outer: for rid in remote {
                guard let t = store.resolve(rid, in: snap), let (_, referrers) = snap.lookup(t) else { continue }
                for ref in referrers {  // valid while `snap` is held (this call)
                    guard snap.partition(of: ref.group) == p, let g = snap.group(ref.group) else { continue }
                    for r in g.rules where r.referencedGroup == t { if !offer(g.handle, r) { break outer } }
                }
            }
        } else {
            outer: for gid in groups {
                guard let h = store.resolve(gid, in: snap), let g = snap.group(h), g.partition == p else { continue }
                for r in g.rules where !offer(h, r) { break outer }
            }
        }
        writeRules(&call, page, snap: snap, more: more)
    }

    private func writeRules(_ call: inout Call, _ page: [(UInt32, RuleRecord)], snap: GraphSnapshot, more: Bool) {
        call.writer.openList("security_group_rules")
        for (g, r) in page { writeRule(&call.writer, r, group: g, project: call.project, snap: snap, item: true) }
        call.writer.closeList("security_group_rules")
        HuaweiAPI.writePageInfo(
            &call.writer, first: page.first.map { store.ruleID(group: $0.0, serial: $0.1.serial) },
            last: page.last.map { store.ruleID(group: $0.0, serial: $0.1.serial) }, count: page.count, more: more)
    }

    /// `CreateSecurityGroupRule`: 201 with the rule; 409 for a duplicate.
    func createRule(_ call: inout Call) throws(HuaweiError) {
        let (obj, dryRun) = try bodyObject(call, "security_group_rule")
        let project = call.project
        let snap0 = store.snapshot()
        guard let gid = try HuaweiAPI.string(obj, "security_group_id") else { throw HuaweiError.invalid("security_group_id is mandatory.") }
        let h = try group(gid, project: project, in: snap0)
        let direction: RuleRecord.Direction
        switch try HuaweiAPI.string(obj, "direction") {
        case "ingress": direction = .ingress
        case "egress": direction = .egress
        default: throw HuaweiError.invalid("direction must be ingress or egress.")
        }
        let ether: RuleRecord.EtherType
        switch try HuaweiAPI.string(obj, "ethertype") ?? "IPv4" {
        case "IPv4", "ipv4": ether = .ipv4
        case "IPv6", "ipv6": ether = .ipv6
        default: throw HuaweiError.invalid("ethertype must be IPv4 or IPv6.")
        }
        let proto = (try HuaweiAPI.string(obj, "protocol") ?? "").lowercased()
        guard proto.isEmpty || ["tcp", "udp", "icmp", "icmpv6"].contains(proto) || (Int(proto).map { (0...255).contains($0) } ?? false)
        else {
            throw HuaweiError.invalid("protocol must be icmp, tcp, udp, icmpv6 or an IP protocol number.")
        }
        var from: Int32 = -1, to: Int32 = -1
        if let mp = try HuaweiAPI.string(obj, "multiport"), !mp.isEmpty {
            let ends = mp.split(separator: "-", omittingEmptySubsequences: false)
            guard proto == "tcp" || proto == "udp", ends.count <= 2, let a = Int32(ends[0]), let b = Int32(ends.last!),
                (1...65535).contains(a), (1...65535).contains(b), a <= b
            else {
                throw HuaweiError.invalid("multiport must be a port or a range like 1-30, and needs protocol tcp or udp.")
            }
            (from, to) = (a, b)
        }
        let remoteGroup = try HuaweiAPI.string(obj, "remote_group_id"), prefix = try HuaweiAPI.string(obj, "remote_ip_prefix")
        let addressGroup = try HuaweiAPI.string(obj, "remote_address_group_id")
        guard [remoteGroup, prefix, addressGroup].compactMap({ $0 }).count <= 1 else {
            throw HuaweiError.invalid("remote_group_id, remote_ip_prefix and remote_address_group_id are mutually exclusive.")
        }
        var peer = RuleRecord.Peer.any
        if let rg = remoteGroup { peer = .group(try group(rg, project: project, in: snap0)) }
        if let pf = prefix { peer = .cidr(pf) }
        if let ag = addressGroup { peer = .addressGroup(ag) }
        let action: RuleRecord.Policy
        switch try HuaweiAPI.string(obj, "action") ?? "allow" {
        case "allow": action = .accept
        case "deny": action = .drop
        default: throw HuaweiError.invalid("action must be allow or deny.")
        }
        var priority: UInt8 = 1
        if let raw = obj["priority"], !(raw is NSNull) {
            let v = (raw as? Int) ?? (raw as? String).flatMap { Int($0) }
            guard let v, (1...100).contains(v) else { throw HuaweiError.invalid("priority must be from 1 to 100.") }
            priority = UInt8(v)
        }
        let now = clock.now
        let candidate = RuleRecord(
            direction: direction, ipProtocol: proto, portFrom: from, portTo: to, peer: peer, policy: action,
            priority: priority, etherType: ether, description: try HuaweiAPI.string(obj, "description") ?? "",
            createdAt: now)
        // The checks a rule must pass, on the snapshot for a dry run (then 202 DryRunOperation, nothing changed)
        // and again inside the write.
        func admit(_ group: (UInt32) -> GroupRecord?) throws(HuaweiError) {
            guard let g = group(h) else { throw HuaweiError.groupNotFound(gid) }
            if let t = candidate.referencedGroup, group(t) == nil { throw HuaweiError.groupNotFound(remoteGroup ?? "") }
            if g.rules.contains(where: { $0.sameContent(as: candidate) }) { throw HuaweiError.duplicateRule }
        }
        if dryRun {
            try admit { snap0.group($0) }
            throw HuaweiError.dryRunPassed
        }
        let (serial, snap) = try store.writeAndSnapshot { m throws(HuaweiError) -> UInt32 in
            try admit { m.group($0) }
            return m.addRule(candidate, to: h, now: now)
        }
        let stored = snap.group(h)!.rules.first { $0.serial == serial }!
        writeRule(&call.writer, stored, group: h, project: project, snap: snap, item: false)
    }

    func deleteRule(_ call: inout Call, id: String) throws(HuaweiError) {
        let (h, r) = try rule(id, project: call.project, in: store.snapshot())
        let now = clock.now
        try store.write { m throws(HuaweiError) in
            guard m.removeRule(serial: r.serial, from: h, now: now) != nil else { throw HuaweiError.ruleNotFound(id) }
        }
    }
}
