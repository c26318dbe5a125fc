import NIOCore
import TapedeckHTTP

/// How a simulator server listens. Limits are per request; a request over one is answered with
/// 414 (URI), 431 (headers) or 413 (body), the rest of it read and dropped, and the connection closed.
public struct SimulatorConfiguration: Sendable {
    public var host: String = "127.0.0.1"
    public var port: Int = 8080
    /// Event-loop threads; one is enough for loopback benchmarks, more spread connections.
    public var threads: Int = System.coreCount
    /// PEM certificate chain and key: serve HTTPS instead of HTTP.
    public var tlsCertificatePath: String?
    public var tlsKeyPath: String?
    public var limits = Limits()

    /// Request size limits and the idle timeout (`--idle-timeout`).
    public typealias Limits = HTTPServerLimits

    public init() {}
}
