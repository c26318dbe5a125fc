import CloudSigning

extension AliyunAPI {
    /// Most referencing records one response carries, as the real API documents.
    public static let maxReferenceRecords = 100

    /// `DescribeSecurityGroupReferences`: for each of `SecurityGroupId.1…10`, the groups whose inbound
    /// (`SourceGroupId`) or outbound (`DestGroupId`) rules reference it. The hot path: ids are parsed
    /// arithmetically and answered from the reverse index, O(ids + records), with no scan and no lock.
    func describeReferences(_ call: inout Call, snapshot snap: inout GraphSnapshot) throws(AliyunError) {
        store.refresh(&snap)
        let region = try self.region(call, in: snap)
        var ids = try AliyunAPI.referenceIDs(call.params)
        var handles: [UInt32] = []
        handles.reserveCapacity(ids.count)
        for id in ids {
            guard let h = store.resolve(id, in: snap), snap.partition(of: h) == region else {
                throw AliyunError(.badRequest, "InvalidSecurityGroupId.NotFound", "The specified SecurityGroupId does not exist.")
            }
            handles.append(h)
        }
        let owner = store.ownerID
        var budget = AliyunAPI.maxReferenceRecords
        call.writer.openObject("SecurityGroupReferences")
        call.writer.openList("SecurityGroupReference")
        for (i, h) in handles.enumerated() {
            call.writer.openItem("SecurityGroupReference")
            call.writer.string("SecurityGroupId", ids[i])
            call.writer.openObject("ReferencingSecurityGroups")
            call.writer.openList("ReferencingSecurityGroup")
            for ref in snap.referrers(of: h) where ref.group != h {
                if budget == 0 { break }
                budget -= 1
                call.writer.openItem("ReferencingSecurityGroup")
                call.writer.string("SecurityGroupId", store.id(of: ref.group, in: snap))
                call.writer.string("AliUid", owner)
                call.writer.closeItem("ReferencingSecurityGroup")
            }
            call.writer.closeList("ReferencingSecurityGroup")
            call.writer.closeObject("ReferencingSecurityGroups")
            call.writer.closeItem("SecurityGroupReference")
        }
        call.writer.closeList("SecurityGroupReference")
        call.writer.closeObject("SecurityGroupReferences")
        ids.removeAll()
    }

    /// `SecurityGroupId.N` values in N order; N must be 1…10, at least one and at most ten.
    static func referenceIDs(_ params: QueryParameters) throws(AliyunError) -> [String] {
        var slots: [(Int, String)] = []
        for p in params.pairs where p.name.utf8.starts(with: "SecurityGroupId.".utf8) {
            guard let n = Int(p.name.dropFirst(16)), (1...10).contains(n) else { throw AliyunError.referencesMalformed }
            if p.value.isEmpty { throw AliyunError.referencesMalformed }
            if let i = slots.firstIndex(where: { $0.0 == n }) { slots[i].1 = p.value } else { slots.append((n, p.value)) }
        }
        guard !slots.isEmpty else { throw AliyunError.referencesMalformed }
        slots.sort { $0.0 < $1.0 }
        return slots.map(\.1)
    }
}
