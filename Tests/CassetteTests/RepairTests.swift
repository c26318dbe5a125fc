import Foundation
import Testing
@testable import Cassette

/// One flipped bit anywhere must never make `repair` delete valid records; `salvage` keeps all but the
/// damaged one; a torn tail is still dropped; a file that verifies is one gzip reads.
@Suite struct RepairTests {
    static func cassette(_ count: Int) throws -> (path: String, bytes: Data, entries: [CassetteReader.Entry]) {
        let path = tempPath("flip.jsonl.gz")
        try writeCassette(path, count: count)
        let entries = try CassetteReader(path: path).entries
        return (path, try Data(contentsOf: URL(fileURLWithPath: path)), entries)
    }

    /// Two cassettes joined end to end (`cat a b > c`): opening says so (not a Swift `DecodingError`), and
    /// `repair --salvage` drops the second header and keeps every exchange of both.
    @Test func joinedCassettesAreSaidAndSalvagedWhole() throws {
        let (a, first, _) = try Self.cassette(3)
        let (b, second, _) = try Self.cassette(2)
        let joined = tempPath("joined.jsonl.gz")
        defer { for p in [a, b, joined, joined + ".damaged"] { try? FileManager.default.removeItem(atPath: p) } }
        try (first + second).write(to: URL(fileURLWithPath: joined))
        #expect { try CassetteReader(path: joined) } throws: { error in
            "\(error)".contains("second cassette header") && "\(error)".contains("repair --salvage") && !"\(error)".contains("DecodingError")
        }
        let s = try CassetteRepair.salvage(path: joined)
        #expect(s.headersDropped == 1 && s.kept == 6 && s.skipped.isEmpty && !s.backup.isEmpty, "\(s)")
        let reader = try CassetteReader(path: joined)
        #expect(reader.entries.count == 5)
        let (status, text) = try gunzip(joined)
        #expect(status == 0 && text.split(separator: "\n").count == 6)
    }

    @Test func aFlippedBitAnywhereNeverMakesRepairDeleteValidRecords() throws {
        let (path, original, entries) = try Self.cassette(6)
        defer { try? FileManager.default.removeItem(atPath: path); try? FileManager.default.removeItem(atPath: path + ".damaged") }
        var refused = 0
        for offset in 0..<original.count {
            var damaged = original
            damaged[offset] ^= UInt8(1) << UInt8(offset % 8)
            try damaged.write(to: URL(fileURLWithPath: path))
            do {
                let removed = try CassetteRepair.repair(path: path)
                #expect(removed == 0, "flip at \(offset): repair removed \(removed) bytes")
                // What repair takes for intact, a plain gzip reader reads whole (a flipped final-block bit once
                // passed here while `zcat` stopped part-way).
                let (status, text) = try gunzip(path)
                #expect(status == 0 && text.split(separator: "\n").count == 7, "flip at \(offset) passed repair but not gzip -dc")
            } catch let e as CassetteError {
                refused += 1
                #expect(e.kind != .tornTail, "flip at \(offset) was taken for a torn tail")
                #expect(e.offset != nil, "the refusal names the offset: \(e)")
                if e.kind == .corrupt {
                    #expect("\(e)".contains("repair --salvage"), "a damaged record's message names the fix: \(e)")
                    #expect(!"\(e)".contains("(corruptData)"), "no bare zlib case name: \(e)")
                }
            }
            #expect(try Data(contentsOf: URL(fileURLWithPath: path)) == damaged, "flip at \(offset): repair changed the file")
        }
        #expect(refused > original.count / 2, "most flips are detected (CRC, lengths, header fields)")
        _ = entries
    }

    /// The first bit of each member's deflate data is its final-block flag: flipped, the record still
    /// inflates with the right CRC and size, but gzip readers fail. Verification must fail too.
    @Test func aFlippedFinalBlockBitIsDamage() throws {
        let (path, original, entries) = try Self.cassette(4)
        defer { try? FileManager.default.removeItem(atPath: path) }
        for entry in entries {
            var damaged = original
            damaged[entry.offset + GzipMember.headerSize] ^= 1
            try damaged.write(to: URL(fileURLWithPath: path))
            #expect(try gunzip(path).0 != 0, "the flip breaks gzip readers")
            #expect(throws: CassetteError.self, "record \(entry.seq)") { try CassetteReader(path: path).allExchanges() }
            #expect(throws: CassetteError.self, "record \(entry.seq)") { try CassetteRepair.repair(path: path) }
        }
    }

    @Test func salvageKeepsEveryUndamagedRecord() throws {
        let (path, original, entries) = try Self.cassette(6)
        defer { try? FileManager.default.removeItem(atPath: path); try? FileManager.default.removeItem(atPath: path + ".damaged") }
        // Bits in the length fields (the dangerous case) and in the deflate data of records 2 and 6 (the last).
        let length2 = entries[1].offset + 16, length6 = entries[5].offset + 17
        for offset in [length2, length2 + 1, entries[1].offset + 30, length6, entries[5].offset + 25] {
            var damaged = original
            damaged[offset] ^= 0x40
            try damaged.write(to: URL(fileURLWithPath: path))
            try? FileManager.default.removeItem(atPath: path + ".damaged")
            let s = try CassetteRepair.salvage(path: path)
            let back = try CassetteReader(path: path).allExchanges()
            #expect(back.count == 5, "flip at \(offset): kept \(back.count) of the 5 undamaged exchanges")
            let damagedRecord = entries.first { $0.offset <= offset && offset < $0.offset + $0.length }!.seq
            let expected = (1...6).filter { $0 != damagedRecord }.map { sampleExchange($0).request.url }
            #expect(back.map(\.request.url) == expected)
            #expect(try Data(contentsOf: URL(fileURLWithPath: s.backup)) == damaged, "the original is kept")
        }
    }

    @Test func aTornTailIsStillDropped() throws {
        let (path, original, entries) = try Self.cassette(4)
        defer { try? FileManager.default.removeItem(atPath: path) }
        let last = entries[3]
        for cut in [1, 19, 20, 21, last.length / 2, last.length - 1] {
            try original.prefix(original.count - cut).write(to: URL(fileURLWithPath: path))
            let removed = try CassetteRepair.repair(path: path)
            #expect(removed == last.length - cut)
            #expect(try CassetteReader(path: path).entries.count == 3)
        }
    }

    /// Header fields gzip readers interpret: damage to any of them fails verification.
    @Test(arguments: [(2, UInt8(9)), (3, UInt8(4 | 8)), (10, UInt8(9)), (14, UInt8(5))])
    func damagedGzipHeaderFieldsNeverVerify(field: Int, value: UInt8) throws {
        let (path, original, entries) = try Self.cassette(3)
        defer { try? FileManager.default.removeItem(atPath: path) }
        var damaged = original
        damaged[entries[1].offset + field] = value
        try damaged.write(to: URL(fileURLWithPath: path))
        #expect(throws: CassetteError.self) { _ = try CassetteReader(path: path) }
    }

    @Test func whatVerifiesIsReadableByGzip() throws {
        let (path, _, _) = try Self.cassette(5)
        defer { try? FileManager.default.removeItem(atPath: path) }
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = ["gzip", "-t", path]
        try p.run()
        p.waitUntilExit()
        #expect(p.terminationStatus == 0)
    }

    /// One process records into a cassette at a time: a writer of another process is refused (here `flock(1)`
    /// holds the file as a second proxy would), and repair refuses a cassette that is being recorded.
    @Test func aCassetteBeingRecordedIsNeitherSharedNorRepaired() throws {
        let (path, _, _) = try Self.cassette(3)
        defer { try? FileManager.default.removeItem(atPath: path); try? FileManager.default.removeItem(atPath: path + ".idx") }
        let w = try CassetteWriter(path: path, existingRecords: 3)
        do {
            _ = try CassetteRepair.repair(path: path)
            Issue.record("repair ran while the cassette was being recorded")
        } catch { #expect("\(error)".contains("recording into it"), "\(error)") }
        #expect(throws: CassetteError.self) { _ = try CassetteRepair.salvage(path: path) }
        // A second writer of this process (a proxy switched back to a cassette it is finishing) is fine.
        let again = try CassetteWriter(path: path, existingRecords: 3)
        again.close()
        w.close()
        #expect(try CassetteRepair.repair(path: path) == 0)

        let holder = Process()
        holder.executableURL = URL(fileURLWithPath: "/usr/bin/flock")
        holder.arguments = ["--no-fork", "--exclusive", path, "sleep", "30"]  // no child left holding it
        try holder.run()
        defer { kill(holder.processIdentifier, SIGKILL); holder.waitUntilExit() }
        var refused = false
        for _ in 0..<100 where !refused {  // until flock(1) holds it
            do { try CassetteWriter(path: path, existingRecords: 3).close() } catch {
                refused = "\(error)".contains("another tapedeck process is recording into it")
            }
            if !refused { usleep(20_000) }
        }
        #expect(refused, "a writer started while another process held the cassette")
        // A proxy starting (or switching) on it is told at once, not at its first request.
        #expect { try CassetteLock.checkNotBusy(path) } throws: { "\($0)".contains("another tapedeck process is recording into it") }
        kill(holder.processIdentifier, SIGKILL)
        holder.waitUntilExit()
        try CassetteLock.checkNotBusy(path)
        try CassetteLock.checkNotBusy(path + ".missing")
    }

    /// Without its header no reader opens the file: salvage writes a new one and keeps every exchange.
    @Test func salvageReplacesADamagedHeader() throws {
        let (path, original, entries) = try Self.cassette(4)
        defer { try? FileManager.default.removeItem(atPath: path); try? FileManager.default.removeItem(atPath: path + ".damaged") }
        var damaged = original
        damaged[entries[0].offset / 2] ^= 0x10  // inside the header member, before the first exchange
        try damaged.write(to: URL(fileURLWithPath: path))
        #expect(throws: CassetteError.self) { try CassetteReader(path: path) }
        let s = try CassetteRepair.salvage(path: path)
        #expect(s.headerRebuilt && s.kept == 5)
        let reader = try CassetteReader(path: path)
        #expect(try reader.allExchanges().map(\.request.url) == (1...4).map { sampleExchange($0).request.url })
        #expect(reader.header.warnings?.first?.contains("header was damaged") == true)
        #expect(try CassetteRepair.salvage(path: path).backup.isEmpty, "the salvaged file is intact")
    }

    /// A file whose records are all whole but whose header is missing (an earlier salvage, a hand edit) is
    /// salvaged too: it gets a header, and every exchange is kept.
    @Test func salvageGivesAHeaderlessFileAHeader() throws {
        let (path, original, entries) = try Self.cassette(3)
        defer { try? FileManager.default.removeItem(atPath: path); try? FileManager.default.removeItem(atPath: path + ".damaged") }
        try original[entries[0].offset...].write(to: URL(fileURLWithPath: path))  // the header member cut off
        let s = try CassetteRepair.salvage(path: path)
        #expect(s.headerRebuilt && s.kept == 4)
        #expect(try CassetteReader(path: path).allExchanges().count == 3)
    }

    /// Only a torn header (a writer stopped before its first record was whole): `verify` says to repair, and
    /// repair empties the file, which recording then starts afresh.
    @Test func aTornHeaderAloneIsRepairedToAnEmptyFile() throws {
        let (path, original, entries) = try Self.cassette(1)
        defer { try? FileManager.default.removeItem(atPath: path) }
        try original[..<(entries[0].offset - 5)].write(to: URL(fileURLWithPath: path))
        #expect { try CassetteReader(path: path) } throws: { ($0 as? CassetteError)?.kind == .tornTail && "\($0)".contains("cassette repair") }
        #expect(try CassetteRepair.repair(path: path) == entries[0].offset - 5)
        #expect(try Data(contentsOf: URL(fileURLWithPath: path)).isEmpty)
        try CassetteWriter(path: path).append(sampleExchange(1))
        #expect(try CassetteReader(path: path).entries.count == 1)
    }

    /// `repair` checks the path before its lock opens it: a FIFO is named, not waited on.
    @Test func repairOfAFIFOIsRefusedAtOnce() throws {
        let path = tempPath("fifo")
        defer { unlink(path) }
        #expect(mkfifo(path, 0o600) == 0)
        #expect { try CassetteRepair.repair(path: path) } throws: { "\($0)".contains("is a FIFO, not a cassette file") }
    }

    @Test func salvagingAnIntactCassetteChangesNothing() throws {
        let (path, original, _) = try Self.cassette(4)
        defer { try? FileManager.default.removeItem(atPath: path); try? FileManager.default.removeItem(atPath: path + ".damaged") }
        let s = try CassetteRepair.salvage(path: path)
        #expect(s.backup.isEmpty && s.skipped.isEmpty && s.kept == 5)
        #expect(!FileManager.default.fileExists(atPath: path + ".damaged"), "an intact file is not set aside as damaged")
        #expect(try Data(contentsOf: URL(fileURLWithPath: path)) == original)
    }
}
