import ArgumentParser
import CloudModel
import CloudSigning
import CloudSim
import Foundation
import Logging
import ServiceLifecycle
import TapedeckHTTP

struct Simulate: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Serve a local Alibaba Cloud ECS and Huawei Cloud VPC v3 security-group API.",
        discussion: """
            Prints `listening on http://HOST:PORT` once it accepts connections, and the Huawei project id to use in paths. \
            Alibaba ECS RPC calls go to `/` (`?Action=DescribeSecurityGroupReferences&…`), Huawei VPC v3 calls to \
            `/v3/{project_id}/vpc/…`.

            Without --access-key any credentials are accepted; with it, signatures are verified.
            """
    )

    @OptionGroup var server: ServerOptions
    @Option(parsing: .unconditional, help: "Port to bind (0 picks a free one).") var port = 8080
    @OptionGroup var dataSet: DataSetOptions
    @Option(help: "Load groups from a JSON data file instead of generating them.") var data: String?
    @Option(name: .customLong("access-key"), help: "ID:SECRET to verify signatures with (repeatable).") var accessKeys: [String] = []
    @Option(
        name: .customLong("access-key-env"),
        help: "Environment variable holding ID:SECRET, like --access-key but kept out of `ps` (repeatable).") var accessKeyEnv: [String] = []
    @Option(help: "Certificate chain (PEM or DER): serve HTTPS.") var tlsCert: String?
    @Option(help: "Private key for --tls-cert (PEM or DER; RSA or EC; PKCS#1, SEC1 or PKCS#8).") var tlsKey: String?
    @Option(help: "Fixed clock for timestamps, e.g. 2026-01-01T00:00:00Z (reproducible bodies).") var fixedClock: String?
    @Option(parsing: .unconditional, help: "Answer at most this many requests per second; the rest get the clouds' throttling errors.") var maxRps: Int?
    @Option(parsing: .unconditional, help: "Close connections idle (or stalled mid-request) this many seconds.") var idleTimeout: Double = 60

    func validate() throws {
        if (tlsCert == nil) != (tlsKey == nil) { throw ValidationError("--tls-cert and --tls-key go together") }
        // Checked before the data set is built (a minute at tens of millions of groups), not after.
        if let cert = tlsCert, let key = tlsKey { _ = try TLSFiles.serverContext(certificatePath: cert, keyPath: key) }
        for k in accessKeys where AccessKeyStore.parsePair(k) == nil { throw ValidationError("--access-key takes ID:SECRET, got '\(k)'") }
        for name in accessKeyEnv {
            guard let value = ProcessInfo.processInfo.environment[name] else {
                throw ValidationError("--access-key-env \(name): no such environment variable; export \(name)=ID:SECRET first")
            }
            guard AccessKeyStore.parsePair(value) != nil else { throw ValidationError("--access-key-env \(name) must hold ID:SECRET") }
        }
        if let c = fixedClock, SimulatorClock.parseISO8601(c) == nil { throw ValidationError("--fixed-clock takes yyyy-MM-ddTHH:mm:ssZ") }
        try validatePort(port)
        try validateSeconds(idleTimeout, "--idle-timeout")
        if let m = maxRps, m < 1 { throw ValidationError("--max-rps must be 1 or more (leave it out for no limit), got \(m)") }
        if data == nil { try validateMemory(groups: dataSet.groups) }
    }

    func run() async throws {
        let logger = bootstrapLogging(level: server.logLevel, label: "tapedeck.simulate")
        let clock = SimulatorClock(fixedTime: fixedClock.flatMap(SimulatorClock.parseISO8601), seed: dataSet.seed)
        var keys = AccessKeyStore()
        for k in accessKeys + accessKeyEnv.compactMap({ ProcessInfo.processInfo.environment[$0] }) {
            guard let (id, secret) = AccessKeyStore.parsePair(k) else { continue }  // (validate() checked each)
            keys.secrets[id] = secret
        }
        let started = ContinuousClock.now
        let simulator: Simulator
        if let data {
            let stores = try FixtureData.decode(try readInputFile(data, "a JSON data file to --data"), file: data)
                .makeStores(seed: dataSet.seed, file: data)
            simulator = Simulator(
                aliyun: stores.aliyun, huawei: stores.huawei, clock: clock, accessKeys: keys, maxRequestsPerSecond: maxRps)
        } else {
            simulator = await Simulator.synthetic(
                SyntheticDataSet(groups: dataSet.groups, seed: dataSet.seed), clock: clock, accessKeys: keys, maxRequestsPerSecond: maxRps)
        }
        logger.info(
            "data ready",
            metadata: [
                "aliyun_groups": "\(simulator.aliyun.store.snapshot().liveCount)",
                "huawei_groups": "\(simulator.huawei.store.snapshot().liveCount)",
                "huawei_project": "\(simulator.huawei.store.ownerID)",
                "elapsed": "\(ContinuousClock.now - started)",
            ])
        var conf = SimulatorConfiguration()
        conf.host = server.host
        conf.port = port
        conf.threads = server.threads
        conf.tlsCertificatePath = tlsCert
        conf.tlsKeyPath = tlsKey
        if let tlsCert {
            for problem in TLSDiagnosis.problemsServing(tlsCert, host: server.host) {
                logger.warning("--tls-cert \(tlsCert) \(problem)")
            }
        }
        conf.limits.idleTimeout = .nanoseconds(Int64(idleTimeout * 1e9))
        raiseFileLimit()
        let simulatorServer = SimulatorServer(simulator: simulator, configuration: conf, logger: logger) { address, tls in
            printListening(address.url(tls: tls))
            printLine("huawei project id: \(simulator.huawei.store.ownerID) (paths: /v3/\(simulator.huawei.store.ownerID)/vpc/...)")
        }
        let group = ServiceGroup(
            configuration: .init(services: [simulatorServer], gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
        try await runServer(group, logger: logger)
    }
}
