import CloudModel
import CloudSigning
import Foundation

extension AliyunAPI {
    /// 2-128 characters, starting with a letter (Chinese included), then letters, digits, `:`, `_`, `.`, `-`;
    /// not starting with `http://` or `https://` (the ECS request models' rule).
    static func isValidGroupName(_ name: String) -> Bool {
        guard (2...128).contains(name.count), let first = name.first, first.isLetter,
            !name.hasPrefix("http://"), !name.hasPrefix("https://")
        else { return false }
        return name.allSatisfy { $0.isLetter || $0.isNumber || ":_.-".contains($0) }
    }

    /// 2-256 characters, not starting with `http://` or `https://`.
    static func isValidDescription(_ d: String) -> Bool {
        (2...256).contains(d.count) && !d.hasPrefix("http://") && !d.hasPrefix("https://")
    }

    func createGroup(_ call: inout Call) throws(AliyunError) {
        let regionName = call.params["RegionId"] ?? ""
        guard !regionName.isEmpty else { throw AliyunError.missing("RegionId") }
        guard SyntheticDataSet.aliyunRegions.contains(regionName) else { throw AliyunError.regionNotFound }
        let name = call.params["SecurityGroupName"] ?? ""
        if !name.isEmpty && !AliyunAPI.isValidGroupName(name) {
            throw AliyunError(.badRequest, "InvalidSecurityGroupName.Malformed", "The specified parameter SecurityGroupName is not valid.")
        }
        let description = call.params["Description"] ?? ""
        if !description.isEmpty && !AliyunAPI.isValidDescription(description) {
            throw AliyunError(.badRequest, "InvalidDescription.Malformed", "The specified parameter \"Description\" is not valid.")
        }
        let tags = AliyunAPI.indexed(call.params, "Tag").compactMap { t -> GroupRecord.Tag? in
            t["Key"].map { GroupRecord.Tag(key: $0, value: t["Value"] ?? "") }
        }
        let now = clock.now
        // Idempotency: a create repeated with the same ClientToken returns the group the first one made; the
        // same token with other parameters is refused, as the API does.
        var token: String? = nil
        if let t = call.params["ClientToken"], !t.isEmpty {
            guard t.utf8.count <= 64, t.utf8.allSatisfy({ $0 >= 0x21 && $0 < 0x7F }) else {
                throw AliyunError(.badRequest, "InvalidClientToken.ValueNotSupported", "The ClientToken provided is invalid.")
            }
            token = regionName + "|" + t
        }
        let fingerprint =
            [
                name, description, call.params["VpcId"] ?? "", call.params["SecurityGroupType"] ?? "",
                call.params["ResourceGroupId"] ?? "",
            ].joined(separator: "\u{1F}")
            + tags.map { "\u{1E}\($0.key)=\($0.value)" }.joined()
        let handle: UInt32 = try clientTokens.once(token, fingerprint: fingerprint) { () throws(AliyunError) -> UInt32 in
            store.write { m -> UInt32 in
                let p = m.partition(named: regionName)
                return m.insert(
                    GroupRecord(
                        handle: 0, partition: p, name: name, description: description,
                        vpcID: call.params["VpcId"] ?? "", createdAt: now, tags: tags))
            }
        } mismatch: { () -> AliyunError in
            AliyunError(
                .badRequest, "IdempotenceParamNotMatch",
                "Request uses a client token in a previous request but is not identical to that request.")
        }
        call.writer.string("SecurityGroupId", store.generatedID(of: handle))
    }

    /// `ModifySecurityGroupAttribute`: `SecurityGroupName` and/or `Description`; answers `RequestId` only.
    func modifyAttribute(_ call: inout Call) throws(AliyunError) {
        let snap = store.snapshot()
        let region = try self.region(call, in: snap)
        let h = try group(call, "SecurityGroupId", region: region, in: snap)
        // An empty value leaves the attribute as it is (the SDKs send "" for an unset field).
        let name = call.params["SecurityGroupName"].flatMap { $0.isEmpty ? nil : $0 }
        if let name, !AliyunAPI.isValidGroupName(name) {
            throw AliyunError(.badRequest, "InvalidSecurityGroupName.Malformed", "Specified security group name is not valid.")
        }
        let description = call.params["Description"].flatMap { $0.isEmpty ? nil : $0 }
        if let description, !AliyunAPI.isValidDescription(description) {
            // Alibaba's spelling.
            throw AliyunError(
                .badRequest, "InvalidSecurityGroupDiscription.Malformed", "Specified security group description is not valid.")
        }
        let now = clock.now
        let updated = store.write { m in m.update(h, name: name, description: description, now: now) }
        guard updated else { throw AliyunError.groupNotFound }
    }

    func deleteGroup(_ call: inout Call) throws(AliyunError) {
        let snap = store.snapshot()
        let region = try self.region(call, in: snap)
        let requested = try group(call, "SecurityGroupId", region: region, in: snap)
        try store.write { m throws(AliyunError) in
            // Re-check under the write lock: the group may have changed since the snapshot.
            guard m.group(requested) != nil else { throw AliyunError.groupNotFound }
            if m.referrers(of: requested).contains(where: { $0.group != requested }) { throw AliyunError.dependencyViolation }
            m.remove(requested)
        }
    }

    func describeGroups(_ call: inout Call, snapshot snap: inout GraphSnapshot) throws(AliyunError) {
        store.refresh(&snap)
        let region = try self.region(call, in: snap)
        // Two paginations: PageNumber/PageSize, and MaxResults/NextToken (what current docs recommend). The
        // token is the handle to continue from, so a token loop visits every group once, in creation order.
        let tokenPaging = call.params["MaxResults"] != nil || !(call.params["NextToken"] ?? "").isEmpty
        var startHandle: UInt32 = 0
        if let token = call.params["NextToken"], !token.isEmpty {
            guard token.hasPrefix("tdk"), let h = UInt32(token.dropFirst(3), radix: 36), Int(h) <= snap.handleCount else {
                throw AliyunError(.badRequest, "InvalidNextToken.Malformed", "The specified parameter NextToken is not valid.")
            }
            startHandle = h
        }
        let pageNumber = tokenPaging ? 1 : try AliyunAPI.intParam(call.params, "PageNumber", default: 1, range: 1...Int(Int32.max))
        let pageSize =
            tokenPaging
            ? try AliyunAPI.intParam(call.params, "MaxResults", default: 10, range: 1...100)
            : try AliyunAPI.intParam(call.params, "PageSize", default: 10, range: 1...50)
        var wanted: [UInt32]? = nil
        if let raw = call.params["SecurityGroupIds"], !raw.isEmpty {
            guard let data = raw.data(using: .utf8), let ids = try? JSONDecoder().decode([String].self, from: data) else {
                throw AliyunError.invalid("SecurityGroupIds", "InvalidSecurityGroupIds.Malformed")
            }
            // Up to 100 ids (the API's limit); each group listed once, in creation order, so a token loop ends.
            guard ids.count <= 100 else {
                throw AliyunError(.badRequest, "InvalidSecurityGroupIds.Malformed", "The specified parameter SecurityGroupIds holds more than 100 ids.")
            }
            wanted = Array(Set(ids.compactMap { store.resolve($0, in: snap) })).sorted()
        } else if let one = call.params["SecurityGroupId"], !one.isEmpty {
            wanted = store.resolve(one, in: snap).map { [$0] } ?? []
        }
        let vpc = call.params["VpcId"], name = call.params["SecurityGroupName"]
        func matches(_ g: GroupRecord) -> Bool {
            g.partition == region && (vpc == nil || vpc == "" || aliyunVPC(g) == vpc) && (name == nil || name == "" || g.name == name)
        }
        // Listing walks handles in creation order and stops after the requested page; with no filter but the
        // region, TotalCount comes from the per-region count, so page 1 of a million groups costs a page.
        var total = 0
        var page: [GroupRecord] = []
        var nextToken = ""
        let first = (pageNumber - 1) * pageSize
        let unfiltered = wanted == nil && (vpc ?? "").isEmpty && (name ?? "").isEmpty
        let end = UInt32(snap.handleCount)
        let candidates: AnySequence<UInt32> =
            wanted.map { AnySequence($0.filter { $0 >= startHandle }) }
            ?? AnySequence((min(startHandle, end)..<end).lazy)
        for h in candidates {
            guard let g = snap.group(h), matches(g) else { continue }
            if tokenPaging && page.count == pageSize {
                nextToken = "tdk" + String(h, radix: 36)  // another match exists: continue from it
                break
            }
            if total >= first && page.count < pageSize { page.append(g) }
            total += 1
            if unfiltered && page.count == pageSize && !tokenPaging { break }
        }
        if unfiltered { total = snap.partitionCounts[Int(region)] }
        call.writer.string("RegionId", call.params["RegionId"]!)
        // Token paging answers no TotalCount (the model: "not returned when you use MaxResults and NextToken").
        if !tokenPaging {
            call.writer.int("TotalCount", total)
            call.writer.int("PageNumber", pageNumber)
            call.writer.int("PageSize", pageSize)
        }
        call.writer.string("NextToken", nextToken)
        call.writer.openObject("SecurityGroups")
        call.writer.openList("SecurityGroup")
        for g in page {
            call.writer.openItem("SecurityGroup")
            call.writer.string("SecurityGroupId", store.id(of: g.handle, in: snap))
            call.writer.string("SecurityGroupName", g.name)
            call.writer.string("Description", g.description)
            call.writer.string("VpcId", aliyunVPC(g))
            call.writer.string("CreationTime", SimulatorClock.iso8601(g.createdAt))
            call.writer.string("SecurityGroupType", "normal")
            call.writer.string("ResourceGroupId", "")
            call.writer.bool("ServiceManaged", false)
            call.writer.int("EcsCount", 0)
            call.writer.int("AvailableInstanceAmount", 2000)
            call.writer.int("RuleCount", g.rules.count)
            writeTags(&call.writer, g.tags)
            call.writer.closeItem("SecurityGroup")
        }
        call.writer.closeList("SecurityGroup")
        call.writer.closeObject("SecurityGroups")
    }

    func describeAttribute(_ call: inout Call, snapshot snap: inout GraphSnapshot) throws(AliyunError) {
        store.refresh(&snap)
        let region = try self.region(call, in: snap)
        let h = try group(call, "SecurityGroupId", region: region, in: snap)
        let direction = call.params["Direction"]?.lowercased() ?? "all"
        guard ["all", "ingress", "egress"].contains(direction) else { throw AliyunError.invalid("Direction", "InvalidDirection.Malformed") }
        let g = snap.group(h)!
        call.writer.string("RegionId", call.params["RegionId"]!)
        call.writer.string("SecurityGroupId", store.id(of: h, in: snap))
        call.writer.string("SecurityGroupName", g.name)
        call.writer.string("Description", g.description)
        call.writer.string("VpcId", aliyunVPC(g))
        call.writer.string("InnerAccessPolicy", "Accept")
        call.writer.openObject("Permissions")
        call.writer.openList("Permission")
        for r in g.rules where direction == "all" || (direction == "ingress") == (r.direction == .ingress) {
            writePermission(&call.writer, r, group: h, snap: snap)
        }
        call.writer.closeList("Permission")
        call.writer.closeObject("Permissions")
    }

    func writePermission(_ w: inout DocumentWriter, _ r: RuleRecord, group: UInt32, snap: GraphSnapshot) {
        let ingress = r.direction == .ingress
        var groupID = "", groupName = "", owner = "", cidr = "", cidr6 = ""
        switch r.peer {
        case .group(let t):
            groupID = store.id(of: t, in: snap)
            groupName = snap.group(t)?.name ?? ""
            owner = store.ownerID
        case .cidr(let c): if r.etherType == .ipv6 { cidr6 = c } else { cidr = c }
        case .any, .addressGroup: break
        }
        w.openItem("Permission")
        w.string("SecurityGroupRuleId", store.ruleID(group: group, serial: r.serial))
        w.string("Direction", ingress ? "ingress" : "egress")
        w.string("IpProtocol", r.ipProtocol.uppercased())
        w.string("PortRange", "\(r.portFrom)/\(r.portTo)")
        w.string("SourcePortRange", "")
        w.string("SourceCidrIp", ingress ? cidr : "")
        w.string("Ipv6SourceCidrIp", ingress ? cidr6 : "")
        w.string("SourceGroupId", ingress ? groupID : "")
        w.string("SourceGroupName", ingress ? groupName : "")
        w.string("SourceGroupOwnerAccount", ingress ? owner : "")
        w.string("DestCidrIp", ingress ? "" : cidr)
        w.string("Ipv6DestCidrIp", ingress ? "" : cidr6)
        w.string("DestGroupId", ingress ? "" : groupID)
        w.string("DestGroupName", ingress ? "" : groupName)
        w.string("DestGroupOwnerAccount", ingress ? "" : owner)
        w.string("Policy", r.policy == .accept ? "Accept" : "Drop")
        w.int("Priority", r.priority)
        w.string("NicType", "intranet")
        w.string("CreateTime", SimulatorClock.iso8601(r.createdAt))
        w.string("Description", r.description)
        w.closeItem("Permission")
    }

    func writeTags(_ w: inout DocumentWriter, _ tags: [GroupRecord.Tag]) {
        w.openObject("Tags")
        w.openList("Tag")
        for t in tags {
            w.openItem("Tag")
            w.string("TagKey", t.key)
            w.string("TagValue", t.value)
            w.closeItem("Tag")
        }
        w.closeList("Tag")
        w.closeObject("Tags")
    }

    /// The group's VPC: as created, or a deterministic one for synthetic groups (50 groups per VPC).
    func aliyunVPC(_ g: GroupRecord) -> String {
        g.vpcID.isEmpty ? "vpc-bp" + IDCodec.base36(IDCodec.mix(UInt64(g.handle / 50) ^ 0x565043)) : g.vpcID
    }

    // MARK: parameter helpers

    static func intParam(_ p: QueryParameters, _ name: String, default d: Int, range: ClosedRange<Int>) throws(AliyunError) -> Int {
        guard let raw = p[name], !raw.isEmpty else { return d }
        guard let v = Int(raw), range.contains(v) else { throw AliyunError.invalid(name, "Invalid\(name).Malformed") }
        return v
    }

    /// Groups `Prefix.N.Field=value` parameters into one dictionary per N, in N order.
    static func indexed(_ p: QueryParameters, _ prefix: String) -> [[String: String]] {
        var byIndex: [Int: [String: String]] = [:]
        let head = prefix + "."
        for pair in p.pairs where pair.name.hasPrefix(head) {
            let rest = pair.name.dropFirst(head.count)
            guard let dot = rest.firstIndex(of: "."), let n = Int(rest[..<dot]) else { continue }
            byIndex[n, default: [:]][String(rest[rest.index(after: dot)...])] = pair.value
        }
        return byIndex.keys.sorted().map { byIndex[$0]! }
    }
}
