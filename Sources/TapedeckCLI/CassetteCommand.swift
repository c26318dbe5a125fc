import ArgumentParser
import Cassette
import CloudModel
import Foundation
import Matching

struct CassetteCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cassette",
        abstract: "Inspect and maintain cassettes.",
        subcommands: [
            List.self, Show.self, Verify.self, Diff.self, Repair.self, Scan.self, ExportHAR.self, ImportHAR.self, ImportJSONL.self,
        ]
    )

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "ls",
            abstract: "One line per exchange: seq, status, method, the call (action and ids, or the path), time, profile.")
        @Argument(help: "The cassette file.") var file: String
        func run() throws {
            let r = try CassetteReader(path: file)
            print(
                "# \(file): \(r.entries.count) exchanges, format \(r.header.tapedeck_cassette), created \(r.header.created_at) by \(r.header.tool)"
            )
            for (scope, specs) in (r.header.ignore ?? [:]).sorted(by: { $0.key < $1.key }) {
                print("# ignored in keys\(scope == "*" ? "" : " (\(scope))"): \(specs.joined(separator: ", "))")
            }
            for w in r.header.warnings ?? [] { print("# WARNING: \(w)") }
            for e in try r.allExchanges() {
                print(
                    "\(e.seq)\t\(e.response.status)\t\(e.request.method)\t\(CallSummary.of(e.request))\t\(e.timing.duration_ms) ms\t\(e.profile)"
                )
            }
        }
    }

    struct Show: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Print exchanges as pretty JSON (all, or the given sequence numbers).")
        @Argument(help: "The cassette file.") var file: String
        @Argument(help: "Sequence numbers to show (from `tapedeck cassette ls`); all when none.") var seq: [Int] = []
        func run() throws {
            let r = try CassetteReader(path: file)
            let missing = seq.filter { s in !r.entries.contains { $0.seq == s } }
            guard missing.isEmpty else {
                throw ValidationError(
                    "\(file) has no exchange \(missing.map(String.init).joined(separator: ", ")) (it holds 1 to \(r.entries.count)); see `tapedeck cassette ls \(file)`"
                )
            }
            let e = JSONEncoder()
            e.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
            for entry in r.entries where seq.isEmpty || seq.contains(entry.seq) {
                print(String(decoding: try e.encode(try r.exchange(entry)), as: UTF8.self))
            }
        }
    }

    struct Verify: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Check every record decodes and its key matches its request; exit 1 if not.")
        @Argument(help: "The cassette file.") var file: String
        func run() throws {
            let r = try CassetteReader(path: file, useIndex: false)  // the file itself, not the index (a cache)
            let stale = try CassetteComparison.staleKeys(r)
            for k in stale { print("record \(k.seq): stored key differs from its request's key: \(k.differences.joined(separator: "; "))") }
            let bad = stale.count
            print("\(file): \(r.entries.count) exchanges, \(bad) with a stale key, format \(r.header.tapedeck_cassette)")
            if bad > 0 { throw ExitCode(1) }
        }
    }

    struct Diff: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Compare two cassettes by match key: keys only in one, answers that differ, and ignored parts that differ.",
            discussion: """
                Keys are made with each cassette's recorded ignore rules plus --ignore and --match-config. Requests that match \
                only because an ignored part is left out are listed with that part (`~ KEY: ignored …`). Exit 1 on any difference.
                """)
        @Argument(help: "The first cassette.") var a: String
        @Argument(help: "The second cassette.") var b: String
        @OptionGroup var matching: MatchingOptions
        func run() throws {
            let differences = try CassetteComparison.diff(
                try CassetteReader(path: a), try CassetteReader(path: b), extra: try matching.config())
            for d in differences { print(d) }
            print("\(differences.count) difference(s)")
            if !differences.isEmpty { throw ExitCode(1) }
        }
    }

    struct Repair: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Drop a torn last record (left by a killed writer); with --salvage, keep every valid record of a damaged file.",
            discussion:
                "Without --salvage, damage other than a torn tail is refused (exit 1) with the record and offset named: nothing valid is ever deleted."
        )
        @Argument(help: "The cassette file (changed in place).") var file: String
        @Flag(help: "Rewrite the file with every record that decodes, skipping damaged bytes; the original is kept as FILE.damaged.")
        var salvage = false
        func run() throws {
            if salvage {
                let s = try CassetteRepair.salvage(path: file)
                if s.backup.isEmpty {
                    print("\(file): intact (\(s.kept - 1) exchanges); nothing to salvage")
                    return
                }
                let skipped = s.skipped.map { "\($0.length) bytes at \($0.offset)" }.joined(separator: ", ")
                print(
                    "\(file): kept \(s.kept - 1) exchanges\(skipped.isEmpty ? "" : ", skipped \(skipped)")\(s.headerRebuilt ? "; its header was damaged and was written anew" : "")\(s.headersDropped > 0 ? "; dropped the headers of \(s.headersDropped) cassette(s) joined after the first (their exchanges are kept)" : ""); the original is \(s.backup)"
                )
                return
            }
            let removed = try CassetteRepair.repair(path: file)
            print(removed == 0 ? "\(file): intact" : "\(file): removed \(removed) bytes of a torn last record")
        }
    }

    struct Scan: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Fail if a live secret (plain, percent-encoded or base64) appears in the cassette.")
        @Argument(help: "The cassette file.") var file: String
        @Option(name: .customLong("secret-env"), help: "Environment variable holding a secret (repeatable).") var secretEnv: [String] = []
        func validate() throws {
            if secretEnv.isEmpty {
                throw ValidationError(
                    "nothing to look for: name the environment variables that hold your secrets, e.g. --secret-env ALIBABA_CLOUD_ACCESS_KEY_SECRET"
                )
            }
        }
        func run() throws {
            let env = ProcessInfo.processInfo.environment
            var secrets: [(String, String)] = []
            for name in secretEnv {
                guard let v = env[name], !v.isEmpty else { throw ValidationError("environment variable \(name) is not set") }
                secrets.append((name, v))
            }
            let findings = try SecretScanner.scan(path: file, secrets: secrets)
            for f in findings { print("\(file): \(f)") }
            print("\(file): \(findings.isEmpty ? "no" : String(findings.count)) secret finding(s) for \(secretEnv.joined(separator: ", "))")
            if !findings.isEmpty { throw ExitCode(1) }
        }
    }

    struct ExportHAR: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "export-har", abstract: "Write the cassette as a HAR 1.2 file.")
        @Argument(help: "The cassette file.") var file: String
        @Option(help: "Output .har file.") var out: String
        func validate() throws { try validateOutputPath(out, "--out") }
        func run() throws {
            try writeOutput(try HAR.export(try CassetteReader(path: file).allExchanges()), to: out, "--out")
            print("wrote \(out)")
        }
    }

    struct ImportHAR: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "import-har", abstract: "Build a replayable cassette from a HAR file (browser, mitmproxy).")
        @Argument(help: "The HAR file to read.") var har: String
        @Option(help: "Output cassette (must not exist).") var out: String
        @Option(name: .customLong("redact"), help: "Also redact this header, parameter or JSON field.") var redact: [String] = []
        func validate() throws {
            if redact.contains(where: { $0.trimmingCharacters(in: .whitespaces).isEmpty }) {
                throw ValidationError("--redact needs a header, parameter or JSON field name, got an empty one")
            }
        }

        func run() throws {
            guard !FileManager.default.fileExists(atPath: out) else { throw RunFailure(description: "--out \(out) exists; choose a new file") }
            try validateOutputPath(out, "--out")
            let imported: HAR.Imported
            do {
                imported = try HAR.import(try readInputFile(har, "a HAR file")) {
                    let (key, profile) = RequestKey.of(recorded: $0.request); return (key.string, profile)
                }
            } catch let e as DecodingError {
                throw RunFailure(description: "\(har): not a HAR file: \(FixtureData.describe(e))")
            } catch let e as HAR.Failure {
                throw RunFailure(description: "\(har): \(e)")
            }
            let exchanges = imported.exchanges
            for s in imported.skipped { printLine("left out \(s)") }
            var redactor = Redactor()
            for r in redact { redactor.add(r) }
            try writeNewCassette(out) { w in
                for e in exchanges { try w.append(redactor.redact(e)) }
            }
            print("wrote \(out): \(exchanges.count) exchanges")
        }
    }

    struct ImportJSONL: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "import-jsonl",
            abstract: "Rebuild a cassette from JSON Lines, plain or gzip (e.g. after `zcat cassette.jsonl.gz | jq … | gzip`).",
            discussion: "Keys are recomputed from each request, so edited requests match as edited. Sequence numbers are renumbered.")
        @Argument(help: "JSON Lines file (plain or gzip): an optional header line, then one exchange per line.") var file: String
        @Option(help: "Output cassette (must not exist).") var out: String
        func validate() throws {
            guard !FileManager.default.fileExists(atPath: out) else { return }  // `run` says it exists
            try validateOutputPath(out, "--out")  // an empty name, a missing or read-only folder: said as import-har says it
        }

        func run() throws {
            guard !FileManager.default.fileExists(atPath: out) else { throw RunFailure(description: "--out \(out) exists; choose a new file") }
            let exchanges = try JSONLImport.exchanges(path: file)
            try writeNewCassette(out) { w in
                for var e in exchanges {
                    let (key, profile) = RequestKey.of(recorded: e.request, profile: MatchProfile.named(e.profile))
                    (e.key, e.profile) = (key.string, profile)
                    _ = try w.append(e)
                }
            }
            print("wrote \(out): \(exchanges.count) exchanges")
        }
    }
}

/// Writes a cassette that did not exist: all of it, or nothing (a full disk midway removes the part written,
/// which would otherwise pass `verify` with records missing).
func writeNewCassette(_ path: String, _ body: (CassetteWriter) throws -> Void) throws {
    do {
        let w = try CassetteWriter(path: path)
        defer { w.close() }
        try body(w)
    } catch {
        try? FileManager.default.removeItem(atPath: path)
        try? FileManager.default.removeItem(atPath: path + ".idx")
        throw RunFailure(description: "\(error); nothing was written to \(path)")
    }
}
