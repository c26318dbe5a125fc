import Logging
import NIOCore
import NIOHTTP1
import NIOPosix
import ServiceLifecycle
import TapedeckHTTP

/// The proxy's HTTP/1.1 server as a `Service`: on graceful shutdown it stops accepting, lets in-flight
/// exchanges finish (each is recorded before it is answered), flushes the cassette and returns.
public final class ProxyServer: Service, Sendable {
    public let configuration: ProxyConfiguration
    private let logger: Logger
    private let onListening: @Sendable (SocketAddress) -> Void

    public init(configuration: ProxyConfiguration, logger: Logger = Logger(label: "tapedeck.proxy"),
                onListening: @escaping @Sendable (SocketAddress) -> Void = { _ in }) {
        self.configuration = configuration
        self.logger = logger
        self.onListening = onListening
    }

    /// A started proxy: its channel and engine. Close the channel, then `engine.shutdown()`.
    public struct Running: Sendable {
        public let channel: Channel
        public let engine: ProxyEngine
    }

    public func start(on group: EventLoopGroup) async throws -> Running {
        let engine = try ProxyEngine(configuration: configuration, group: group, logger: logger)
        let authority: CertificateAuthority?
        do { authority = try CertificateAuthority(directory: configuration.caDirectory) } catch {
            logger.warning("TLS interception disabled: cannot set up the CA", metadata: ["dir": "\(configuration.caDirectory)", "error": "\(error)"])
            authority = nil
        }
        let control = ControlAPI(engine: engine)
        let bootstrap = ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 1024)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.tcpOption(.tcp_nodelay), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    let sync = channel.pipeline.syncOperations
                    try sync.addHandler(ByteToMessageHandler(HTTPRequestDecoder(leftOverBytesStrategy: .forwardBytes)), name: "decoder")
                    let responder = ProxyResponder(engine: engine, control: control, authority: authority, tunnel: nil)
                    try sync.addHandler(HTTPServerHandler(responder: responder, limits: engine.configuration.limits))
                }
            }
        let channel = try await ListenError.binding(host: configuration.host, port: configuration.port) {
            try await bootstrap.bind(host: configuration.host, port: configuration.port).get()
        }
        onListening(channel.localAddress!)
        return Running(channel: channel, engine: engine)
    }

    public func run() async throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: max(1, configuration.threads))
        let running = try await start(on: group)
        logger.info("proxying", metadata: ["mode": "\(configuration.mode)", "cassette": "\(configuration.cassettePath)",
                                           "upstream": "\(configuration.upstream ?? "-")", "exchanges": "\(running.engine.status.exchanges)"])
        try await withGracefulShutdownHandler {
            try await running.channel.closeFuture.get()
        } onGracefulShutdown: {
            running.channel.close(promise: nil)
        }
        // In-flight exchanges finish on their connections; give them a moment, then flush and close.
        try? await Task.sleep(for: .milliseconds(200))
        await running.engine.shutdown()
        logger.info("stopped", metadata: ["recorded": "\(running.engine.status.recorded)"])
        try await group.shutdownGracefully()
    }
}
