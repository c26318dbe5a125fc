import NIOCore

/// How a simulator server listens. Limits are per request; a request over one is answered with
/// 414 (URI), 431 (headers) or 413 (body) and the connection closed.
public struct SimulatorConfiguration: Sendable {
    public var host: String = "127.0.0.1"
    public var port: Int = 8080
    /// Event-loop threads; one is enough for loopback benchmarks, more spread connections.
    public var threads: Int = System.coreCount
    /// PEM certificate chain and key: serve HTTPS instead of HTTP.
    public var tlsCertificatePath: String?
    public var tlsKeyPath: String?
    public var limits = Limits()

    public struct Limits: Sendable {
        /// Longest request target (path and query), in bytes.
        public var maxURIBytes = 16 * 1024
        /// Largest header block (names and values), in bytes.
        public var maxHeaderBytes = 32 * 1024
        /// Largest body, in bytes.
        public var maxBodyBytes = 1024 * 1024
        public init() {}
    }

    public init() {}
}
