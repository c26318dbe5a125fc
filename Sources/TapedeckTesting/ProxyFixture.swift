import Cassette
import Matching
import NIOCore
import TapedeckHTTP
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
        // The same service and shutdown path as `tapedeck proxy`: a graceful stop drains and flushes the cassette.
        return try await withRunning(
            { ready in ProxyServer(configuration: conf, logger: quietLogger("tapedeck.proxy"), onStarted: ready) },
            logger: quietLogger("tapedeck.service")
        ) { running in
            let port = running.channel.localAddress?.port ?? 0
            return try await body(TestProxy(url: "http://127.0.0.1:\(port)", port: port, engine: running.engine))
        }
    }
}
