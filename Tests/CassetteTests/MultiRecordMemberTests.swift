import CompressNIO
import Foundation
import NIOCore
import Testing

@testable import Cassette

/// Format 2: a group commit's records share gzip members (up to `recordsPerMember` each), compressed as one
/// stream. Every reader path (walk, index, replay by entry, salvage, `zcat`) sees the same records, and a
/// format-1 cassette keeps one record per member when appended to.
@Suite struct MultiRecordMemberTests {
    func withDirectory(_ body: (String) throws -> Void) throws {
        let dir = NSTemporaryDirectory() + "tapedeck-members-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try body(dir)
    }

    @Test func aBatchSharesMembersAndReadsBackRecordByRecord() throws {
        try withDirectory { dir in
            let path = dir + "/batch.jsonl.gz"
            let n = 2 * CassetteWriter.recordsPerMember + 3
            let w = try CassetteWriter(path: path)
            let written = try w.append(contentsOf: (1...n).map { sampleExchange($0) })
            w.close()
            // Members of 8, 8 and 3 records: the records of one member share its offset and length.
            #expect(Set(written.map(\.offset)).count == 3)
            #expect(written.map(\.line) == Array(0..<8) + Array(0..<8) + Array(0..<3))
            let r = try CassetteReader(path: path)
            #expect(r.entries == written, "walking the file finds what the writer reported")
            // Read out of order, so the member cache is both hit and missed.
            for entry in r.entries.reversed() + r.entries {
                var expected = sampleExchange(entry.seq)
                expected.seq = entry.seq
                #expect(try r.exchange(entry) == expected)
            }
            // Plain gzip readers see one JSON line per record.
            let (status, text) = try gunzip(path)
            #expect(status == 0)
            #expect(text.split(separator: "\n").count == n + 1)
        }
    }

    /// `walk` reads in blocks (4 MiB, or 64 KiB for the writer's header check); a member larger than the
    /// block is still read whole, and every block size finds the same records.
    @Test func walkingInBlocksSmallerThanAMemberFindsTheSameRecords() throws {
        try withDirectory { dir in
            let path = dir + "/blocks.jsonl.gz"
            let w = try CassetteWriter(path: path)
            try w.append(contentsOf: (1...20).map { sampleExchange($0) })
            w.close()
            func records(block: Int) throws -> [[Int]] {
                let fd = open(path, O_RDONLY)
                defer { close(fd) }
                var found: [[Int]] = []
                try CassetteReader.walk(
                    fd: fd, path: path, allowTornTail: false, decompressor: try ZlibDecompressor(algorithm: .deflate),
                    allocator: ByteBufferAllocator(), blockSize: block
                ) { index, offset, length, line, record in
                    found.append([index, offset, length, line, record.readableBytes])
                }
                return found
            }
            let whole = try records(block: 4 << 20)
            #expect(whole.count == 21, "the header and 20 records")
            #expect(whole.contains { $0[2] > 64 }, "some member is larger than the small block")
            for block in [1, 64, 1000] { #expect(try records(block: block) == whole, "block \(block)") }
        }
    }

    @Test func batchedMembersAreSmallerThanOneMemberPerRecord() throws {
        try withDirectory { dir in
            let exchanges = (1...64).map { sampleExchange(200 + $0 % 3) }
            let single = dir + "/single.jsonl.gz", batched = dir + "/batched.jsonl.gz"
            let a = try CassetteWriter(path: single)
            for e in exchanges { try a.append(e) }
            a.close()
            let b = try CassetteWriter(path: batched)
            try b.append(contentsOf: exchanges)
            b.close()
            let sizeA = try #require(try FileManager.default.attributesOfItem(atPath: single)[.size] as? Int)
            let sizeB = try #require(try FileManager.default.attributesOfItem(atPath: batched)[.size] as? Int)
            #expect(sizeB * 2 < sizeA, "similar records compress against each other: \(sizeB) vs \(sizeA) bytes")
            #expect(try CassetteReader(path: batched).allExchanges().map(\.key) == exchanges.map(\.key))
        }
    }

    @Test func aFormatOneCassetteKeepsOneRecordPerMember() throws {
        try withDirectory { dir in
            let path = dir + "/v1.jsonl.gz"
            let w = try CassetteWriter(path: path, header: CassetteHeader(createdAt: "2026-01-01T00:00:00.000Z", version: 1))
            try w.append(contentsOf: (1...5).map { sampleExchange($0) })
            w.close()
            // Reopened for appending, it is still format 1.
            let again = try CassetteWriter(path: path, existingRecords: 5)
            try again.append(contentsOf: (6...10).map { sampleExchange($0) })
            again.close()
            let r = try CassetteReader(path: path)
            #expect(r.header.tapedeck_cassette == 1)
            #expect(r.entries.count == 10)
            #expect(Set(r.entries.map(\.offset)).count == 10)
            #expect(r.entries.allSatisfy { $0.line == 0 })
        }
    }

    @Test func aFlippedBitLosesOnlyItsMemberOnSalvage() throws {
        try withDirectory { dir in
            let path = dir + "/flip.jsonl.gz"
            let w = try CassetteWriter(path: path)
            let entries = try w.append(contentsOf: (1...24).map { sampleExchange($0) })
            w.close()
            CassetteIndex.remove(for: path)
            let victim = entries[9]  // second member: records 9-16
            let fh = try FileHandle(forUpdating: URL(fileURLWithPath: path))
            try fh.seek(toOffset: UInt64(victim.offset + GzipMember.headerSize + 3))
            let byte = try #require(try fh.read(upToCount: 1))
            try fh.seek(toOffset: UInt64(victim.offset + GzipMember.headerSize + 3))
            fh.write(Data([byte[0] ^ 0x5A]))
            try fh.close()
            #expect { try CassetteReader(path: path) } throws: { e in
                (e as? CassetteError).map { $0.kind == .corrupt && $0.record == 9 && $0.offset == victim.offset } ?? false
            }
            let s = try CassetteRepair.salvage(path: path)
            #expect(s.kept == 1 + 16, "the header and the two intact members")
            #expect(s.skipped == [CassetteRepair.Skip(offset: victim.offset, length: victim.length)])
            let kept = try CassetteReader(path: path).allExchanges().map(\.key)
            #expect(kept == (Array(1...8) + Array(17...24)).map { sampleExchange($0).key })
        }
    }

    @Test func blankLinesInAMemberAreNoRecords() throws {
        try withDirectory { dir in
            let path = dir + "/blank.jsonl.gz"
            let w = try CassetteWriter(path: path)
            try w.append(sampleExchange(1))
            w.close()
            // A member written by another tool: two records with blank lines around them.
            var payload = ByteBuffer(string: "\n")
            for i in 2...3 {
                var e = sampleExchange(i)
                e.seq = i
                payload.writeBytes(try CassetteCoding.encode(e))
                payload.writeString("\n\n")
            }
            var member = ByteBuffer()
            try GzipMember.encode(payload, compressor: try GzipMember.makeCompressor(), into: &member)
            let fh = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
            try fh.seekToEnd()
            fh.write(Data(member.readableBytesView))
            try fh.close()
            let r = try CassetteReader(path: path)
            #expect(r.entries.map(\.seq) == [1, 2, 3])
            #expect(r.entries.map(\.line) == [0, 0, 1])
            #expect(try r.allExchanges().map(\.key) == (1...3).map { sampleExchange($0).key })
        }
    }

    @Test func anEmptyBatchAppendsNothing() throws {
        try withDirectory { dir in
            let path = dir + "/empty.jsonl.gz"
            let w = try CassetteWriter(path: path)
            #expect(try w.append(contentsOf: []).isEmpty)
            try w.append(sampleExchange(1))
            w.close()
            #expect(try CassetteReader(path: path).entries.map(\.seq) == [1])
        }
    }

    /// Writes a batched cassette past the index threshold, then an index of its entries changed by `damage`:
    /// the index must be refused and the reader must rebuild the true entries from the file.
    func expectDamagedIndexRebuilt(_ damage: (inout [CassetteReader.Entry]) -> Void) throws {
        try withDirectory { dir in
            let path = dir + "/idx.jsonl.gz"
            let w = try CassetteWriter(path: path)
            try w.append(contentsOf: (1...CassetteIndex.minimumRecords + 5).map { sampleExchange($0) })
            w.close()
            let truth = try CassetteReader(path: path, indexFrom: .max).entries
            var damaged = truth
            damage(&damaged)
            let fd = open(path, O_RDONLY)
            defer { close(fd) }
            CassetteIndex.write(for: path, fd: fd, entries: damaged, covered: truth.last!.offset + truth.last!.length)
            var st = stat()
            fstat(fd, &st)
            #expect(CassetteIndex.load(for: path, fd: fd, size: Int(st.st_size)) == nil)
            #expect(try CassetteReader(path: path).entries == truth)
        }
    }

    @Test func anIndexWithAnOffsetPastTheFileIsRebuilt() throws {
        try expectDamagedIndexRebuilt { $0[$0.count - 1].offset = Int.max }  // offset + length would overflow
    }

    @Test func anIndexWhoseLinesDoNotFitIsRebuilt() throws {
        // An index claiming line 1 for a record that opens a member.
        try expectDamagedIndexRebuilt { $0[CassetteWriter.recordsPerMember].line = 1 }
    }
}
