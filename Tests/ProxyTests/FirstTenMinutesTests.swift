import Cassette
import CompressNIO
import Foundation
import NIOCore
import Proxy
import TapedeckHTTP
import TapedeckTesting
import Testing

/// The errors a new user meets first, through the real `tapedeck` executable: each names the flag, file or
/// number that is wrong and what to do, and exits non-zero.
@Suite struct FirstTenMinutesTests {
    /// Runs `tapedeck ARGS` to the end; returns its exit status and everything it printed.
    static func run(_ arguments: [String]) throws -> (status: Int32, output: String) {
        try CommandRunner.run(try UnprivilegedUserTests.binary(), arguments)
    }

    static func tempDir() throws -> String {
        let d = NSTemporaryDirectory() + "tapedeck-cli-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: d, withIntermediateDirectories: true)
        return d
    }

    @Test func portsOutOfRangeAreRefusedNotWrapped() throws {
        for args in [["simulate", "--port", "70000"], ["proxy", "--cassette", "x.jsonl.gz", "--port", "65536"]] {
            let r = try Self.run(args)
            #expect(r.status != 0)
            #expect(r.output.contains("--port must be 0 to 65535"), "\(r.output)")
        }
    }

    @Test func aPortInUseSaysSoAndSuggestsAnother() async throws {
        try await TestSimulator.with(groups: 1) { sim in
            let r = try Self.run(["simulate", "--port", String(sim.port), "--groups", "1"])
            #expect(r.status != 0)
            #expect(r.output.contains("port is in use") && r.output.contains("--port"), "\(r.output)")
        }
    }

    @Test func badCassettePathsAreRefusedAtStart() throws {
        let dir = try Self.tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        #expect(mkfifo(dir + "/fifo", 0o644) == 0)
        let cases: [(String, String)] = [
            (dir, "is a directory"), (dir + "/fifo", "is a FIFO"),
            (dir + "/no/such/dir/c.jsonl.gz", "does not exist; create it"),
        ]
        for (path, message) in cases {
            let r = try Self.run(["proxy", "--port", "0", "--cassette", path, "--mode", "record"])
            #expect(r.status != 0)
            #expect(r.output.contains(message) && r.output.contains(path), "\(r.output)")
        }
        let replay = try Self.run(["proxy", "--port", "0", "--cassette", dir + "/missing.jsonl.gz", "--mode", "replay"])
        #expect(replay.status != 0 && replay.output.contains("record one first"), "\(replay.output)")
    }

    @Test func loadExitsNonZeroWhenNothingCompleted() async throws {
        // A port nothing listens on: bind one, note it, close it.
        let port = try await TestSimulator.with(groups: 1) { $0.port }
        let r = try Self.run(["load", "--target", "http://127.0.0.1:\(port)", "--duration", "300ms", "--connections", "2"])
        #expect(r.status == 1)
        #expect(r.output.contains("no request completed"), "\(r.output)")
    }

    @Test func cassetteCommandsExplainWhatIsMissing() async throws {
        let dir = try Self.tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = dir + "/c.jsonl.gz"
        try await TestSimulator.with(groups: 20) { sim in
            try await TestProxy.with(cassette: path, mode: .record, upstream: sim.url) { proxy in
                _ = try await RawHTTPClient.request("GET", signedRPC([("SecurityGroupId.1", "sg-abc")]), port: proxy.port)
                _ = try await RawHTTPClient.request(
                    "POST", "/", port: proxy.port, headers: [("Content-Type", "application/x-www-form-urlencoded")],
                    body: Array("Action=DescribeSecurityGroups&RegionId=cn-hangzhou&SecurityGroupIds=sg-x".utf8))
            }
        }
        let ls = try Self.run(["cassette", "ls", path])
        #expect(ls.status == 0)
        #expect(ls.output.contains("DescribeSecurityGroupReferences SecurityGroupId.1=sg-abc"), "\(ls.output)")
        #expect(ls.output.contains("DescribeSecurityGroups SecurityGroupIds=sg-x"), "\(ls.output)")
        #expect(!ls.output.contains("Signature="), "signature noise is left out")
        let show = try Self.run(["cassette", "show", path, "7"])
        #expect(show.status != 0 && show.output.contains("has no exchange 7"), "\(show.output)")
        let scan = try Self.run(["cassette", "scan", path])
        #expect(scan.status != 0 && scan.output.contains("--secret-env"), "\(scan.output)")
        let verifyDir = try Self.run(["cassette", "verify", dir])
        #expect(verifyDir.status != 0 && verifyDir.output.contains("is a directory"), "\(verifyDir.output)")
    }

    /// `zcat | jq | gzip` loses the per-record framing: the error names a command that exists, and it rebuilds the cassette.
    @Test func aRecompressedCassetteCanBeImportedAgain() async throws {
        let dir = try Self.tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = dir + "/c.jsonl.gz"
        try await TestSimulator.with(groups: 20) { sim in
            try await TestProxy.with(cassette: path, mode: .record, upstream: sim.url) { proxy in
                for i in 1...3 {
                    _ = try await RawHTTPClient.request("GET", signedRPC([("SecurityGroupId.1", "sg-\(i)")]), port: proxy.port)
                }
            }
        }
        let original = try CassetteReader(path: path).allExchanges()
        // What `zcat c.jsonl.gz | gzip > edited.jsonl.gz` makes: the same lines, one plain gzip member.
        var plain = ByteBuffer()
        for e in original {
            let data = try JSONEncoder().encode(e)
            plain.writeBytes(data)
            plain.writeString("\n")
        }
        let edited = dir + "/edited.jsonl.gz"
        try Data(try plain.compress(with: .gzip()).readableBytesView).write(to: URL(fileURLWithPath: edited))
        let verify = try Self.run(["cassette", "verify", edited])
        #expect(verify.status != 0)
        #expect(verify.output.contains("tapedeck cassette import-jsonl"), "\(verify.output)")
        let rebuilt = dir + "/rebuilt.jsonl.gz"
        let imported = try Self.run(["cassette", "import-jsonl", edited, "--out", rebuilt])
        #expect(imported.status == 0, "\(imported.output)")
        let back = try CassetteReader(path: rebuilt).allExchanges()
        #expect(back.map(\.key) == original.map(\.key))
        #expect(back.map(\.response) == original.map(\.response))
        #expect(try Self.run(["cassette", "verify", rebuilt]).status == 0)
    }

    @Test func helpListsSubcommandsOnceAndDescribesPositionals() throws {
        let root = try Self.run(["--help"])
        #expect(root.output.components(separatedBy: "simulate").count == 2, "\(root.output)")
        let show = try Self.run(["cassette", "show", "--help"])
        #expect(show.output.contains("Sequence numbers to show"), "\(show.output)")
    }
}
