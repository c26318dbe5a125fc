import CloudModel
import CloudSigning
import Foundation
import NIOCore

/// The performance-critical call, answered straight from the request line's bytes: a
/// `DescribeSecurityGroupReferences` query is scanned in place (no `String` per parameter), its ids are
/// parsed arithmetically, and the answer is copied into one buffer of exactly the right size from
/// fixed byte fragments, the referencing ids written between them.
///
/// Only the plain success case is taken here: anything this scanner does not fully understand (an
/// encoded name, a repeated parameter, an unknown id or region, a form body, a version header) returns
/// nil and the general path answers it, errors included. Both paths produce the same bytes
/// (`ReferenceAnswerTests` compares them over random requests in JSON and XML).
extension AliyunAPI {
    /// The fixed bytes of a reference answer in one format.
    struct ReferenceTemplate: Sendable {
        /// Up to the request id's value.
        var head: [UInt8]
        /// After the request id, up to the first item.
        var open: [UInt8]
        /// One item, around its `SecurityGroupId` value and its records.
        var itemOpen: [UInt8]
        var itemMiddle: [UInt8]
        var itemClose: [UInt8]
        /// Between two items and between two records (JSON's comma; XML: nothing).
        var separator: [UInt8]
        var close: [UInt8]
        /// One record, around the 13 digits of its group's id (`sg-bp` ends the prefix).
        var recordPrefix: [UInt8]
        var recordSuffix: [UInt8]

        static func make(owner: String, format: DocumentWriter.Format) -> ReferenceTemplate {
            let records = AliyunAPI.fragments(owner: owner, format: format)
            let prefix = records.prefix + Array("sg-bp".utf8)
            switch format {
            case .json:
                return ReferenceTemplate(
                    head: Array(#"{"RequestId":""#.utf8),
                    open: Array(#"","SecurityGroupReferences":{"SecurityGroupReference":["#.utf8),
                    itemOpen: Array(#"{"SecurityGroupId":""#.utf8),
                    itemMiddle: Array(#"","ReferencingSecurityGroups":{"ReferencingSecurityGroup":["#.utf8),
                    itemClose: Array("]}}".utf8), separator: [UInt8(ascii: ",")], close: Array("]}}".utf8),
                    recordPrefix: prefix, recordSuffix: records.suffix)
            case .xml:
                return ReferenceTemplate(
                    head: Array(#"<?xml version="1.0" encoding="UTF-8"?><DescribeSecurityGroupReferencesResponse><RequestId>"#.utf8),
                    open: Array("</RequestId><SecurityGroupReferences>".utf8),
                    itemOpen: Array("<SecurityGroupReference><SecurityGroupId>".utf8),
                    itemMiddle: Array("</SecurityGroupId><ReferencingSecurityGroups>".utf8),
                    itemClose: Array("</ReferencingSecurityGroups></SecurityGroupReference>".utf8), separator: [],
                    close: Array("</SecurityGroupReferences></DescribeSecurityGroupReferencesResponse>".utf8),
                    recordPrefix: prefix, recordSuffix: records.suffix)
            }
        }
    }

    /// What the scan of one query found: byte offsets into it, no copies.
    struct ReferenceQuery {
        var region: Range<Int>?
        var xml = false
        /// Start of `SecurityGroupId.N`'s value at `ids[N - 1]`, or -1; every value is `idLength` bytes.
        var ids = InlineArray<10, Int>(repeating: -1)
        var idCount = 0
    }

    /// Bytes kept free before a rendered answer's body (an HTTP head is about 150).
    static let answerHeadroom = 256

    /// The answer to `uri` when it is a plain reference query this path can take, else nil. The body is
    /// rendered into `buffer` (cleared first), and the answer shares its storage: a caller that keeps
    /// `buffer` renders the next answer into the same memory once this one is written.
    func answerReferences(
        uri: String, hasVersionHeader: Bool, snapshot snap: inout GraphSnapshot, buffer: inout ByteBuffer
    ) -> APIResponse? {
        var uri = uri
        return uri.withUTF8 { answerReferences(target: $0, hasVersionHeader: hasVersionHeader, snapshot: &snap, buffer: &buffer) }
    }

    /// `answerReferences(uri:…)` for a request target as the bytes it arrived in.
    func answerReferences(
        target all: UnsafeBufferPointer<UInt8>, hasVersionHeader: Bool, snapshot snap: inout GraphSnapshot, buffer: inout ByteBuffer
    ) -> APIResponse? {
        guard all.count > 2, all[0] == UInt8(ascii: "/"), all[1] == UInt8(ascii: "?") else { return nil }
        let q = UnsafeBufferPointer(rebasing: all[2...])
        guard let found = scanReferenceQuery(q, hasVersionHeader: hasVersionHeader) else { return nil }
        store.refresh(&snap)
        guard !snap.hasCustomIDs, store.codec.style == .aliyun, let regionName = found.region,
            let region = snap.partitionIndex(String(decoding: UnsafeBufferPointer(rebasing: q[regionName]), as: UTF8.self))
        else { return nil }
        return render(found, query: q, region: region, snapshot: snap, into: &buffer)
    }

    /// Scans `a=1&b=2` for the parameters a reference query carries; nil when the general path must decide.
    private func scanReferenceQuery(_ q: UnsafeBufferPointer<UInt8>, hasVersionHeader: Bool) -> ReferenceQuery? {
        var found = ReferenceQuery()
        var sawAction = false, sawFormat = false, sawVersion = false
        let plain = QueryScan.plain  // read once: a global's every access checks its initialisation
        let idLength = store.codec.idLength
        var start = 0
        let n = q.count
        while start < n {
            var end = start, eq = -1
            var escaped = false
            while end < n {
                // Most bytes are plain: one table read skips them.
                while end < n && plain[Int(q[end])] { end += 1 }
                if end == n { break }
                let b = q[end]
                if b == UInt8(ascii: "&") { break }
                if b == UInt8(ascii: "=") && eq < 0 { eq = end }
                if b == UInt8(ascii: "%") {
                    // Valid, and decoding to ASCII (the general path validates UTF-8; leave that to it).
                    guard end + 2 < n, let hi = PercentEncoding.hexValue(q[end + 1]), PercentEncoding.hexValue(q[end + 2]) != nil, hi < 8
                    else { return nil }
                    escaped = true
                } else if b == UInt8(ascii: "+") || b == UInt8(ascii: "#") {
                    escaped = true
                } else if b >= 0x80 {
                    return nil
                }
                end += 1
            }
            defer { start = end + 1 }
            if end == start { continue }
            let nameEnd = eq < 0 ? end : eq
            let name = UnsafeBufferPointer(rebasing: q[start..<nameEnd])
            let value = eq < 0 ? end..<end : (eq + 1)..<end
            guard let known = ReferenceParameter(name) else {
                // An id parameter outside 1…10 (`SecurityGroupId.11`, `SecurityGroupId.1.5`) or a name written with
                // escapes (which may decode to one): the general path's answer, never a silently dropped id.
                if ReferenceParameter.mayNameAnID(name) { return nil }
                continue
            }
            // Known names and their values are taken only in plain form.
            if escaped { return nil }
            switch known {
            case .action:
                guard !sawAction, ReferenceParameter.equal(q, value, "DescribeSecurityGroupReferences") else { return nil }
                sawAction = true
            case .region:
                guard found.region == nil, !value.isEmpty else { return nil }
                found.region = value
            case .format:
                guard !sawFormat else { return nil }
                sawFormat = true
                found.xml = ReferenceParameter.equalIgnoringCase(q, value, "xml")
            case .version:
                guard !sawVersion, ReferenceParameter.equal(q, value, AliyunAPI.version) else { return nil }
                sawVersion = true
            case .id(let slot):
                guard value.count == idLength, found.ids[slot] < 0 else { return nil }
                found.ids[slot] = value.lowerBound
                found.idCount += 1
            }
        }
        guard sawAction, found.idCount > 0, sawVersion || !hasVersionHeader else { return nil }
        return found
    }

    private func render(
        _ found: ReferenceQuery, query q: UnsafeBufferPointer<UInt8>, region: UInt16, snapshot snap: GraphSnapshot,
        into buffer: inout ByteBuffer
    ) -> APIResponse? {
        let codec = store.codec
        let idLength = codec.idLength
        // Resolve every id first: an unknown one is the general path's error answer.
        var handles = InlineArray<10, UInt32>(repeating: 0)
        var referrers = InlineArray<10, UnsafeBufferPointer<RefEntry>>(repeating: UnsafeBufferPointer(start: nil, count: 0))
        var total = 0
        var budget = AliyunAPI.maxReferenceRecords
        for slot in 0..<10 where found.ids[slot] >= 0 {
            let id = UnsafeBufferPointer(rebasing: q[found.ids[slot]..<(found.ids[slot] + idLength)])
            guard let key = codec.parse(utf8: id, kind: .group), key < UInt64(snap.handleCount),
                let (partition, refs) = snap.lookup(UInt32(key)), partition == region
            else { return nil }
            handles[slot] = UInt32(key)
            referrers[slot] = refs
            // Records other than the group itself, within what is left of the answer's budget.
            // (A group appears at most once in a list, so a list longer than the budget needs no scan.)
            var k = refs.count
            if k <= budget, refs.contains(where: { $0.group == UInt32(key) }) { k -= 1 }
            let take = min(k, budget)
            budget -= take
            total += take
        }
        let t = found.xml ? referenceTemplateXML : referenceTemplateJSON
        let requestID = clock.aliyunRequestID()
        let perRecord = t.recordPrefix.count + 13 + t.recordSuffix.count + t.separator.count
        let perItem = t.itemOpen.count + idLength + t.itemMiddle.count + t.itemClose.count + t.separator.count
        let size = t.head.count + requestID.utf8.count + t.open.count + found.idCount * perItem + total * perRecord + t.close.count
        // Room before the body for the HTTP head: the fast lane writes it there and the answer leaves as one buffer.
        buffer.clear(minimumCapacity: AliyunAPI.answerHeadroom + size)
        buffer.moveWriterIndex(forwardBy: AliyunAPI.answerHeadroom)
        buffer.moveReaderIndex(forwardBy: AliyunAPI.answerHeadroom)
        var ridBytes = requestID
        _ = ridBytes.withUTF8 { rid in
            buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: size) { room in
                // Exactly the computed size, not the (reused) buffer's capacity: a size mistake still traps.
                let out = UnsafeMutableRawBufferPointer(rebasing: room[..<size])
                var w = RawWriter(out: out)
                w.put(t.head)
                w.put(rid)
                w.put(t.open)
                var budget = AliyunAPI.maxReferenceRecords
                var firstItem = true
                for slot in 0..<10 where found.ids[slot] >= 0 {
                    if !firstItem { w.put(t.separator) }
                    firstItem = false
                    let h = handles[slot]
                    w.put(t.itemOpen)
                    w.put(UnsafeBufferPointer(rebasing: q[found.ids[slot]..<(found.ids[slot] + idLength)]))
                    w.put(t.itemMiddle)
                    if budget > 0 {
                        let refs = referrers[slot]
                        let take = min(budget, refs.count)
                        precondition(w.at + take * perRecord <= out.count, "reference answer larger than its computed size")
                        let (n, end) = writeRecords(refs, excluding: h, count: take, to: out.baseAddress! + w.at, t)
                        budget -= n
                        w.at = end - out.baseAddress!
                    }
                    w.put(t.itemClose)
                }
                w.put(t.close)
                return w.at
            }
        }
        return APIResponse(
            status: .ok, contentType: AliyunAPI.contentType(found.xml ? .xml : .json), body: buffer, requestID: requestID,
            requestIDHeader: "x-acs-request-id")
    }
}

extension AliyunAPI {
    /// Up to `count` records of `refs` other than `self_`, at `to` (room checked by the caller), their
    /// separators included; returns how many and where they end. The loop is a copy, 13 digits and a copy
    /// per record. Both reference paths write records with it (Alibaba-style ids only).
    @inline(__always)
    func writeRecords(
        _ refs: UnsafeBufferPointer<RefEntry>, excluding self_: UInt32, count: Int, to start: UnsafeMutableRawPointer,
        _ t: ReferenceTemplate
    ) -> (Int, UnsafeMutableRawPointer) {
        let codec = store.codec
        let pairs = IDCodec.base36Pairs
        let comma = !t.separator.isEmpty
        return t.recordPrefix.withUnsafeBytes { pre in
            t.recordSuffix.withUnsafeBytes { suf in
                var p = start
                var written = 0
                for ref in refs where ref.group != self_ {
                    if written == count { break }
                    if comma && written > 0 {
                        p.storeBytes(of: UInt8(ascii: ","), as: UInt8.self)
                        p += 1
                    }
                    p.copyMemory(from: pre.baseAddress!, byteCount: pre.count)
                    p += pre.count
                    codec.writeAliyunGroupDigits(ref.group, to: p, pairs: pairs)
                    p += 13
                    p.copyMemory(from: suf.baseAddress!, byteCount: suf.count)
                    p += suf.count
                    written += 1
                }
                return (written, p)
            }
        }
    }
}

/// Copies byte fragments into a buffer sized for them beforehand.
private struct RawWriter {
    let out: UnsafeMutableRawBufferPointer
    var at = 0

    @inline(__always)
    mutating func put(_ bytes: [UInt8]) {
        bytes.withUnsafeBufferPointer { put($0) }
    }

    @inline(__always)
    mutating func put(_ bytes: UnsafeBufferPointer<UInt8>) {
        guard let base = bytes.baseAddress, !bytes.isEmpty else { return }
        precondition(at + bytes.count <= out.count, "reference answer larger than its computed size")
        (out.baseAddress! + at).copyMemory(from: base, byteCount: bytes.count)
        at += bytes.count
    }
}

/// The parameters a reference query's scan looks at.
private enum ReferenceParameter {
    case action, region, format, version
    /// `SecurityGroupId.N`, N in 1…10, as slot N - 1.
    case id(Int)

    init?(_ name: UnsafeBufferPointer<UInt8>) {
        switch name.count {
        case 6 where ReferenceParameter.same(name, "Action"): self = .action
        case 6 where ReferenceParameter.same(name, "Format"): self = .format
        case 7 where ReferenceParameter.same(name, "Version"): self = .version
        case 8 where ReferenceParameter.same(name, "RegionId"): self = .region
        case 17, 18:
            let prefix = UnsafeBufferPointer(rebasing: name[0..<16])
            guard ReferenceParameter.same(prefix, "SecurityGroupId.") else { return nil }
            let d1 = Int(name[16]) - 48
            if name.count == 17 {
                guard (1...9).contains(d1) else { return nil }
                self = .id(d1 - 1)
            } else {
                guard d1 == 1, name[17] == UInt8(ascii: "0") else { return nil }
                self = .id(9)
            }
        default: return nil
        }
    }

    /// Whether an unknown name is, or may decode to, a `SecurityGroupId…` parameter.
    static func mayNameAnID(_ name: UnsafeBufferPointer<UInt8>) -> Bool {
        if name.contains(UInt8(ascii: "%")) || name.contains(UInt8(ascii: "+")) { return true }
        return name.count >= 15 && same(UnsafeBufferPointer(rebasing: name[0..<15]), "SecurityGroupId")
    }

    private static func same(_ bytes: UnsafeBufferPointer<UInt8>, _ text: StaticString) -> Bool {
        guard bytes.count == text.utf8CodeUnitCount else { return false }
        let t = UnsafeBufferPointer(start: text.utf8Start, count: text.utf8CodeUnitCount)
        return bytes.elementsEqual(t)
    }

    /// `q[r]` is `text`, byte for byte (one `memcmp`, not a generic walk of a `String`'s UTF-8 view).
    static func equal(_ q: UnsafeBufferPointer<UInt8>, _ r: Range<Int>, _ text: String) -> Bool {
        var text = text
        return text.withUTF8 { t in
            r.count == t.count && (t.isEmpty || memcmp(q.baseAddress! + r.lowerBound, t.baseAddress!, t.count) == 0)
        }
    }

    static func equalIgnoringCase(_ q: UnsafeBufferPointer<UInt8>, _ r: Range<Int>, _ text: String) -> Bool {
        r.count == text.utf8.count && zip(q[r], text.utf8).allSatisfy { $0 | 0x20 == $1 }
    }
}

private enum QueryScan {
    /// Bytes a query scan can pass over: everything but `& = % + #` and non-ASCII.
    static let plain: [Bool] = (0..<256).map { b in b < 0x80 && !"&=%+#".utf8.contains(UInt8(b)) }
}
