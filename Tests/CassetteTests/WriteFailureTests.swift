import Foundation
import Synchronization
import Testing
@testable import Cassette

/// Disk full, I/O errors and short writes, injected into the writer's `write(2)`: the file is cut back to
/// its last complete record, the error names the cassette and the cause, and later appends continue cleanly.
@Suite struct WriteFailureTests {
    /// Lets `allow` bytes through, then fails with `errno` (0: a write that makes no progress).
    final class Fault: Sendable {
        let plan = Mutex<(allow: Int, errno: Int32)?>(nil)
        func write(_ fd: Int32, _ p: UnsafeRawPointer, _ n: Int) -> Int {
            guard let (allow, err) = plan.withLock({ $0 }) else { return Foundation.write(fd, p, n) }
            if allow > 0 {
                let k = Foundation.write(fd, p, min(n, allow))
                plan.withLock { $0 = (allow - max(k, 0), err) }
                return k
            }
            errno = err
            return err == 0 ? 0 : -1
        }
    }

    func size(_ path: String) -> Int { (try? FileManager.default.attributesOfItem(atPath: path)[.size] as? Int) ?? -1 }

    @Test(arguments: [(ENOSPC, "No space left on device"), (EIO, "Input/output error"), (EDQUOT, "Disk quota exceeded")])
    func aFailedAppendLeavesNoTornRecordAndLaterAppendsContinue(err: Int32, text: String) throws {
        let path = NSTemporaryDirectory() + "tapedeck-wf-\(UUID().uuidString).jsonl.gz"
        defer { try? FileManager.default.removeItem(atPath: path) }
        let fault = Fault()
        let w = try CassetteWriter(path: path, existingRecords: 0) { fault.write($0, $1, $2) }
        try w.append(sampleExchange(1))
        try w.append(sampleExchange(2))
        let before = size(path)
        fault.plan.withLock { $0 = (allow: 37, errno: err) }  // a partial record, then the failure
        #expect {
            try w.append(sampleExchange(3))
        } throws: { error in
            "\(error)".contains(path) && "\(error)".contains(text) && "\(error)".contains("are not in the file")
        }
        #expect(size(path) == before, "the partial record was cut off")
        #expect(w.lastError?.contains(text) == true)
        fault.plan.withLock { $0 = nil }  // space is back
        try w.append(sampleExchange(4))
        #expect(w.lastError == nil)
        w.close()
        let r = try CassetteReader(path: path)
        #expect(r.entries.map(\.seq) == [1, 2, 3])
        #expect(try r.allExchanges().map(\.request.url) == [1, 2, 4].map { sampleExchange($0).request.url })
        #expect(try CassetteRepair.repair(path: path) == 0, "nothing to repair: every acknowledged record is intact")
    }

    /// Group commit: a batch large enough to be compressed on every core lands in order, numbered and
    /// indexed as one-by-one appends would be; a batch whose write fails leaves none of its records.
    @Test func aBatchIsWrittenWhole() throws {
        let path = NSTemporaryDirectory() + "tapedeck-wfb-\(UUID().uuidString).jsonl.gz"
        defer { try? FileManager.default.removeItem(atPath: path) }
        let fault = Fault()
        let w = try CassetteWriter(path: path) { fault.write($0, $1, $2) }
        try w.append(sampleExchange(0))
        let batch = (1...300).map { sampleExchange($0) }
        #expect(batch.count >= CassetteWriter.parallelBatch)
        let entries = try w.append(contentsOf: batch)
        #expect(entries.map(\.seq) == Array(2...301))
        let before = size(path)
        fault.plan.withLock { $0 = (allow: 5000, errno: ENOSPC) }  // some whole records and a partial one
        #expect(throws: CassetteError.self) { try w.append(contentsOf: (400..<500).map { sampleExchange($0) }) }
        #expect(size(path) == before, "none of the failed batch is left")
        fault.plan.withLock { $0 = nil }
        try w.append(contentsOf: [sampleExchange(999)])
        w.close()
        let r = try CassetteReader(path: path)
        #expect(
            Array(r.entries.prefix(301)) == [
                CassetteReader.Entry(seq: 1, key: r.entries[0].key, offset: r.entries[0].offset, length: r.entries[0].length)
            ] + entries)
        #expect(try r.allExchanges().map(\.request.url) == ([0] + Array(1...300) + [999]).map { sampleExchange($0).request.url })
    }

    @Test func aWriteThatMakesNoProgressIsAnErrorNotALoop() throws {
        let path = NSTemporaryDirectory() + "tapedeck-wf0-\(UUID().uuidString).jsonl.gz"
        defer { try? FileManager.default.removeItem(atPath: path) }
        let fault = Fault()
        let w = try CassetteWriter(path: path) { fault.write($0, $1, $2) }
        fault.plan.withLock { $0 = (allow: 0, errno: 0) }
        #expect(throws: CassetteError.self) { try w.append(sampleExchange(1)) }
    }

    @Test func aCassetteRemovedOrReplacedWhileRecordingIsReported() throws {
        let dir = NSTemporaryDirectory() + "tapedeck-gone-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = dir + "/c.jsonl.gz"
        let w = try CassetteWriter(path: path)
        try w.append(sampleExchange(1))
        try FileManager.default.removeItem(atPath: path)
        #expect { try w.checkUsable() } throws: { "\($0)".contains("was removed") }
        #expect { try w.append(sampleExchange(2)) } throws: { "\($0)".contains("was removed") }
        _ = FileManager.default.createFile(atPath: path, contents: Data("someone else's".utf8))
        #expect { try w.append(sampleExchange(3)) } throws: { "\($0)".contains("was replaced") }
        #expect(try String(contentsOfFile: path, encoding: .utf8) == "someone else's", "the new file is left alone")
    }
}
