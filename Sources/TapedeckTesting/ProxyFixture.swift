import Cassette
import Matching
import NIOCore
import NIOPosix
import Proxy

/// Starts a recording/replaying proxy in-process on 127.0.0.1, port 0, for tests:
///
/// ```swift
/// try await TestProxy.with(cassette: path, mode: .record, upstream: sim.url) { proxy in
///     // send requests to proxy.port; proxy.engine.status has the counters
/// }
/// ```
public struct TestProxy: Sendable {
    public let url: String
    public let port: Int
    public let engine: ProxyEngine

    public static func with<T: Sendable>(
        cassette: String, mode: ProxyMode, upstream: String? = nil,
        onExhausted: ExhaustedPolicy = .error, caDirectory: String? = nil,
        configure: (inout ProxyConfiguration) -> Void = { _ in },
        _ body: (TestProxy) async throws -> T
    ) async throws -> T {
        var conf = ProxyConfiguration(cassettePath: cassette, caDirectory: caDirectory ?? (cassette + ".ca"))
        conf.host = "127.0.0.1"
        conf.port = 0
        conf.mode = mode
        conf.upstream = upstream
        conf.onExhausted = onExhausted
        conf.threads = 2
        conf.upstreamTimeout = .seconds(5)
        configure(&conf)
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 2)
        let running: ProxyServer.Running
        do { running = try await ProxyServer(configuration: conf).start(on: group) } catch {
            try? await group.shutdownGracefully()
            throw error
        }
        let port = running.channel.localAddress?.port ?? 0
        let proxy = TestProxy(url: "http://127.0.0.1:\(port)", port: port, engine: running.engine)
        func stop() async {
            try? await running.channel.close()
            await running.engine.shutdown()
            try? await group.shutdownGracefully()
        }
        do {
            let r = try await body(proxy)
            await stop()
            return r
        } catch {
            await stop()
            throw error
        }
    }
}
