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

    /// Binds and returns the running server channel (for tests and embedding); close it to stop, or begin
    /// `connections`' drain to stop gracefully.
    public func start(on group: EventLoopGroup, connections: ConnectionDrain? = nil) async throws -> Channel {
        let tls: NIOSSLContext?
        if let cert = configuration.tlsCertificatePath, let key = configuration.tlsKeyPath {
            tls = try TLSFiles.serverContext(certificatePath: cert, keyPath: key)
        } else {
            tls = nil
        }
        let simulator = self.simulator, logger = self.logger
        let limits = configuration.limits
        let host = configuration.host, configuredPort = configuration.port
        let bootstrap = ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 1024)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .serverChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    if let connections { try channel.pipeline.syncOperations.addHandler(connections.serverHandler(for: channel)) }
                }
            }
            .childChannelOption(.tcpOption(.tcp_nodelay), value: 1)
            .childChannelOption(.allowRemoteHalfClosure, value: true)  // a client's FIN still gets its answers
            .childChannelOption(.maxMessagesPerRead, value: 16)
            .childChannelInitializer { channel in
                connections?.track(channel)
                return channel.eventLoop.makeCompletedFuture {
                    let sync = channel.pipeline.syncOperations
                    if let tls {
                        let port = channel.localAddress?.port ?? configuredPort
                        try sync.addHandler(PlainHTTPOnTLSPort(advice: "use https://\(host):\(port)"))
                        try sync.addHandler(NIOSSLServerHandler(context: tls))
                    }
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

    /// Serves until graceful shutdown (SIGTERM/SIGINT through the `ServiceGroup`): then stops accepting, lets
    /// every connection finish the answers it is writing (at most the shutdown grace and a second), and
    /// returns; a second signal (cancellation) closes what is still open.
    public func run() async throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: max(1, configuration.threads))
        do { try await serve(on: group) } catch {
            try? await group.shutdownGracefully()  // a port in use or a bad TLS file: no threads left behind
            throw error
        }
        logger.info("stopped")
        // `serve` has returned, so its quiescing helper is gone before the event loops are: it completes a promise
        // when it is released, which must not happen on a loop that has shut down.
        try await group.shutdownGracefully()
    }

    private func serve(on group: EventLoopGroup) async throws {
        let connections = ConnectionDrain(group: group)
        let channel = try await start(on: group, connections: connections)
        logger.info("serving", metadata: ["address": "\(channel.localAddress!)", "threads": "\(configuration.threads)"])
        try await withGracefulShutdownHandler {
            try await channel.closeFuture.get()
        } onGracefulShutdown: {
            connections.begin(on: channel.eventLoop)  // closes the listening socket first; connections finish below
        }
        await connections.waitForConnections(within: configuration.limits.shutdownGrace + .seconds(1), on: channel.eventLoop)
    }
}

extension SocketAddress {
    /// `http://HOST:PORT` (or https) for the listening line.
    public func url(tls: Bool) -> String {
        let host = ipAddress.map { $0.contains(":") ? "[\($0)]" : $0 } ?? "localhost"
        return "\(tls ? "https" : "http")://\(host):\(port ?? 0)"
    }
}
