import Cassette
import CloudModel
import CloudSim
import Foundation
import LoadGen
import Logging
import NIOCore
import NIOPosix
import Proxy
import TapedeckHTTP

/// `tapedeck demo`: the whole product on its built-in data, no cloud account needed. Starts the simulator,
/// records a signed SDK-shaped session of both clouds through the proxy, stops the simulator, replays the
/// session offline and checks every answer byte for byte, then load-tests the replaying proxy and the
/// simulator and writes the cassette and an HTML report to `outputDirectory`.
public struct Demo {
    public var outputDirectory: String
    public var groups = 20_000
    public var seed: UInt64 = 1
    public var loadDuration: TimeAmount = .seconds(3)
    public var connections = 16

    public init(outputDirectory: String) { self.outputDirectory = outputDirectory }

    /// Creates the output folder (and its parents), or says in a sentence why it cannot be used.
    static func makeFolder(_ path: String) throws {
        var st = stat()
        if stat(path, &st) == 0 {
            guard st.st_mode & S_IFMT == S_IFDIR else {
                let kind = st.st_mode & S_IFMT == S_IFIFO ? "a FIFO" : st.st_mode & S_IFMT == S_IFREG ? "a file" : "not a folder"
                throw Failure(description: "--out \(path) is \(kind); name a folder (it is created if missing)")
            }
        } else {
            // mkdir -p, one level at a time, so a failure names its level and the system's reason.
            var prefix = path.hasPrefix("/") ? "/" : ""
            for part in path.split(separator: "/") {
                prefix += (prefix.isEmpty || prefix.hasSuffix("/") ? "" : "/") + part
                if mkdir(prefix, 0o755) != 0 && errno != EEXIST {
                    throw Failure(
                        description: "--out \(path): cannot create \(prefix) (\(String(cString: strerror(errno)))); choose a folder you can write")
                }
            }
        }
        guard access(path, W_OK | X_OK) == 0 else {
            throw Failure(description: "--out \(path) is not writable by this user; choose a folder you can write")
        }
    }

    public struct Failure: Error, CustomStringConvertible { public var description: String }

    /// Runs the demo, printing progress with `say`; returns normally only if every step passed.
    public func run(say: @escaping @Sendable (String) -> Void) async throws {
        try Demo.makeFolder(outputDirectory)
        let cassette = outputDirectory + "/session.jsonl.gz"
        try? FileManager.default.removeItem(atPath: cassette)
        var quiet = Logger(label: "tapedeck.demo")
        quiet.logLevel = .critical
        try await steps(cassette: cassette, quiet: quiet, say: say)
    }

    /// Runs `body` with a simulator serving `simulator`, started and stopped as `tapedeck simulate` is.
    private func withSimulator<T>(_ simulator: Simulator, quiet: Logger, _ body: (String) async throws -> T) async throws -> T {
        var conf = SimulatorConfiguration()
        conf.host = "127.0.0.1"
        conf.port = 0
        conf.threads = 2
        return try await withRunning(
            { ready in SimulatorServer(simulator: simulator, configuration: conf, logger: quiet) { a, tls in ready(a.url(tls: tls)) } },
            logger: quiet, body)
    }

    /// Runs `body` with a proxy, started and stopped (drained, cassette flushed) as `tapedeck proxy` is.
    private func withProxy<T>(_ conf: ProxyConfiguration, quiet: Logger, _ body: (Int) async throws -> T) async throws -> T {
        var conf = conf
        conf.host = "127.0.0.1"
        conf.port = 0
        conf.threads = 2
        return try await withRunning(
            { ready in ProxyServer(configuration: conf, logger: quiet) { a in ready(a.port ?? 0) } }, logger: quiet, body)
    }

    private func steps(cassette: String, quiet: Logger, say: @escaping @Sendable (String) -> Void) async throws {
        let data = SyntheticDataSet(groups: groups, seed: seed)
        let started = Date()

        // 1. Simulator.
        let simulator = await Simulator.synthetic(data, clock: SimulatorClock(fixedTime: SyntheticDataSet.epoch, seed: seed))
        let popularA = (0..<5).map { simulator.aliyun.store.generatedID(of: UInt32($0)) }
        let popularH = (0..<2).map { simulator.huawei.store.generatedID(of: UInt32($0)) }
        let project = simulator.huawei.store.ownerID
        let recorded = try await withSimulator(simulator, quiet: quiet) { simURL in
            say("✓ simulator on \(simURL): \(groups) groups per cloud (seed \(seed))")

            // 2. Record the session through the proxy.
            var recConf = ProxyConfiguration(cassettePath: cassette, caDirectory: outputDirectory + "/ca")
            recConf.mode = .record
            recConf.upstream = simURL
            let recorded = try await withProxy(recConf, quiet: quiet) { port in
                var session = DemoSession(port: port, huaweiProject: project)
                try await session.run(popularAliyun: popularA, popularHuawei: popularH)
                return session
            }
            // Counted in the file, not by the answers: a full disk answers every call (503/500) and records none.
            let inFile = (try? CassetteReader(path: cassette).entries.count) ?? 0
            guard inFile == recorded.steps.count else {
                let refusal = recorded.steps.first { $0.status >= 500 }.map { "\($0.status) \(String(decoding: $0.body.prefix(300), as: UTF8.self))" }
                throw Failure(
                    description: "recording failed: \(cassette) holds \(inFile) of \(recorded.steps.count) calls\(refusal.map { "; the proxy answered \($0)" } ?? "")")
            }
            say("✓ recorded \(recorded.steps.count) signed calls (Alibaba RPC + ACS3, Huawei) into \(cassette)")
            return recorded
        }
        // 3. The simulator has stopped: from here on, nothing upstream exists.
        say("✓ simulator stopped")

        // 4. Replay offline with fresh signatures, nonces and dates; every answer must be byte-identical.
        var repConf = ProxyConfiguration(cassettePath: cassette, caDirectory: outputDirectory + "/ca")
        repConf.mode = .replay
        let replayed = try await withProxy(repConf, quiet: quiet) { port in
            var session = DemoSession(port: port, huaweiProject: project)
            try await session.run(popularAliyun: popularA, popularHuawei: popularH)
            return session
        }
        let differing = zip(recorded.steps, replayed.steps).filter { $0 != $1 }
        guard differing.isEmpty, recorded.steps.count == replayed.steps.count else {
            throw Failure(
                description:
                    "replay differs from the recording in \(differing.count) call(s): \(differing.map { $0.0.label }.joined(separator: ", "))"
            )
        }
        say("✓ replayed offline: \(replayed.steps.count)/\(recorded.steps.count) answers byte-identical")
        let secrets = try SecretScanner.scan(
            path: cassette, secrets: [("secret", DemoSession.accessKeySecret), ("key id", DemoSession.accessKeyID)])
        guard secrets.isEmpty else { throw Failure(description: "credentials reached the cassette: \(secrets)") }
        say("✓ no credential in the cassette (signatures, key ids and Authorization redacted)")

        // 5. Load: the replaying proxy (cycling the session) and a fresh simulator (verified queries).
        var loadRepConf = repConf
        loadRepConf.onExhausted = .cycle
        let replayReport = try await withProxy(loadRepConf, quiet: quiet) { port in
            let repTarget = LoadTarget(url: "http://127.0.0.1:\(port)")!
            var repLoad = LoadConfiguration(target: repTarget)
            repLoad.connections = connections
            repLoad.duration = loadDuration
            repLoad.verify = true
            let replayRequests = try CassetteSource.requests(path: cassette, target: repTarget).requests
            return try await LoadRunner(configuration: repLoad, requests: replayRequests).run()
        }
        let fresh = await Simulator.synthetic(data, clock: SimulatorClock(fixedTime: SyntheticDataSet.epoch, seed: seed))
        let simReport = try await withSimulator(fresh, quiet: quiet) { simURL in
            let simTarget = LoadTarget(url: simURL)!
            var simLoad = LoadConfiguration(target: simTarget)
            simLoad.connections = connections
            simLoad.duration = loadDuration
            simLoad.verify = true
            return try await LoadRunner(
                configuration: simLoad, requests: await SyntheticSource.requests(dataSet: data, target: simTarget)
            ).run()
        }

        say("")
        say("load, closed loop, \(connections) connections, \(loadDuration.nanoseconds / 1_000_000_000) s each (latency in µs):")
        say("  target                        req/s       p50       p90       p99     p99.9       max   verified")
        for (name, r) in [("replaying proxy (session)", replayReport), ("simulator (synthetic mix)", simReport)] {
            let bad = r.result.verifyMismatched.values.reduce(0, +)
            say(
                "  " + name.padding(toLength: 26, withPad: " ", startingAt: 0)
                    + [
                        String(Int(r.throughput)), String(r.latency(50)), String(r.latency(90)), String(r.latency(99)),
                        String(r.latency(99.9)),
                        String(r.result.corrected.max),
                    ].map { $0.leftPadded(10) }.joined()
                    + "   \(r.result.verifyChecked - bad)/\(r.result.verifyChecked)")
        }
        say("")
        say("percentile spectrum, simulator:")
        for p in [50.0, 75, 90, 99, 99.9, 99.99, 99.999, 100] {
            say("  p\(p)".padding(toLength: 12, withPad: " ", startingAt: 0) + "\(simReport.latency(p)) µs")
        }

        let html = outputDirectory + "/report.html"
        try HTMLReport.render(title: "tapedeck demo", reports: [("replaying proxy", replayReport), ("simulator", simReport)])
            .write(toFile: html, atomically: true, encoding: .utf8)
        var combined: [String: Any] = ["replay": replayReport.json, "simulator": simReport.json]
        combined["session"] = ["calls": recorded.steps.count, "identical_on_replay": recorded.steps.count]
        try JSONSerialization.data(withJSONObject: combined, options: [.prettyPrinted, .sortedKeys]).write(
            to: URL(fileURLWithPath: outputDirectory + "/report.json"))
        for (name, r) in [("replay", replayReport), ("simulator", simReport)] {
            let bad = r.result.verifyMismatched.values.reduce(0, +)
            if bad > 0 || r.errorCount > 0 || r.result.completed == 0 {
                throw Failure(
                    description:
                        "\(name) load: \(r.result.completed) completed, \(r.errorCount) errors, \(bad) mismatches \(r.result.mismatchSamples)"
                )
            }
        }
        say("")
        say(
            "✓ wrote \(cassette), \(html) and \(outputDirectory)/report.json in \(String(format: "%.1f", Date().timeIntervalSince(started))) s"
        )
    }
}

extension String {
    func leftPadded(_ n: Int) -> String { count >= n ? self : String(repeating: " ", count: n - count) + self }
}
