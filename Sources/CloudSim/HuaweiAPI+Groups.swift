import CloudModel
import Foundation

extension HuaweiAPI {
    /// `ShowSecurityGroup`: the seed API. Every field of SecurityGroupInfo, rules included.
    func showGroup(_ call: inout Call, id: String, snapshot snap: inout GraphSnapshot) throws(HuaweiError) {
        store.refresh(&snap)
        let h = try group(id, project: call.project, in: snap)
        writeGroup(&call.writer, snap.group(h)!, project: call.project, snap: snap, rules: true, item: false)
    }

    /// `ListSecurityGroups`: creation order, `marker`/`limit` paging, `id`/`name`/`description` filters.
    func listGroups(_ call: inout Call, snapshot snap: inout GraphSnapshot) throws(HuaweiError) {
        store.refresh(&snap)
        let limit = try HuaweiAPI.limit(call.query)
        let ids = Set(call.query.pairs.filter { $0.name == "id" }.map(\.value))
        let names = Set(call.query.pairs.filter { $0.name == "name" }.map(\.value))
        let descriptions = Set(call.query.pairs.filter { $0.name == "description" }.map(\.value))
        var start: UInt32 = 0
        if let marker = call.query["marker"], !marker.isEmpty {
            guard let m = store.resolve(marker, in: snap) else { throw HuaweiError.invalid("The marker \(marker) does not exist.") }
            start = m + 1
        }
        var page: [GroupRecord] = []
        var more = false
        if let p = snap.partitionIndex(call.project) {
            var h = start
            if !ids.isEmpty {
                // Filtering by id resolves the ids instead of walking the table.
                let handles = ids.compactMap { store.resolve($0, in: snap) }.filter { $0 >= start }.sorted()
                for x in handles {
                    if let g = snap.group(x), g.partition == p, names.isEmpty || names.contains(g.name),
                        descriptions.isEmpty || descriptions.contains(g.description)
                    {
                        if page.count == limit { more = true; break }
                        page.append(g)
                    }
                }
            } else {
                while Int(h) < snap.handleCount {
                    if let g = snap.group(h), g.partition == p, names.isEmpty || names.contains(g.name),
                        descriptions.isEmpty || descriptions.contains(g.description)
                    {
                        if page.count == limit { more = true; break }
                        page.append(g)
                    }
                    h += 1
                }
            }
        }
        call.writer.openList("security_groups")
        for g in page { writeGroup(&call.writer, g, project: call.project, snap: snap, rules: false, item: true) }
        call.writer.closeList("security_groups")
        HuaweiAPI.writePageInfo(
            &call.writer, first: page.first.map { store.id(of: $0.handle, in: snap) },
            last: page.last.map { store.id(of: $0.handle, in: snap) }, count: page.count, more: more)
    }

    /// `CreateSecurityGroup`: 201 with the group and its four default rules (ingress from itself, egress
    /// to anywhere, IPv4 and IPv6), as the real API creates them.
    /// `UpdateSecurityGroup`: PUT `{"security_group":{"name","description"}}`; answers the updated group.
    func updateGroup(_ call: inout Call, id: String) throws(HuaweiError) {
        let (obj, dryRun) = try bodyObject(call, "security_group")
        let name = try HuaweiAPI.string(obj, "name")
        if let name, !(1...64).contains(name.count) || !name.allSatisfy({ $0.isLetter || $0.isNumber || "_-.".contains($0) }) {
            throw HuaweiError.invalid("Updating securitygroup name is invalid: 1 to 64 letters, digits, underscores, hyphens and periods.")
        }
        let description = try HuaweiAPI.string(obj, "description")
        if let description, description.count > 255 || description.contains("<") || description.contains(">") {
            throw HuaweiError.invalid("The description can hold up to 255 characters and no angle brackets.")
        }
        let h = try group(id, project: call.project, in: store.snapshot())
        if dryRun { throw HuaweiError.dryRunPassed }
        let now = clock.now
        let (updated, snap) = store.writeAndSnapshot { m in m.update(h, name: name, description: description, now: now) }
        guard updated, let g = snap.group(h) else { throw HuaweiError.groupNotFound(id) }
        writeGroup(&call.writer, g, project: call.project, snap: snap, rules: true, item: false)
    }

    func createGroup(_ call: inout Call) throws(HuaweiError) {
        let (obj, dryRun) = try bodyObject(call, "security_group")
        guard let name = try HuaweiAPI.string(obj, "name"), (1...64).contains(name.count),
            name.allSatisfy({ $0.isLetter || $0.isNumber || "_-.".contains($0) })
        else {
            throw HuaweiError.invalid("Creating securitygroup name is invalid: 1 to 64 letters, digits, underscores, hyphens and periods.")
        }
        let description = try HuaweiAPI.string(obj, "description") ?? ""
        guard description.count <= 255, !description.contains("<"), !description.contains(">") else {
            throw HuaweiError.invalid("The description can hold up to 255 characters and no angle brackets.")
        }
        var tags: [GroupRecord.Tag] = []
        if let rawTags = obj["tags"] as? [[String: Any]] {
            for t in rawTags {
                guard let k = t["key"] as? String, !k.isEmpty else { throw HuaweiError.invalid("Each tag needs a non-empty key.") }
                tags.append(.init(key: k, value: t["value"] as? String ?? ""))
            }
        }
        if dryRun { throw HuaweiError.dryRunPassed }
        let now = clock.now
        let project = call.project
        let (handle, snap) = store.writeAndSnapshot { m -> UInt32 in
            let p = m.partition(named: project)
            let h = m.insert(GroupRecord(handle: 0, partition: p, name: name, description: description, createdAt: now, tags: tags))
            for (dir, ether) in [
                (RuleRecord.Direction.ingress, RuleRecord.EtherType.ipv4), (.ingress, .ipv6), (.egress, .ipv4), (.egress, .ipv6),
            ] {
                m.addRule(
                    RuleRecord(
                        direction: dir, ipProtocol: "", peer: dir == .ingress ? .group(h) : .any, priority: 100,
                        etherType: ether, createdAt: now), to: h, now: now)
            }
            return h
        }
        writeGroup(&call.writer, snap.group(handle)!, project: project, snap: snap, rules: true, item: false)
    }

    /// `DeleteSecurityGroup`: 204; 409 while another group's rule references it.
    func deleteGroup(_ call: inout Call, id: String) throws(HuaweiError) {
        let project = call.project
        let snap = store.snapshot()
        let h = try group(id, project: project, in: snap)
        try store.write { m throws(HuaweiError) in
            guard m.group(h) != nil else { throw HuaweiError.groupNotFound(id) }
            if m.referrers(of: h).contains(where: { $0.group != h }) { throw HuaweiError.inUse(id) }
            m.remove(h)
        }
    }
}
