import Foundation
import Testing

@testable import Cassette

/// The sidecar index (`PATH.idx`): used when it fits the bytes, extended when records were appended,
/// rebuilt when missing, damaged or made for another file, and never a reason to fail or hang.
@Suite struct CassetteIndexTests {
    static let records = CassetteIndex.minimumRecords + 10

    func withCassette(_ body: (String) throws -> Void) throws {
        let dir = NSTemporaryDirectory() + "tapedeck-idx-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = dir + "/c.jsonl.gz"
        let w = try CassetteWriter(path: path)
        try w.append(contentsOf: (1...Self.records).map { sampleExchange($0, key: "k\($0 % 1000)") })
        w.close()
        try body(path)
    }

    /// What walking every record gives (and no index is written by it).
    func walked(_ path: String) throws -> [CassetteReader.Entry] {
        let saved = try? Data(contentsOf: URL(fileURLWithPath: CassetteIndex.path(for: path)))
        CassetteIndex.remove(for: path)
        defer { if let saved { try? saved.write(to: URL(fileURLWithPath: CassetteIndex.path(for: path))) } }
        return try CassetteReader(path: path, indexFrom: .max).entries
    }

    @Test func aClosedWriterLeavesAnIndexThatOpeningUses() throws {
        try withCassette { path in
            #expect(FileManager.default.fileExists(atPath: CassetteIndex.path(for: path)), "written at close")
            var st = stat()
            let fd = open(path, O_RDONLY)
            defer { close(fd) }
            fstat(fd, &st)
            let loaded = try #require(CassetteIndex.load(for: path, fd: fd, size: Int(st.st_size)))
            #expect(loaded.covered == Int(st.st_size))
            let truth = try walked(path)
            #expect(loaded.entries == truth)
            #expect(try CassetteReader(path: path).entries == truth)
            // Replay reads records by the index's offsets.
            let r = try CassetteReader(path: path)
            #expect(try r.exchange(r.entries[Self.records - 1]).request.url == sampleExchange(Self.records).request.url)
        }
    }

    @Test func recordsAppendedAfterTheIndexAreWalkedAndAdded() throws {
        try withCassette { path in
            let old = try Data(contentsOf: URL(fileURLWithPath: CassetteIndex.path(for: path)))
            let w = try CassetteWriter(path: path, existingRecords: Self.records)
            try w.append(contentsOf: (1...5).map { sampleExchange(10_000 + $0) })
            w.close()
            let truth = try walked(path)
            #expect(truth.count == Self.records + 5)
            #expect(try CassetteReader(path: path).entries == truth, "the writer kept its index current")
            try old.write(to: URL(fileURLWithPath: CassetteIndex.path(for: path)))  // an index of the first part only
            #expect(try CassetteReader(path: path).entries == truth, "the index's part, then a walk of the rest")
            let fd = open(path, O_RDONLY)
            defer { close(fd) }
            #expect(CassetteIndex.load(for: path, fd: fd, size: .max)?.entries.count == Self.records + 5, "and rewritten")
        }
    }

    /// An index that passes its checks (length, the CRCs of the file's ends) but says the wrong thing about a
    /// record in the middle (members swapped in place, as a stranger did) never makes a record pass for
    /// another request's: reading it fails naming the stale index, which is removed, so the next open
    /// rebuilds it and reads right.
    @Test func anIndexThatMisnamesARecordIsCaughtAndRebuilt() throws {
        try withCassette { path in
            let good = try CassetteReader(path: path).entries
            var lying = good
            (lying[3].key, lying[40].key) = (good[40].key, good[3].key)
            let fd = open(path, O_RDONLY)
            defer { close(fd) }
            var st = stat()
            fstat(fd, &st)
            CassetteIndex.write(for: path, fd: fd, entries: lying, covered: Int(st.st_size))
            let r = try CassetteReader(path: path)
            #expect(r.entries[3].key == good[40].key, "the lying index was taken (it passes the cheap checks)")
            do {
                _ = try r.exchange(r.entries[3])
                Issue.record("a record was read as another request's")
            } catch { #expect("\(error)".contains("is stale"), "\(error)") }
            #expect(!FileManager.default.fileExists(atPath: CassetteIndex.path(for: path)), "the stale index is removed")
            let again = try CassetteReader(path: path)
            #expect(again.entries[3].key == good[3].key)
            #expect(try again.exchange(again.entries[3]).key == good[3].key)
        }
    }

    /// An index whose offsets point inside members (two writers on one file once left one, with the right
    /// fingerprint): a read through it fails naming the index, which is removed, and the next open walks the
    /// file; `verify` never trusts the index and reads the file itself.
    @Test func anIndexPointingInsideMembersIsRemovedAndVerifyIgnoresIt() throws {
        try withCassette { path in
            let good = try CassetteReader(path: path).entries
            // Consistent as an index (members back to back, covering the file), wrong as a map: the member of
            // record 2 is said to end a byte early, and the next to start there.
            var shifted = good
            let first = good[1].offset
            let next = try #require(good.first { $0.offset > first }).offset
            for i in shifted.indices {
                if good[i].offset == first { shifted[i].length -= 1 }
                if good[i].offset == next { shifted[i].offset -= 1; shifted[i].length += 1 }
            }
            let fd = open(path, O_RDONLY)
            defer { close(fd) }
            var st = stat()
            fstat(fd, &st)
            CassetteIndex.write(for: path, fd: fd, entries: shifted, covered: Int(st.st_size))
            // What `verify` opens: the records the file holds, read from the file.
            let walked = try CassetteReader(path: path, useIndex: false)
            #expect(walked.entries.map(\.offset) == good.map(\.offset))
            #expect(try walked.allExchanges().count == good.count)
            CassetteIndex.write(for: path, fd: fd, entries: shifted, covered: Int(st.st_size))  // (that open rewrote it)
            let r = try CassetteReader(path: path)
            do {
                _ = try r.exchange(r.entries[1])
                Issue.record("a record was read where none starts")
            } catch {
                #expect("\(error)".contains("no record where the index") && "\(error)".contains("is removed"), "\(error)")
            }
            #expect(!FileManager.default.fileExists(atPath: CassetteIndex.path(for: path)), "the stale index is removed")
            let again = try CassetteReader(path: path)
            #expect(try again.exchange(again.entries[1]).key == good[1].key)
        }
    }

    @Test func aDamagedOrForeignIndexIsRebuilt() throws {
        try withCassette { path in
            let truth = try walked(path)
            let indexURL = URL(fileURLWithPath: CassetteIndex.path(for: path))
            var bytes = [UInt8](try Data(contentsOf: indexURL))
            bytes[bytes.count / 2] ^= 0x10  // one flipped bit
            try Data(bytes).write(to: indexURL)
            #expect(try CassetteReader(path: path).entries == truth)
            // The index of another cassette of the same shape (its bytes differ: other created_at, bodies).
            let other = path + ".other.jsonl.gz"
            let w = try CassetteWriter(path: other)
            try w.append(contentsOf: (1...Self.records).map { sampleExchange($0 + 7, key: "z\($0)") })
            w.close()
            try FileManager.default.removeItem(at: indexURL)
            try FileManager.default.copyItem(atPath: CassetteIndex.path(for: other), toPath: indexURL.path)
            #expect(try CassetteReader(path: path).entries == truth)
            // A truncated cassette (repair after a crash) outgrows nothing: its old index covers too much.
            let size = try #require(try FileManager.default.attributesOfItem(atPath: path)[.size] as? Int)
            #expect(truncate(path, off_t(truth[truth.count - 3].offset)) == 0)
            #expect(size > truth[truth.count - 3].offset)
            // (Records share members: cutting at a member's start drops every record in it.)
            #expect(try CassetteReader(path: path).entries == truth.filter { $0.offset < truth[truth.count - 3].offset })
        }
    }

    @Test(arguments: ["directory", "fifo"])
    func anIndexPathThatIsNotAFileIsIgnored(kind: String) throws {
        try withCassette { path in
            let truth = try walked(path)
            let index = CassetteIndex.path(for: path)
            try FileManager.default.removeItem(atPath: index)
            if kind == "directory" {
                try FileManager.default.createDirectory(atPath: index, withIntermediateDirectories: false)
            } else {
                #expect(mkfifo(index, 0o644) == 0)
            }
            #expect(try CassetteReader(path: path).entries == truth, "no hang on a FIFO, no error on a directory")
        }
    }
}
