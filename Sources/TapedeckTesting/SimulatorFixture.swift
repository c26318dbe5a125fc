import CloudModel
import CloudSigning
import CloudSim
import Logging
import NIOCore
import NIOPosix
import TapedeckHTTP

/// Starts a simulator in-process on 127.0.0.1, port 0, for tests:
///
/// ```swift
/// try await TestSimulator.with(groups: 100) { sim in
///     // sim.url is "http://127.0.0.1:PORT"; sim.simulator gives the stores and ground truth
/// }
/// ```
public struct TestSimulator: Sendable {
    public let url: String
    public let port: Int
    public let simulator: Simulator

    /// Runs `body` with a started simulator and stops it afterwards, even if `body` throws.
    public static func with<T: Sendable>(
        groups: Int = 100, seed: UInt64 = 1, fixedTime: Int64? = SyntheticDataSet.epoch,
        accessKeys: [String: String] = [:], threads: Int = 1,
        limits: SimulatorConfiguration.Limits = .init(),
        _ body: (TestSimulator) async throws -> T
    ) async throws -> T {
        let clock = SimulatorClock(fixedTime: fixedTime, seed: seed)
        let simulator = await Simulator.synthetic(
            SyntheticDataSet(groups: groups, seed: seed), clock: clock,
            accessKeys: AccessKeyStore(accessKeys))
        return try await with(simulator: simulator, threads: threads, limits: limits, body)
    }

    /// Runs `body` against a given simulator.
    public static func with<T: Sendable>(
        simulator: Simulator, threads: Int = 1, limits: SimulatorConfiguration.Limits = .init(),
        _ body: (TestSimulator) async throws -> T
    ) async throws -> T {
        var conf = SimulatorConfiguration()
        conf.host = "127.0.0.1"
        conf.port = 0
        conf.threads = threads
        conf.limits = limits
        // The same service and shutdown path as `tapedeck simulate`.
        return try await withRunning(
            { ready in
                SimulatorServer(simulator: simulator, configuration: conf, logger: quietLogger("tapedeck.simulate")) { address, _ in
                    ready(address.port ?? 0)
                }
            }, logger: quietLogger("tapedeck.service")
        ) { port in
            try await body(TestSimulator(url: "http://127.0.0.1:\(port)", port: port, simulator: simulator))
        }
    }
}

/// Warnings and errors only: a test run's output stays readable.
func quietLogger(_ label: String) -> Logger {
    var logger = Logger(label: label)
    logger.logLevel = .warning
    return logger
}
