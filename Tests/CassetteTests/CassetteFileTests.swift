@testable import Cassette
import Foundation
import NIOCore
import Testing

func tempPath(_ name: String) -> String {
    FileManager.default.temporaryDirectory.appendingPathComponent("tapedeck-\(UInt32.random(in: 0...UInt32.max))-\(name)").path
}

func sampleExchange(_ i: Int, key: String? = nil) -> Exchange {
    Exchange(
        seq: 0, key: key ?? "example.com/?Action=Describe&N=\(i)", profile: "generic",
        request: .init(method: "GET", url: "http://example.com/?Action=Describe&N=\(i)", headers: [("Host", "example.com")], body: .empty),
        response: .init(
            status: 200, headers: [("Content-Type", "application/json")],
            body: Body(bytes: Array("{\"n\":\(i),\"pad\":\"\(String(repeating: "x", count: i % 300))\"}".utf8))),
        timing: .init(started_at: "2026-01-01T00:00:00.000Z", duration_ms: 1.5))
}

/// `gzip -dc PATH`, as a plain gzip reader sees a cassette: its exit status and output.
func gunzip(_ path: String) throws -> (Int32, String) {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: "/bin/sh")
    p.arguments = ["-c", "gzip -dc '\(path)'"]
    let out = Pipe()
    p.standardOutput = out
    try p.run()
    let data = out.fileHandleForReading.readDataToEndOfFile()
    p.waitUntilExit()
    return (p.terminationStatus, String(decoding: data, as: UTF8.self))
}

func writeCassette(_ path: String, count: Int) throws {
    let w = try CassetteWriter(path: path)
    for i in 1...count { try w.append(sampleExchange(i)) }
    w.close()
}

@Suite struct CassetteFileTests {
    @Test func roundTripKeepsEveryExchange() throws {
        let path = tempPath("rt.jsonl.gz")
        defer { try? FileManager.default.removeItem(atPath: path) }
        try writeCassette(path, count: 50)
        let r = try CassetteReader(path: path)
        #expect(r.header.tapedeck_cassette == CassetteHeader.currentVersion)
        #expect(r.entries.map(\.seq) == Array(1...50))
        for (i, entry) in r.entries.enumerated() {
            var expected = sampleExchange(i + 1)
            expected.seq = i + 1
            #expect(entry.key == expected.key)
            #expect(try r.exchange(entry) == expected)
        }
    }

    @Test func binaryBodiesAreBase64AndTextStaysText() {
        #expect(Body(bytes: [0, 1, 2, 255]).encoding == .base64)
        #expect(Body(bytes: [0, 1, 2, 255]).bytes == [0, 1, 2, 255])
        #expect(Body(bytes: Array("{\"a\":1}".utf8)) == Body(encoding: .text, data: "{\"a\":1}"))
    }

    @Test func plainGzipReadsItAsJSONLines() throws {
        let path = tempPath("zcat.jsonl.gz")
        defer { try? FileManager.default.removeItem(atPath: path) }
        try writeCassette(path, count: 3)
        let (status, text) = try gunzip(path)
        #expect(status == 0)
        let lines = text.split(separator: "\n")
        #expect(lines.count == 4)
        #expect(lines[0].contains("\"tapedeck_cassette\":\(CassetteHeader.currentVersion)"))
        #expect(lines[1].hasPrefix("{\"key\":\"example.com/?Action=Describe&N=1\""))
        for l in lines { #expect((try? JSONSerialization.jsonObject(with: Data(l.utf8))) != nil) }
    }

    @Test func tornTailNamesFileOffsetAndRecordAndRepairDropsIt() throws {
        let path = tempPath("torn.jsonl.gz")
        defer { try? FileManager.default.removeItem(atPath: path) }
        try writeCassette(path, count: 10)
        let full = try CassetteReader(path: path)
        let last = full.entries.last!
        #expect(truncate(path, off_t(last.offset + last.length - 5)) == 0)
        #expect { try CassetteReader(path: path) } throws: { e in
            guard let e = e as? CassetteError else { return false }
            return e.kind == .tornTail && e.record == 10 && e.offset == last.offset && e.file == path && "\(e)".contains("cassette repair")
        }
        #expect(try CassetteRepair.repair(path: path) == last.length - 5)
        #expect(try CassetteReader(path: path).entries.count == 9)
        // Appending after a repair continues the sequence.
        let w = try CassetteWriter(path: path, existingRecords: 9)
        try w.append(sampleExchange(99))
        w.close()
        #expect(try CassetteReader(path: path).entries.last?.seq == 10)
    }

    @Test func corruptMiddleRecordIsNamed() throws {
        let path = tempPath("corrupt.jsonl.gz")
        defer { try? FileManager.default.removeItem(atPath: path) }
        try writeCassette(path, count: 10)
        let victim = try CassetteReader(path: path).entries[4]
        let fh = try FileHandle(forUpdating: URL(fileURLWithPath: path))
        try fh.seek(toOffset: UInt64(victim.offset + GzipMember.headerSize + 3))
        let byte = try fh.read(upToCount: 1)!
        try fh.seek(toOffset: UInt64(victim.offset + GzipMember.headerSize + 3))
        fh.write(Data([byte[0] ^ 0x5A]))
        try fh.close()
        #expect { try CassetteReader(path: path) } throws: { e in
            (e as? CassetteError).map { $0.kind == .corrupt && $0.record == 5 && $0.offset == victim.offset } ?? false
        }
    }

    @Test func newerFormatIsRefusedClearly() throws {
        let path = tempPath("newer.jsonl.gz")
        defer { try? FileManager.default.removeItem(atPath: path) }
        try writeCassette(path, count: 1)
        // Rewrite the header record with a future version.
        let r = try CassetteReader(path: path)
        let body = try r.exchange(r.entries[0])
        try FileManager.default.removeItem(atPath: path)
        let fd = open(path, O_WRONLY | O_CREAT, 0o644)
        let compressor = try CompressNIOFacade.compressor()
        var header = ByteBuffer(string: "{\"created_at\":\"x\",\"tapedeck_cassette\":99,\"tool\":\"tapedeck 9\"}\n")
        var member = ByteBuffer()
        try GzipMember.encode(header, compressor: compressor, into: &member)
        header.clear()
        _ = member.withUnsafeReadableBytes { write(fd, $0.baseAddress!, $0.count) }
        close(fd)
        _ = body
        #expect { try CassetteReader(path: path) } throws: { e in
            (e as? CassetteError).map { $0.kind == .newerFormat && "\($0)".contains("99") } ?? false
        }
    }

    @Test func notACassetteIsSaidSo() throws {
        let path = tempPath("plain.txt")
        defer { try? FileManager.default.removeItem(atPath: path) }
        try "hello, not gzip".write(toFile: path, atomically: true, encoding: .utf8)
        #expect { try CassetteReader(path: path) } throws: { e in (e as? CassetteError)?.kind == .notACassette }
    }

    @Test func concurrentAppendsAreEachWrittenOnceAndWhole() async throws {
        let path = tempPath("concurrent.jsonl.gz")
        defer { try? FileManager.default.removeItem(atPath: path) }
        let w = try CassetteWriter(path: path)
        await withTaskGroup(of: Void.self) { g in
            for t in 0..<8 {
                g.addTask { for i in 0..<100 { _ = try? w.append(sampleExchange(t * 1000 + i, key: "k-\(t)-\(i)")) } }
            }
        }
        w.close()
        let r = try CassetteReader(path: path)
        #expect(r.entries.count == 800)
        #expect(Set(r.entries.map(\.key)).count == 800)
        #expect(r.entries.map(\.seq) == Array(1...800))
        for e in r.entries { _ = try r.exchange(e) }
    }
}

import CompressNIO
enum CompressNIOFacade {
    static func compressor() throws -> ZlibCompressor { try GzipMember.makeCompressor() }
}

/// Records are never appended to a non-empty file that is not a cassette: notes, a HAR, or a file written at the
/// path after the proxy checked it (they were appended, the file ruined, and the exchange counted as recorded).
@Suite struct AppendOnlyToCassettesTests {
    @Test(arguments: ["my notes, not a cassette\n", "{\"log\":{\"entries\":[]}}", "\u{1F}\u{8B}garbage"])
    func aFileThatIsNotACassetteIsRefusedAndLeftAsItWas(content: String) throws {
        let path = tempPath("notacassette")
        defer { try? FileManager.default.removeItem(atPath: path) }
        try content.write(toFile: path, atomically: false, encoding: .utf8)
        #expect { try CassetteWriter(path: path) } throws: { "\($0)".contains("not a Tapedeck cassette") && "\($0)".contains("nothing was appended") }
        #expect(try String(contentsOfFile: path, encoding: .utf8) == content)
        // A real cassette still opens for appending, and an empty file becomes one.
        let good = tempPath("good")
        defer { try? FileManager.default.removeItem(atPath: good) }
        try CassetteWriter(path: good).close()
        let w = try CassetteWriter(path: good, existingRecords: 0)
        w.close()
    }
}

@Suite struct CRC32Tests {
    @Test func knownVectors() {
        func crc(_ s: String) -> UInt32 { Array(s.utf8).withUnsafeBytes { CRC32.checksum($0) } }
        #expect(crc("") == 0)
        #expect(crc("123456789") == 0xCBF4_3926)
        #expect(crc("The quick brown fox jumps over the lazy dog") == 0x414F_A339)
    }
}

@Suite struct TimestampTests {
    /// Digit by digit, as `String(format:)` with the same fields writes it, for random instants 1970–9999.
    @Test func agreesWithFormattedOutput() {
        var rng = SystemRandomNumberGenerator()
        for _ in 0..<2000 {
            let date = Date(timeIntervalSince1970: Double.random(in: 0..<253_402_300_799, using: &rng))
            let t = date.timeIntervalSince1970
            var secs = time_t(t.rounded(.down))
            var tm = tm()
            gmtime_r(&secs, &tm)
            let expected = String(
                format: "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", Int(tm.tm_year) + 1900, Int(tm.tm_mon) + 1, Int(tm.tm_mday),
                Int(tm.tm_hour), Int(tm.tm_min), Int(tm.tm_sec), min(999, Int((t - Double(secs)) * 1000)))
            #expect(Timestamp.iso8601(date) == expected)
        }
        #expect(Timestamp.iso8601(Date(timeIntervalSince1970: 0)) == "1970-01-01T00:00:00.000Z")
        #expect(Timestamp.iso8601(Date(timeIntervalSince1970: 1_767_225_599.5)) == "2025-12-31T23:59:59.500Z")
    }

    @Test func bodiesWithNULsOrInvalidUTF8AreBase64() {
        #expect(Body(bytes: Array("{\"a\":1}".utf8)) == Body(encoding: .text, data: "{\"a\":1}"))
        #expect(Body(bytes: [0x61, 0, 0x62]).encoding == .base64)
        #expect(Body(bytes: [0x61, 0xC3]).encoding == .base64)
        #expect(Body(bytes: []) == Body(encoding: .text, data: ""))
        #expect(Body(bytes: [0x61, 0, 0x62]).bytes == [0x61, 0, 0x62])
    }
}

@Suite struct GzipMemberTests {
    /// zlib writes the trailer (CRC-32 computed while deflating): the reader's own check agrees with it,
    /// members follow each other in one buffer, and each carries its total length.
    @Test func membersRoundTripAndCarryTheirLength() throws {
        let compressor = try GzipMember.makeCompressor()
        let decompressor = try ZlibDecompressor(algorithm: .deflate)
        var out = ByteBuffer()
        let payloads = ["", "one line\n", String(repeating: "{\"SecurityGroupId\":\"sg-1\"},", count: 500) + "\n"]
        for p in payloads { try GzipMember.encode(ByteBuffer(string: p), compressor: compressor, into: &out) }
        for p in payloads {
            guard case .member(let length) = GzipMember.header(out), let member = out.readSlice(length: length) else {
                Issue.record("no member for \(p.count) bytes"); return
            }
            let decoded = try GzipMember.decode(member, decompressor: decompressor, allocator: ByteBufferAllocator())
            #expect(String(buffer: decoded) == p)
            let crc = Array(p.utf8).withUnsafeBytes { CRC32.checksum($0) }
            #expect(member.getInteger(at: member.writerIndex - 8, endianness: .little, as: UInt32.self) == crc)
        }
        #expect(out.readableBytes == 0)
    }

    /// A raw-deflate compressor would write a member without a trailer: refused, and nothing is appended.
    @Test func aCompressorNotInGzipModeIsRefused() throws {
        var out = ByteBuffer(string: "kept")
        #expect(throws: (any Error).self) {
            try GzipMember.encode(ByteBuffer(string: "x"), compressor: try ZlibCompressor(algorithm: .deflate), into: &out)
        }
        #expect(String(buffer: out) == "kept")
    }
}

@Suite struct ExchangeEncoderTests {
    @Test func matchesJSONEncoderByteForByte() throws {
        var e = sampleExchange(7)
        e.seq = 42
        e.request.body = Body(encoding: .text, data: "a \"quoted\" \\ back/slash\n\t\u{01} é 😀")
        e.response.headers.append(["X-Weird", "tab\there"])
        e.timing.duration_ms = 12.345
        #expect(ExchangeEncoder.encode(e) == (try CassetteCoding.encode(e)))
        e.timing.duration_ms = 3
        #expect(ExchangeEncoder.encode(e) == (try CassetteCoding.encode(e)))
    }

    /// Every ASCII byte (each control byte, quotes and backslashes next to each other, at the start and
    /// the end) and some non-ASCII, in random strings: the same bytes as `JSONEncoder`.
    @Test func matchesJSONEncoderOnRandomText() throws {
        var rng = SystemRandomNumberGenerator()
        let alphabet: [Character] = (0..<128).map { Character(Unicode.Scalar(UInt8($0))) } + ["é", "😀", "\u{2028}"]
        var e = sampleExchange(1)
        for n in 0..<300 {
            let text = String((0..<(n % 40)).map { _ in alphabet.randomElement(using: &rng)! })
            e.request.body = Body(encoding: .text, data: text)
            e.response.body = Body(encoding: .text, data: "\"" + text + "\\")
            e.request.url = "https://x/" + text
            #expect(ExchangeEncoder.encode(e) == (try CassetteCoding.encode(e)), "\(Array(text.utf8))")
        }
    }

    /// Long runs of plain bytes with a byte to escape here and there, at every offset of the eight-byte
    /// words the encoder copies whole: the same bytes as `JSONEncoder`.
    @Test func matchesJSONEncoderOnMostlyPlainText() throws {
        var rng = SystemRandomNumberGenerator()
        let plain: [Character] = Array("abcXYZ019 :,{}[]/é😀")
        let escaped: [Character] = ["\"", "\\", "\n", "\u{01}", "\u{1F}", "\t"]
        var e = sampleExchange(1)
        for n in 0..<400 {
            var chars = (0..<(n % 97)).map { _ in plain.randomElement(using: &rng)! }
            for _ in 0..<Int.random(in: 0...3, using: &rng) where !chars.isEmpty {
                chars[Int.random(in: 0..<chars.count, using: &rng)] = escaped.randomElement(using: &rng)!
            }
            let text = String(chars)
            e.response.body = Body(encoding: .text, data: text)
            #expect(ExchangeEncoder.encode(e) == (try CassetteCoding.encode(e)), "\(Array(text.utf8))")
        }
    }
}

/// `cassette import-jsonl`: JSON Lines edited by hand or by `jq` (the gzip framing gone) come back as
/// exchanges, and a line that is not one is named with what to do, not sent to `repair --salvage`.
@Suite struct JSONLImportTests {
    func lines(_ count: Int) throws -> [String] {
        try (1...count).map { String(decoding: try CassetteCoding.encode(sampleExchange($0)), as: UTF8.self) }
    }

    @Test func plainAndMultiMemberGzipImportEveryLine() throws {
        let header = String(decoding: try CassetteCoding.encode(CassetteHeader(createdAt: "2026-01-01T00:00:00.000Z")), as: UTF8.self)
        let all = try lines(3)
        let plain = tempPath("plain.jsonl")
        defer { unlink(plain) }
        try ([header] + all + [""]).joined(separator: "\n").write(toFile: plain, atomically: true, encoding: .utf8)
        let imported = try JSONLImport.exchanges(path: plain)
        #expect(imported.map(\.key) == (1...3).map { sampleExchange($0).key })
        #expect(imported.map(\.seq) == [1, 2, 3])

        // `cat a.gz b.gz`: two gzip members, one stream to gzip readers.
        let gz = tempPath("two.jsonl.gz")
        defer { unlink(gz) }
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/bin/sh")
        p.arguments = ["-c", "(head -n 2 '\(plain)' | gzip -c; tail -n +3 '\(plain)' | gzip -c) > '\(gz)'"]
        try p.run()
        p.waitUntilExit()
        #expect(try JSONLImport.exchanges(path: gz).map(\.key) == imported.map(\.key))
    }

    @Test func aLineThatIsNotAnExchangeIsNamedWithTheFix() throws {
        let path = tempPath("bad.jsonl")
        defer { unlink(path) }
        let all = try lines(2)
        try [all[0], #"{"key": "half an edit""#, all[1]].joined(separator: "\n").write(toFile: path, atomically: true, encoding: .utf8)
        do {
            _ = try JSONLImport.exchanges(path: path)
            Issue.record("a broken line imported")
        } catch {
            let message = "\(error)"
            #expect(message.contains(path) && message.contains("line 2 is not an exchange"), "\(message)")
            #expect(message.contains("correct or delete that line"), "\(message)")
            #expect(!message.contains("salvage"), "edited text is not damaged compression: \(message)")
        }
    }

    @Test func aMissingInputIsNamed() {
        #expect(throws: CassetteError.self) { try JSONLImport.exchanges(path: "/nonexistent-tapedeck/x.jsonl") }
    }
}
