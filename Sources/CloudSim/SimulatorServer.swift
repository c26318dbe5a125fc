import Logging
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOSSL
import ServiceLifecycle
import TapedeckHTTP

/// The simulator's HTTP/1.1 server (keep-alive, pipelined requests answered in order, optional TLS) as a `Service`: `run()` binds,
/// reports the bound address, serves until graceful shutdown, then stops accepting and closes.
public final class SimulatorServer: Service, Sendable {
    public let simulator: Simulator
    public let configuration: SimulatorConfiguration
    private let onListening: @Sendable (SocketAddress, Bool) -> Void
    private let logger: Logger

    /// - Parameter onListening: called once accepting, with the bound address and whether it is TLS.
    public init(
        simulator: Simulator, configuration: SimulatorConfiguration, logger: Logger = Logger(label: "tapedeck.simulate"),
        onListening: @escaping @Sendable (SocketAddress, Bool) -> Void = { _, _ in }
    ) {
        self.simulator = simulator
        self.configuration = configuration
        self.logger = logger
        self.onListening = onListening
    }

    /// Binds and returns the running server channel (for tests and embedding); close it to stop.
    public func start(on group: EventLoopGroup) async throws -> Channel {
        let tls: NIOSSLContext?
        if let cert = configuration.tlsCertificatePath, let key = configuration.tlsKeyPath {
            tls = try TLSFiles.serverContext(certificatePath: cert, keyPath: key)
        } else {
            tls = nil
        }
        let simulator = self.simulator, logger = self.logger
        let limits = configuration.limits
        let bootstrap = ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 1024)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.tcpOption(.tcp_nodelay), value: 1)
            .childChannelOption(.allowRemoteHalfClosure, value: true)  // a client's FIN still gets its answers
            .childChannelOption(.maxMessagesPerRead, value: 16)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    let sync = channel.pipeline.syncOperations
                    if let tls { try sync.addHandler(NIOSSLServerHandler(context: tls)) }
                    let server = HTTPServerHandler(responder: SimulatorResponder(simulator: simulator, logger: logger), limits: limits)
                    try sync.addHandler(RequestLineSniffer())
                    try sync.addHandler(HTTPFastLane(server: server, limits: limits))
                    try sync.addHandler(ByteToMessageHandler(HTTPRequestDecoder(leftOverBytesStrategy: .dropBytes)))
                    try sync.addHandler(server)
                }
            }
        let channel = try await ListenError.binding(host: configuration.host, port: configuration.port) {
            try await bootstrap.bind(host: configuration.host, port: configuration.port).get()
        }
        onListening(channel.localAddress!, tls != nil)
        return channel
    }

    public func run() async throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: max(1, configuration.threads))
        let channel: Channel
        do { channel = try await start(on: group) } catch {
            try? await group.shutdownGracefully()  // a port in use or a bad TLS file: no threads left behind
            throw error
        }
        logger.info("serving", metadata: ["address": "\(channel.localAddress!)", "threads": "\(configuration.threads)"])
        try await withGracefulShutdownHandler {
            try await channel.closeFuture.get()
        } onGracefulShutdown: {
            channel.close(promise: nil)
        }
        logger.info("stopped")
        try await group.shutdownGracefully()
    }
}

extension SocketAddress {
    /// `http://HOST:PORT` (or https) for the listening line.
    public func url(tls: Bool) -> String {
        let host = ipAddress.map { $0.contains(":") ? "[\($0)]" : $0 } ?? "localhost"
        return "\(tls ? "https" : "http")://\(host):\(port ?? 0)"
    }
}
