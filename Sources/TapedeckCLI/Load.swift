import ArgumentParser
import CloudModel
import CloudSigning
import CloudSim
import Foundation
import LoadGen
import Logging
import NIOCore
import TapedeckHTTP

struct Load: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Send reference-query traffic at a target and report latency (corrected and uncorrected) and throughput.",
        discussion: """
            With --rate R the load is open loop: request i is due at i/R and its latency counts from then, so a \
            stalled server shows in the corrected percentiles (coordinated omission). Without --rate each \
            connection sends when answered (closed loop, the wrk model).

            Ctrl-C ends early and still reports. Exits 1 when no request completed or --verify found a mismatch.
            """
    )

    @Option(help: "Target URL, e.g. http://127.0.0.1:8080 or https://… (plain GET of this URL unless a source is given).") var target:
        String
    @Flag(help: "Generate signed reference queries from the simulator's data set (--groups/--seed).") var synthetic = false
    @OptionGroup(title: "Data set (must match the simulator's)") var dataSet: DataSetOptions
    @Option(
        name: .customLong("access-key"),
        help: "ID:SECRET to sign --synthetic requests with (default tapedeck:tapedeck-secret); a simulator started with --access-key must know it."
    ) var accessKey: String?
    @Option(name: .customLong("access-key-env"), help: "Environment variable holding ID:SECRET, like --access-key but kept out of `ps`.")
    var accessKeyEnv: String?
    @Option(help: "Send the requests of this cassette.") var cassette: String?
    @Option(parsing: .unconditional, help: "Requests per second (open loop).") var rate: Double?
    @Option(help: "Arrival process with --rate: constant or poisson.") var arrival: LoadConfiguration.Arrival = .constant
    @Option(parsing: .unconditional, help: "Connections.") var connections = 32
    @Option(parsing: .unconditional, help: "Event-loop threads.") var threads = 1
    // `.unconditional`: a value such as -1s is this option's (and refused by name), not read as another flag.
    @Option(parsing: .unconditional, help: "Measured duration, e.g. 10s, 500ms, 1m.") var duration = "10s"
    @Option(parsing: .unconditional, help: "Warm-up before measuring.") var warmup = "0s"
    @Option(parsing: .unconditional, help: "Per-request timeout.") var timeout = "2s"
    @Option(parsing: .unconditional, help: "Cassette pacing: X times the recorded speed (instead of --rate).") var speed: Double?
    @Flag(help: "Check each answer against the recording or the data set's ground truth.") var verify = false
    @Option(help: "Write the JSON summary here.") var json: String?
    @Option(help: "Write the HdrHistogram percentile distribution (.hgrm, corrected, ms) here.") var hgrm: String?
    @Option(help: "Write a self-contained HTML report (summary, latency over time, percentile plot) here.") var html: String?
    @Option(help: "Write an HdrHistogram interval log (one compressed histogram per second) here.") var hlog: String?
    @Flag(help: "Step the rate up until the --slo breaks; report the highest sustainable rate.") var findMax = false
    @Option(help: "Service-level objective for --find-max, e.g. p99=5ms or p99.9=20ms.") var slo = "p99=5ms"
    @Option(help: "Start at this time (Unix seconds or ISO 8601), so many workers begin together.") var startAt: String?
    @Option(help: "https targets: a CA certificate (PEM or DER) to trust besides the system store.") var ca: String?
    @Flag(help: "https targets: do not verify the server's certificate (self-signed test servers).") var insecure = false

    /// `--start-at` as Unix seconds: a number or an ISO 8601 time, finite and at most a day ahead (a time in
    /// the past starts now); nil otherwise.
    static func parseStartAt(_ s: String) -> Double? {
        guard let t = Double(s) ?? ISO8601DateFormatter().date(from: s)?.timeIntervalSince1970, t.isFinite, t >= 0 else { return nil }
        return t - Date().timeIntervalSince1970 <= 86_400 ? t : nil
    }

    func validate() throws {
        guard LoadTarget(url: target) != nil else {
            throw ValidationError("--target must be http://host[:port][/path] or https://…, with a port in 1-65535; got '\(target)'")
        }
        if let schemeEnd = target.range(of: "://"), target[schemeEnd.upperBound...].prefix(while: { $0 != "/" && $0 != "?" }).contains("@") {
            throw ValidationError("--target takes no user:password@ (the load generator sends no Authorization header); give http://host:port/path")
        }
        // The path goes on the request line as given: a space or control byte there is not HTTP.
        if let bad = target.unicodeScalars.first(where: { $0.value <= 0x20 || $0.value == 0x7F || $0.value > 0x7E }) {
            throw ValidationError(
                "--target has \(bad.value == 0x20 ? "a space" : String(format: "the character U+%04X", bad.value)), which a request line cannot carry; percent-encode it (a space is %20)")
        }
        if connections < 1 { throw ValidationError("--connections must be 1 or more") }
        try validateThreads(threads)
        if let startAt, Load.parseStartAt(startAt) == nil {
            throw ValidationError(
                "--start-at takes Unix seconds or an ISO 8601 time (like 2026-01-01T12:00:00Z) at most a day from now, got '\(startAt)'")
        }
        for (n, v) in [("duration", duration), ("warmup", warmup), ("timeout", timeout)] where Load.parseTime(v) == nil {
            throw ValidationError("--\(n) takes a time like 10s, 500ms or 1m (at most a year), got '\(v)'")
        }
        for (n, v) in [("duration", duration), ("timeout", timeout)] where Load.parseTime(v) == .zero {
            throw ValidationError("--\(n) must be longer than 0, got '\(v)'")
        }
        if let s = speed, !(s > 0 && s.isFinite) { throw ValidationError("--speed must be a positive number, got \(s)") }
        let outputs = [("--json", json), ("--hgrm", hgrm), ("--html", html), ("--hlog", hlog)]
        for (flag, path) in outputs { try validateOutputPath(path, flag) }
        if outputs.filter({ isStandardOutput($0.1) }).count > 1 {
            throw ValidationError("only one report can go to standard output (-); write the others to files")
        }
        // One file per report: two flags naming the same file would leave only the last written.
        try checkDistinctOutputs(outputs)
        // Each connection is a file descriptor: past the limit, connects fail and nothing is sent.
        let files = fileLimit()
        if connections > files - 64 {
            throw ValidationError(
                "--connections \(connections) needs \(connections + 64) open files (one a connection, 64 kept for the rest), and this user may open \(files) (ulimit -n); lower --connections or raise the limit (ulimit -n in the shell, as its hard limit allows)"
            )
        }
        if synthetic { try validateMemory(groups: dataSet.groups) }
        if synthetic && cassette != nil { throw ValidationError("choose --synthetic or --cassette, not both") }
        if let name = accessKeyEnv {
            guard accessKey == nil else { throw ValidationError("choose --access-key or --access-key-env, not both") }
            guard let value = ProcessInfo.processInfo.environment[name] else {
                throw ValidationError("--access-key-env \(name): no such environment variable; export \(name)=ID:SECRET first")
            }
            guard synthetic else { throw ValidationError("--access-key-env signs --synthetic requests; a cassette's requests are sent as recorded") }
            guard AccessKeyStore.parsePair(value) != nil else { throw ValidationError("--access-key-env \(name) must hold ID:SECRET") }
        }
        if let accessKey {
            guard synthetic else { throw ValidationError("--access-key signs --synthetic requests; a cassette's requests are sent as recorded") }
            guard AccessKeyStore.parsePair(accessKey) != nil else { throw ValidationError("--access-key takes ID:SECRET, got '\(accessKey)'") }
        }
        if findMax {
            for (flag, given) in [("--json", json != nil), ("--html", html != nil), ("--hgrm", hgrm != nil), ("--hlog", hlog != nil), ("--verify", verify)]
            where given {
                throw ValidationError("--find-max steps the rate and prints each step; \(flag) applies to a single run: drop one of them")
            }
        }
        if !findMax && slo != "p99=5ms" { throw ValidationError("--slo is the objective of --find-max; add --find-max") }
        if arrival == .poisson && rate == nil && !findMax { throw ValidationError("--arrival poisson shapes an open-loop --rate; add --rate") }
        if connections < threads {
            throw ValidationError("--connections \(connections) is fewer than --threads \(threads): each thread holds at least one connection")
        }
        if speed != nil && cassette == nil { throw ValidationError("--speed paces the requests of a --cassette at its recorded times; add --cassette FILE or use --rate") }
        if speed != nil && rate != nil { throw ValidationError("choose --speed (the cassette's own pacing) or --rate, not both") }
        if let r = rate, !(r > 0 && r <= 10_000_000) { throw ValidationError("--rate must be a positive number of requests per second (at most 10000000), got \(r)") }
        if findMax && Load.parseSLO(slo) == nil { throw ValidationError("--slo takes pNN=TIME, e.g. p99=5ms") }
    }

    static func parseTime(_ s: String) -> TimeAmount? {
        let units: [(String, Double)] = [("ms", 1e-3), ("us", 1e-6), ("s", 1), ("m", 60)]
        // Non-negative and at most a year: larger values do not fit NIO's 64-bit nanoseconds.
        func time(_ seconds: Double) -> TimeAmount? {
            seconds >= 0 && seconds <= 365 * 86_400 ? .nanoseconds(Int64(seconds * 1e9)) : nil
        }
        for (u, f) in units where s.hasSuffix(u) {
            if let v = Double(s.dropLast(u.count)) { return time(v * f) }
        }
        return Double(s).flatMap(time)
    }

    /// `p99=5ms` → (99, 5000 µs).
    static func parseSLO(_ s: String) -> (Double, UInt64)? {
        let parts = s.split(separator: "=")
        guard parts.count == 2, parts[0].hasPrefix("p"), let p = Double(parts[0].dropFirst()), p > 0, p <= 100,
            let t = parseTime(String(parts[1]))
        else { return nil }
        return (p, UInt64(t.nanoseconds / 1000))
    }

    func findMaxRate(_ base: LoadConfiguration, _ requests: [LoadRequest]) async throws {
        let (p, limit) = Load.parseSLO(slo)!
        // Unbuffered: a Ctrl-C between steps (which ends the process) keeps the steps already measured.
        printLine("find-max: SLO p\(p) ≤ \(Double(limit) / 1000) ms, \(duration) per step")
        let search = RateSearch(percentile: p, limitMicros: limit)
        let best = try await search.run(
            base, requests,
            progress: { step in
                printLine(
                    String(
                        format: "  %8.0f req/s requested: achieved %8.0f, p%g %7.2f ms %@", step.rate, step.achieved, p,
                        Double(step.latencyMicros) / 1000, step.holds ? "✓" : "✗ (SLO broken, or errors)"))
            })
        guard best > 0 else {
            printLine("no rate met the SLO (with no errors and at least 95% of the rate achieved)")
            throw ExitCode(1)
        }
        printLine("highest sustainable rate: \(Int(best)) req/s (p\(p) ≤ \(Double(limit) / 1000) ms)")
    }

    func run() async throws {
        let t = LoadTarget(url: target)!
        var conf = LoadConfiguration(target: t)
        conf.rate = rate
        conf.arrival = arrival
        conf.connections = connections
        conf.threads = threads
        conf.duration = Load.parseTime(duration)!
        conf.warmup = Load.parseTime(warmup)!
        conf.timeout = Load.parseTime(timeout)!
        conf.verify = verify
        conf.seed = dataSet.seed
        conf.tlsCAFile = ca
        conf.tlsInsecure = insecure
        raiseFileLimit()
        let requests: [LoadRequest]
        if synthetic {
            let given = accessKey ?? accessKeyEnv.flatMap { ProcessInfo.processInfo.environment[$0] }
            let key = given.flatMap(AccessKeyStore.parsePair) ?? (SyntheticSource.accessKeyID, SyntheticSource.accessKeySecret)
            requests = await SyntheticSource.requests(
                dataSet: SyntheticDataSet(groups: dataSet.groups, seed: dataSet.seed), target: t, accessKey: key)
        } else if let cassette {
            var (rs, offsets) = try CassetteSource.requests(path: cassette, target: t)
            if let speed {
                // Sent in the order the recording started them (a concurrent recording is stored in completion order).
                let order = offsets.indices.sorted { (offsets[$0], $0) < (offsets[$1], $1) }
                rs = order.map { rs[$0] }
                offsets = order.map { offsets[$0] }
                conf.pacing = offsets
                conf.speed = speed
                conf.rate = nil
            }
            requests = rs
        } else {
            requests = [
                LoadRequest(
                    bytes: ByteBuffer(bytes: HTTPRequestWriter.bytes(method: "GET", target: t.path, host: t.authority)), expectation: nil,
                    kind: "get")
            ]
        }
        if verify {
            let source: TargetProbe.Source =
                synthetic ? .synthetic(groups: dataSet.groups, seed: dataSet.seed) : cassette.map { .cassette(path: $0) } ?? .plain
            do { conf.notes = try TargetProbe.check(await TargetProbe.identify(conf), source: source, target: target) } catch {
                FileHandle.standardError.write(Data("tapedeck load: \(error)\n".utf8))
                throw ExitCode(2)
            }
        }
        if let startAt, let t = Load.parseStartAt(startAt) {
            let wait = t - Date().timeIntervalSince1970
            if wait < -1 {
                FileHandle.standardError.write(
                    Data("tapedeck load: --start-at was \(Int((-wait).rounded())) s ago; starting now, so workers given that time are not in step\n".utf8))
            }
            if wait > 0 {
                let when = ISO8601DateFormatter().string(from: Date(timeIntervalSince1970: t))
                FileHandle.standardError.write(Data("tapedeck load: waiting \(Int(wait.rounded(.up))) s, until \(when) (--start-at)\n".utf8))
                try await Task.sleep(for: .milliseconds(Int(wait * 1000)))
            }
        }
        if findMax { return try await findMaxRate(conf, requests) }
        // Ctrl-C or SIGTERM ends the run early through service-lifecycle; the report covers what was measured.
        var logger = Logger(label: "tapedeck.load")
        logger.logLevel = .warning
        let report = try await LoadService.run(LoadRunner(configuration: conf, requests: requests), logger: logger)
        let onStdout = [json, hgrm, hlog, html].contains { isStandardOutput($0) }
        printSummary(report.text, reportsOnStdout: onStdout)
        let speed = conf.speed
        if let pacing = conf.pacing, let last = pacing.last, last / speed + 0.5 < Double(conf.duration.nanoseconds) / 1e9 {
            printSummary(
                String(
                    format: "  note: at --speed %g the cassette's %d requests span %.1f s of the %.1f s run; the achieved rate is over the whole run\n",
                    speed, pacing.count, last / speed, Double(conf.duration.nanoseconds) / 1e9), reportsOnStdout: onStdout)
        }
        try writeOutputs([
            ("--json", json, { try report.jsonData() }),
            ("--hgrm", hgrm, { Data(report.hgrm.utf8) }),
            ("--hlog", hlog, { Data(report.hlog.utf8) }),
            ("--html", html, { Data(HTMLReport.render(title: "tapedeck load → \(target)", reports: [("run", report)]).utf8) }),
        ])
        if report.result.completed == 0 {
            let errors = report.result.errors
            let hint = report.nothingCompletedHint
            FileHandle.standardError.write(
                Data(
                    "tapedeck load: no request completed against \(target) (\(report.result.connectFailures) failed connection attempts, \(report.errorCount) request errors\(errors.isEmpty ? "" : ": " + errors.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", "))); \(hint)\n"
                        .utf8))
            throw ExitCode(1)
        }
        // Some answered, but credentials were refused: said, as when none answers (a wrong --access-key secret).
        let refused = (report.result.statuses[401] ?? 0) + (report.result.statuses[403] ?? 0)
        if refused > 0 {
            FileHandle.standardError.write(
                Data("tapedeck load: \(refused) of \(report.result.sent) requests were refused 401/403; \(report.nothingCompletedHint)\n".utf8))
        }
        if verify && report.result.verifyMismatched.values.reduce(0, +) > 0 { throw ExitCode(1) }
    }
}
