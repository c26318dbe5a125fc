import CloudModel
import CloudSigning
import CloudSim
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
        conf.limits = limits
        let group = MultiThreadedEventLoopGroup(numberOfThreads: threads)
        let server = SimulatorServer(simulator: simulator, configuration: conf)
        let channel: Channel
        do { channel = try await server.start(on: group) } catch {
            try? await group.shutdownGracefully()
            throw error
        }
        let port = channel.localAddress?.port ?? 0
        let fixture = TestSimulator(url: "http://127.0.0.1:\(port)", port: port, simulator: simulator)
        do {
            let result = try await body(fixture)
            try? await channel.close()
            try? await group.shutdownGracefully()
            return result
        } catch {
            try? await channel.close()
            try? await group.shutdownGracefully()
            throw error
        }
    }
}
