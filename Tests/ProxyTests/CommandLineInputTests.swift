import Cassette
import Foundation
@testable import LoadGen
import Testing

/// Bad command-line input gets a message that names the flag or file and exits non-zero: never a trap, an
/// allocation failure, a Foundation error dump, or a run that only fails at its end.
@Suite struct CommandLineInputTests {
    static func run(_ arguments: [String], in directory: String? = nil) throws -> (status: Int32, output: String) {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: try UnprivilegedUserTests.binary())
        p.arguments = arguments
        if let directory { p.currentDirectoryURL = URL(fileURLWithPath: directory) }
        let out = Pipe()
        p.standardOutput = out
        p.standardError = out
        try p.run()
        let deadline = Date().addingTimeInterval(20)
        while p.isRunning && Date() < deadline { usleep(20_000) }
        if p.isRunning { p.terminate() }
        p.waitUntilExit()
        return (p.terminationStatus, String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self))
    }

    @Test(arguments: [
        (["simulate", "--port", "0", "--groups", "99999999999999"], "--groups"),
        (["simulate", "--port", "0", "--groups", "-1"], "--groups must be 0 or more"),
        (["simulate", "--port", "-1"], "--port must be 0 to 65535"),
        (["simulate", "--port", "0", "--idle-timeout", "1e300"], "--idle-timeout"),
        (["simulate", "--port", "0", "--idle-timeout", "-1"], "--idle-timeout"),
        (["simulate", "--port", "0", "--max-rps", "0"], "--max-rps"),
        (["simulate", "--port", "0", "--data", "/"], "/ is a folder"),
        (["simulate", "--port", "0", "--data", "/dev/null"], "/dev/null is not a regular file"),
        (["proxy", "--port", "0", "--cassette", "/tmp/x.jsonl.gz", "--upstream-timeout", "1e300"], "--upstream-timeout"),
        (["load", "--target", "http://127.0.0.1:1", "--duration", "0s"], "--duration must be longer than 0"),
        (["load", "--target", "http://127.0.0.1:1", "--json", "/tmp/nodir-\(UUID().uuidString)/"], "ends in /, so it names a folder"),
        (["proxy", "--port", "0", "--cassette", "/tmp/newdir-\(UUID().uuidString)/"], "ends in /, so it names a folder"),
        (["load", "--target", "http://127.0.0.1:1", "--duration", "1e30s"], "--duration"),
        (["load", "--target", "http://127.0.0.1:1", "--rate", "-5"], "--rate must be a positive number"),
        (["load", "--target", "http://127.0.0.1:1", "--connections", "100000000"], "ulimit -n"),
        (["load", "--target", "http://127.0.0.1:1", "--json", "/nonexistent-tapedeck/r.json"], "the folder /nonexistent-tapedeck does not exist"),
        (["load", "--target", "http://127.0.0.1:1", "--json", "/tmp"], "--json /tmp is a directory"),
        (["demo", "--groups", "99999999999999"], "--groups"),
        (["load", "--target", "http://127.0.0.1:1", "--json", "/dev/null"], "--json /dev/null is not a regular file"),
        (["load", "--target", "http://127.0.0.1:1", "--html", ""], "--html needs a file name"),
        (["cassette", "scan", "/dev/null", "--secret-env", "HOME"], "is a device, not a cassette file"),
        (["cassette", "import-har", "/", "--out", "/tmp/tapedeck-never.jsonl.gz"], "/ is a folder; give a HAR file"),
        (["cassette", "import-har", "/dev/null", "--out", "/tmp/tapedeck-never.jsonl.gz"], "/dev/null is not a regular file"),
        (["cassette", "export-har", "/dev/null", "--out", "/nonexistent-tapedeck/x.har"], "the folder /nonexistent-tapedeck does not exist"),
        (["cassette", "import-jsonl", "/dev/null", "--out", ""], "--out needs a file name"),
        (["cassette", "import-jsonl", "/dev/null", "--out", "/nonexistent-tapedeck/x.jsonl.gz"], "--out /nonexistent-tapedeck/x.jsonl.gz: the folder"),
        // NIO stops the process when it cannot make an event loop's file descriptors: refused before that.
        (["simulate", "--port", "0", "--threads", "100000"], "--threads takes at most"),
        (["proxy", "--port", "0", "--cassette", "/tmp/x.jsonl.gz", "--threads", "100000"], "--threads takes at most"),
        (["load", "--target", "http://127.0.0.1:1", "--threads", "100000"], "--threads takes at most"),
        (["load", "--target", "http://127.0.0.1:1", "--start-at", "1e300"], "--start-at takes"),
        (["load", "--target", "http://127.0.0.1:1", "--start-at", "inf"], "--start-at takes"),
        (["load", "--target", "http://127.0.0.1:1", "--start-at", "2999-01-01T00:00:00Z"], "at most a day from now"),
        (["proxy", "--port", "0", "--cassette", "/tmp/x.jsonl.gz", "--redact", ""], "--redact needs a header, parameter or JSON field name"),
        (["cassette", "import-har", "/dev/null", "--out", "/tmp/tapedeck-never.jsonl.gz", "--redact", ""], "--redact needs a header"),
        (["proxy", "--port", "0", "--cassette", "/tmp/x.jsonl.gz", "--upstream", "http://user:pw@127.0.0.1:9"], "--upstream takes no user:password@"),
        (["demo", "--out", ""], "--out needs a folder name"),
        (["load", "--target", "http://127.0.0.1:1", "--speed", "2"], "--speed paces the requests of a --cassette"),
        (["load", "--target", "http://127.0.0.1:1", "--cassette", "/dev/null", "--speed", "2", "--rate", "5"], "choose --speed"),
        (["report", "merge", "/nonexistent-tapedeck.json", "/nonexistent-tapedeck.json"], "No such file or directory; pass a report"),
        (["load", "--target", "http://127.0.0.1:1", "--find-max", "--json", "/tmp/tapedeck-never.json"], "--json applies to a single run"),
        (["load", "--target", "http://127.0.0.1:1", "--find-max", "--verify"], "--verify applies to a single run"),
        (["load", "--target", "http://127.0.0.1:1/a b"], "--target has a space"),
        (["proxy", "--port", "0", "--cassette", "/tmp/x.jsonl.gz", "--cassette-dir", "/dev/null"], "--cassette-dir /dev/null is not a folder"),
        (["cassette", "repair", "/nonexistent-tapedeck/x.jsonl.gz"], "nothing to repair"),
        (["proxy", "--port", "0", "--cassette", "/tmp/x.jsonl.gz", "--ca-dir", "/dev/null/ca"], "--ca-dir /dev/null/ca: cannot create"),
        (["load", "--target", "http://user:pw@127.0.0.1:1/"], "--target takes no user:password@"),
        (["load", "--target", "http://127.0.0.1:1", "--json", "/tmp/tapedeck-same.out", "--html", "/tmp/tapedeck-same.out"], "--json and --html name the same file"),
        (["load", "--target", "http://127.0.0.1:1", "--slo", "p99=1ms"], "--slo is the objective of --find-max"),
        (["load", "--target", "http://127.0.0.1:1", "--arrival", "poisson"], "--arrival poisson shapes an open-loop --rate"),
        (["load", "--target", "http://127.0.0.1:1", "--connections", "2", "--threads", "3"], "--connections 2 is fewer than --threads 3"),
        (["cassette", "import-jsonl", "/nonexistent-tapedeck.jsonl", "--out", "/tmp/tapedeck-never.jsonl.gz"],
         "does not exist; give a JSON Lines file"),
        (["report", "merge", "/tmp", "/tmp"], "/tmp is a folder; pass a report written by tapedeck load --json FILE"),
        (["demo", "--groups", "200", "--seconds", "1", "--out", "/dev/null"], "--out /dev/null is not a folder"),
        (["proxy", "--port", "0", "--cassette", "/tmp/x.jsonl.gz", "--upstream", "http://127.0.0.1:9/some/path?x=1"],
         "would be dropped; use --upstream http://127.0.0.1:9"),
    ])
    func refusedWithAMessageThatNamesIt(_ arguments: [String], _ expected: String) throws {
        let (status, output) = try Self.run(arguments)
        #expect(status != 0 && status < 128, "\(arguments): exit \(status)")
        #expect(output.contains(expected), "\(arguments): \(output)")
        for sign in ["Fatal error", "crashed", "NSCocoaErrorDomain", "DecodingError", "Usage: tapedeck <subcommand>"] {
            #expect(!output.contains(sign), "\(arguments): \(output)")
        }
    }

    /// Writes each text to a file in a fresh folder and runs `arguments(file, folder)`: it must fail, naming
    /// the file and saying what is wrong with it, without a decoder's dump.
    static func refusesEachFile(_ cases: [(text: String, expected: String)], _ arguments: (String, String) -> [String]) throws {
        let dir = NSTemporaryDirectory() + "tapedeck-input-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        for (text, expected) in cases {
            let path = dir + "/input"
            try text.write(toFile: path, atomically: true, encoding: .utf8)
            let (status, output) = try run(arguments(path, dir))
            #expect(status != 0 && output.contains(path) && output.contains(expected), "\(text): \(output)")
            #expect(!output.contains("DecodingError"), "\(output)")
        }
    }

    /// A one-character file name (`--json a`, `--cassette c`) is a file like any other: Foundation's
    /// `deletingLastPathComponent` trapped on it, and the CLI crashed with "Illegal instruction".
    @Test func aOneCharacterFileNameIsAFile() throws {
        let dir = NSTemporaryDirectory() + "tapedeck-onechar-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let (status, output) = try Self.run(["load", "--target", "http://127.0.0.1:1", "--duration", "1s", "--json", "a"], in: dir)
        #expect(status == 1 && !output.contains("crashed"), "\(status): \(output)")
        #expect(FileManager.default.fileExists(atPath: dir + "/a"), "\(output)")
        // `-` is standard output: the JSON report goes there, the text summary to stderr.
        let (stdoutStatus, stdout) = try Self.run(["load", "--target", "http://127.0.0.1:1", "--duration", "1s", "--json", "-"], in: dir)
        #expect(stdoutStatus == 1 && stdout.contains("\"completed\"") && !FileManager.default.fileExists(atPath: dir + "/-"), "\(stdout)")
        let (twoStatus, two) = try Self.run(["load", "--target", "http://127.0.0.1:1", "--json", "-", "--hgrm", "-"], in: dir)
        #expect(twoStatus != 0 && two.contains("only one report can go to standard output"), "\(two)")
        let (lsStatus, ls) = try Self.run(["cassette", "ls", "c"], in: dir)
        #expect(lsStatus == 1 && ls.contains("does not exist"), "\(ls)")
        for (path, directory) in [("c", ""), ("ab", ""), ("/a", "/"), ("a/", ""), ("a/b", "a"), ("/x/y//", "/x"), ("/", "/"), ("x//y", "x")] {
            #expect(CassettePath.directory(of: path) == directory, "\(path)")
        }
    }

    /// A simulator that verifies signatures takes `load --synthetic` signed with its key; signed with another,
    /// every request is refused and the hint says which key the load signed with and how to change it.
    @Test func syntheticLoadSignsWithTheKeyItIsGiven() async throws {
        let dir = NSTemporaryDirectory() + "tapedeck-loadkey-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let sim = try UnprivilegedUserTests.Running(
            [try UnprivilegedUserTests.binary(), "simulate", "--port", "0", "--groups", "500", "--access-key", "AK1:S3cret"], as: false, home: dir)
        defer { sim.stop() }
        let port = try await sim.port()
        let base = ["load", "--target", "http://127.0.0.1:\(port)", "--synthetic", "--groups", "500", "--duration", "1s", "--connections", "2"]
        let (okStatus, ok) = try Self.run(base + ["--access-key", "AK1:S3cret", "--verify"])
        #expect(okStatus == 0 && !ok.contains("401"), "\(ok)")
        // The same key from the environment, out of `ps`.
        let variable = "TAPEDECK_TEST_KEY_\(UInt32.random(in: 0...UInt32.max))"
        setenv(variable, "AK1:S3cret", 1)
        defer { unsetenv(variable) }
        let (envStatus, fromEnv) = try Self.run(base + ["--access-key-env", variable, "--verify"])
        #expect(envStatus == 0 && !fromEnv.contains("401"), "\(fromEnv)")
        let (_, missing) = try Self.run(base + ["--access-key-env", variable + "_NONE"])
        #expect(missing.contains("no such environment variable"), "\(missing)")
        let (badStatus, bad) = try Self.run(base)
        #expect(badStatus == 1 && bad.contains("--access-key ID:SECRET") && bad.contains("tapedeck:tapedeck-secret"), "\(bad)")
        let (usage, misuse) = try Self.run(["load", "--target", "http://127.0.0.1:1", "--access-key", "nocolon", "--synthetic"])
        #expect(usage != 0 && misuse.contains("--access-key takes ID:SECRET"), "\(misuse)")
    }

    /// Ctrl-C during the warm-up says so; it does not blame the target for answering nothing.
    @Test func aStopDuringTheWarmUpSaysSo() async throws {
        let dir = NSTemporaryDirectory() + "tapedeck-warm-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let sim = try UnprivilegedUserTests.Running(
            [try UnprivilegedUserTests.binary(), "simulate", "--port", "0", "--groups", "100"], as: false, home: dir)
        defer { sim.stop() }
        let port = try await sim.port()
        let load = try UnprivilegedUserTests.Running(
            [try UnprivilegedUserTests.binary(), "load", "--target", "http://127.0.0.1:\(port)/__tapedeck/status", "--warmup", "20s",
             "--duration", "5s", "--connections", "1"], as: false, home: dir)
        try await Task.sleep(for: .milliseconds(1500))
        kill(load.process.processIdentifier, SIGINT)
        load.process.waitUntilExit()
        #expect(load.printed.contains("during its --warmup") && !load.printed.contains("is it listening"), "\(load.printed)")
    }

    /// A `--start-at` in the past starts at once and says so (workers given that time are not in step).
    @Test func aStartTimeInThePastIsSaid() throws {
        let (status, output) = try Self.run(["load", "--target", "http://127.0.0.1:1", "--start-at", "1000", "--duration", "1s"])
        #expect(status == 1 && output.contains("--start-at was") && output.contains("starting now"), "\(output)")
    }

    @Test func aHARFileThatIsNotOneSaysWhatIsWrongAndWhere() throws {
        try Self.refusesEachFile([("nope", "not valid JSON"), (#"{"log":{}}"#, "missing \"version\" at log")]) { file, dir in
            ["cassette", "import-har", file, "--out", dir + "/out.jsonl.gz"]
        }
    }

    @Test func aDataFileThatIsNotOneSaysWhatIsWrongAndWhere() throws {
        try Self.refusesEachFile([
            ("", "is empty"), ("nope", "not valid JSON"), ("{}", "missing \"format\""),
            (#"{"format":1,"aliyun":{"groups":[{"name":3}]}}"#, "aliyun.groups[0].name should be String"),
        ]) { file, _ in ["simulate", "--port", "0", "--data", file] }
    }

    /// `report merge` adds reports exactly, so the same report given twice would double every count, and reports
    /// of different targets would mix two measurements under one heading: both are refused with the reason.
    /// No report or export flag writes over a cassette: not the input itself, not another one, not through a
    /// symlink (`export-har X --out X`, `load --cassette X --json X` and `report merge --json X` replaced it).
    @Test func noOutputReplacesACassette() throws {
        let dir = NSTemporaryDirectory() + "tapedeck-overwrite-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let source = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("cassettes/sdk-session.jsonl.gz").path
        let cassette = dir + "/a.jsonl.gz", other = dir + "/b.jsonl.gz"
        try FileManager.default.copyItem(atPath: source, toPath: cassette)
        try FileManager.default.copyItem(atPath: source, toPath: other)
        try FileManager.default.createSymbolicLink(atPath: dir + "/link.har", withDestinationPath: other)
        let before = try Data(contentsOf: URL(fileURLWithPath: cassette)), otherBefore = try Data(contentsOf: URL(fileURLWithPath: other))
        for arguments in [
            ["cassette", "export-har", cassette, "--out", cassette], ["cassette", "export-har", cassette, "--out", other],
            ["cassette", "export-har", cassette, "--out", dir + "/link.har"],
            ["load", "--target", "http://127.0.0.1:9", "--cassette", cassette, "--duration", "1s", "--json", cassette],
            ["load", "--target", "http://127.0.0.1:9", "--cassette", cassette, "--duration", "1s", "--html", other],
            ["report", "merge", dir + "/none.json", "--json", other],
        ] {
            let r = try Self.run(arguments)
            #expect(r.status != 0 && r.output.contains("is a Tapedeck cassette"), "\(arguments): \(r.output)")
        }
        #expect(try Data(contentsOf: URL(fileURLWithPath: cassette)) == before)
        #expect(try Data(contentsOf: URL(fileURLWithPath: other)) == otherBefore)
        let fine = try Self.run(["cassette", "export-har", cassette, "--out", dir + "/out.har"])
        #expect(fine.status == 0, "\(fine.output)")
    }

    @Test func reportMergeRefusesTheSameReportTwiceAndMixedTargets() throws {
        let dir = NSTemporaryDirectory() + "tapedeck-merge-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        func write(_ name: String, _ url: String) throws -> String {
            var r = WorkerResult()
            r.completed = 5
            r.scheduled = 5
            r.sent = 5
            _ = r.corrected.record(100)
            _ = r.uncorrected.record(100)
            let path = dir + "/" + name
            try LoadReport(configuration: LoadConfiguration(target: LoadTarget(url: url)!), result: r, seconds: 1).jsonData()
                .write(to: URL(fileURLWithPath: path))
            return path
        }
        let a = try write("a.json", "http://127.0.0.1:8080/"), b = try write("b.json", "http://127.0.0.1:8080/")
        let other = try write("c.json", "http://127.0.0.1:9090/")
        let ok = try Self.run(["report", "merge", a, b])
        #expect(ok.status == 0 && ok.output.contains("10 completed"), "\(ok.output)")
        let twice = try Self.run(["report", "merge", a, dir + "/./a.json"])
        #expect(twice.status != 0 && twice.output.contains("are the same report"), "\(twice.output)")
        let mixed = try Self.run(["report", "merge", a, other])
        #expect(mixed.status != 0 && mixed.output.contains("different targets"), "\(mixed.output)")
        try FileManager.default.copyItem(atPath: a, toPath: dir + "/copy.json")
        let copied = try Self.run(["report", "merge", a, dir + "/copy.json"])
        #expect(copied.status != 0 && copied.output.contains("hold the same run"), "\(copied.output)")
        let over = try Self.run(["report", "merge", a, b, "--json", b])
        #expect(over.status != 0 && over.output.contains("is one of the reports read"), "\(over.output)")
        #expect(try LoadReport.read(b).result.completed == 5, "the input is untouched")
    }
}
