import CloudModel
import CloudSigning

import NIOCore

extension AliyunAPI {
    /// Most referencing records one response carries, as the real API documents.
    public static let maxReferenceRecords = ReferenceLimits.aliyunRecordsPerAnswer

    /// `DescribeSecurityGroupReferences`: for each of `SecurityGroupId.1…10`, the groups whose inbound
    /// (`SourceGroupId`) or outbound (`DestGroupId`) rules reference it. The hot path: ids are parsed
    /// arithmetically and answered from the reverse index, O(ids + records), with no scan and no lock.
    func describeReferences(_ call: inout Call, snapshot snap: inout GraphSnapshot) throws(AliyunError) {
        store.refresh(&snap)
        let region = try self.region(call, in: snap)
        var ids = try AliyunAPI.referenceIDs(call.params)
        var found: [(UInt32, UnsafeBufferPointer<RefEntry>)] = []  // valid while `snap` is held, i.e. this call
        found.reserveCapacity(ids.count)
        for id in ids {
            guard let h = store.resolve(id, in: snap), let (partition, refs) = snap.lookup(h), partition == region else {
                throw AliyunError(.badRequest, "InvalidSecurityGroupId.NotFound", "The specified SecurityGroupId does not exist.")
            }
            found.append((h, refs))
        }
        let owner = store.ownerID
        var budget = AliyunAPI.maxReferenceRecords
        call.writer.openObject("SecurityGroupReferences")
        call.writer.openList("SecurityGroupReference")
        for (i, (h, refs)) in found.enumerated() {
            call.writer.openItem("SecurityGroupReference")
            call.writer.string("SecurityGroupId", ids[i])
            call.writer.openObject("ReferencingSecurityGroups")
            call.writer.openList("ReferencingSecurityGroup")
            if !snap.hasCustomIDs && store.codec.style == .aliyun {
                let t = call.writer.format == .json ? referenceTemplateJSON : referenceTemplateXML
                let n = min(budget, refs.count)
                let per = t.recordPrefix.count + 13 + t.recordSuffix.count + t.separator.count
                if n > 0 {
                    call.writer.buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: per * n) { out in
                        let (written, end) = writeRecords(refs, excluding: h, count: n, to: out.baseAddress!, t)
                        budget -= written
                        return end - out.baseAddress!
                    }
                }
            } else {
                for ref in refs where ref.group != h {
                    if budget == 0 { break }
                    budget -= 1
                    call.writer.openItem("ReferencingSecurityGroup")
                    call.writer.string("SecurityGroupId", store.id(of: ref.group, in: snap))
                    call.writer.string("AliUid", owner)
                    call.writer.closeItem("ReferencingSecurityGroup")
                }
            }
            call.writer.closeList("ReferencingSecurityGroup")
            call.writer.closeObject("ReferencingSecurityGroups")
            call.writer.closeItem("SecurityGroupReference")
        }
        call.writer.closeList("SecurityGroupReference")
        call.writer.closeObject("SecurityGroupReferences")
        ids.removeAll()
    }

    /// The bytes around a referencing group's id in one record, per format (the owner is the same for all).
    struct RecordFragments: Sendable {
        var prefix: [UInt8]
        var suffix: [UInt8]
    }

    static func fragments(owner: String, format: DocumentWriter.Format) -> RecordFragments {
        var uid = DocumentWriter(format: format, buffer: ByteBuffer())
        uid.string("AliUid", owner)
        var ownerBytes = uid.buffer
        if format == .xml { ownerBytes.moveReaderIndex(forwardBy: "<?xml version=\"1.0\" encoding=\"UTF-8\"?>".utf8.count) }
        let owned = Array(ownerBytes.readableBytesView)
        switch format {
        case .json:
            return RecordFragments(prefix: Array(#"{"SecurityGroupId":""#.utf8), suffix: Array(#"","#.utf8) + owned + [UInt8(ascii: "}")])
        case .xml:
            return RecordFragments(
                prefix: Array("<ReferencingSecurityGroup><SecurityGroupId>".utf8),
                suffix: Array("</SecurityGroupId>".utf8) + owned + Array("</ReferencingSecurityGroup>".utf8))
        }
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
