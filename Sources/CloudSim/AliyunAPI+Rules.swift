import CloudModel
import CloudSigning

extension AliyunAPI {
    /// Authorize/Revoke, ingress or egress, in the flat form (`IpProtocol`, `PortRange`, `SourceGroupId`, …)
    /// or the newer `Permissions.N.*` form. Authorizing an existing rule succeeds without adding one, and
    /// revoking a missing rule succeeds without removing one, as the real API documents.
    func changeRule(_ call: inout Call, egress: Bool, add: Bool) throws(AliyunError) {
        let snap = store.snapshot()
        let region = try self.region(call, in: snap)
        let target = try group(call, "SecurityGroupId", region: region, in: snap)
        var specs = AliyunAPI.indexed(call.params, "Permissions")
        if specs.isEmpty {
            var flat: [String: String] = [:]
            for p in call.params.pairs { flat[p.name] = p.value }
            specs = [flat]
        }
        var rules: [RuleRecord] = []
        for spec in specs { rules.append(try rule(from: spec, egress: egress, target: target, region: region, snap: snap)) }
        let now = clock.now
        try store.write { m throws(AliyunError) in
            guard let g = m.group(target) else { throw AliyunError.groupNotFound }
            for var r in rules {
                if let peer = r.referencedGroup, m.group(peer) == nil {
                    throw egress ? AliyunAPI.destNotFound : AliyunAPI.sourceNotFound
                }
                let existing = m.group(target)?.rules.first { $0.sameContent(as: r) }
                if add {
                    if existing == nil {
                        if g.rules.count >= 200 {
                            throw AliyunError(
                                .forbidden, "AuthorizationLimitExceed", "The limit of authorization records in the security group reaches.")
                        }
                        r.createdAt = now
                        m.addRule(r, to: target, now: now)
                    }
                } else if let e = existing {
                    m.removeRule(serial: e.serial, from: target, now: now)
                }
            }
        }
    }

    static let sourceNotFound = AliyunError(
        .notFound, "InvalidSourceGroupId.NotFound", "The SourceGroupId provided does not exist in our records.")
    static let destNotFound = AliyunError(
        .notFound, "InvalidDestGroupId.NotFound", "The DestGroupId provided does not exist in our records.")

    private func rule(
        from spec: [String: String], egress: Bool, target: UInt32, region: UInt16,
        snap: GraphSnapshot
    ) throws(AliyunError) -> RuleRecord {
        func value(_ k: String) -> String? { spec[k].flatMap { $0.isEmpty ? nil : $0 } }
        guard let protoRaw = value("IpProtocol") else { throw AliyunError.missing("IpProtocol") }
        let proto = protoRaw.lowercased()
        guard ["tcp", "udp", "icmp", "icmpv6", "gre", "all"].contains(proto) else {
            throw AliyunError(
                .badRequest, "InvalidIpProtocol.ValueNotSupported",
                "The parameter IpProtocol must be specified with case insensitive TCP, UDP, ICMP, GRE or All.")
        }
        let range = value("PortRange") ?? (proto == "tcp" || proto == "udp" ? "" : "-1/-1")
        let parts = range.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 2, let from = Int32(parts[0]), let to = Int32(parts[1]),
            (from == -1 && to == -1) || (1...65535).contains(from) && (1...65535).contains(to) && from <= to,
            !(proto == "tcp" || proto == "udp") || from != -1
        else {
            throw AliyunError(.badRequest, "InvalidPortRange.Malformed", "The specified parameter PortRange is not valid.")
        }
        let policyRaw = (value("Policy") ?? "accept").lowercased()
        guard policyRaw == "accept" || policyRaw == "drop" else {
            throw AliyunError(.badRequest, "InvalidPolicy.Malformed", "The specified parameter \"Policy\" is not valid.")
        }
        let priorityRaw = value("Priority") ?? "1"
        guard let priority = UInt8(priorityRaw), (1...100).contains(priority) else {
            throw AliyunError(.badRequest, "InvalidPriority.Malformed", "The parameter Priority is invalid.")
        }
        let side = egress ? "Dest" : "Source"
        let peer: RuleRecord.Peer
        var ether = RuleRecord.EtherType.ipv4
        if let gid = value("\(side)GroupId") {
            guard let h = store.resolve(gid, in: snap), snap.partition(of: h) == region else {
                throw egress ? AliyunAPI.destNotFound : AliyunAPI.sourceNotFound
            }
            if h == target {
                throw AliyunError(
                    .forbidden, "InvalidParamter.Conflict", "The specified SecurityGroupId should be different from the \(side)GroupId.")
            }
            peer = .group(h)
        } else if let cidr = value("\(side)CidrIp") {
            guard AliyunAPI.looksLikeCIDR(cidr, v6: false) else {
                throw AliyunError.invalid("\(side)CidrIp", "Invalid\(side)CidrIp.Malformed")
            }
            peer = .cidr(cidr)
        } else if let cidr = value("Ipv6\(side)CidrIp") {
            guard AliyunAPI.looksLikeCIDR(cidr, v6: true) else {
                throw AliyunError.invalid("Ipv6\(side)CidrIp", "InvalidIpv6\(side)CidrIp.Malformed")
            }
            peer = .cidr(cidr)
            ether = .ipv6
        } else {
            throw AliyunError(
                .badRequest, "MissingParameter.\(side)",
                egress ? "Either DestCidrIp or DestGroupId must be specified." : "Either SourceCidrIp or SourceGroupId must be specified.")
        }
        return RuleRecord(
            direction: egress ? .egress : .ingress, ipProtocol: proto, portFrom: from, portTo: to, peer: peer,
            policy: policyRaw == "accept" ? .accept : .drop, priority: priority, etherType: ether,
            description: spec["Description"] ?? "")
    }

    /// A light syntactic check: address characters with an optional `/prefix`.
    static func looksLikeCIDR(_ s: String, v6: Bool) -> Bool {
        let allowed: Set<Character> = v6 ? Set("0123456789abcdefABCDEF:./") : Set("0123456789./")
        guard !s.isEmpty, s.count <= 64, s.allSatisfy({ allowed.contains($0) }) else { return false }
        if !v6 {
            let addr = s.split(separator: "/")[0]
            let octets = addr.split(separator: ".", omittingEmptySubsequences: false)
            return octets.count == 4 && octets.allSatisfy { Int($0).map { (0...255).contains($0) } ?? false }
        }
        return s.contains(":")
    }
}
