import Foundation
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
    private let onStarted: @Sendable (Running) -> Void

    /// - Parameters:
    ///   - onListening: called once accepting, with the bound address (the CLI's listening line).
    ///   - onStarted: called by `run()` once accepting, with the running proxy (its engine; for `withRunning`).
    public init(
        configuration: ProxyConfiguration, logger: Logger = Logger(label: "tapedeck.proxy"),
        onListening: @escaping @Sendable (SocketAddress) -> Void = { _ in },
        onStarted: @escaping @Sendable (Running) -> Void = { _ in }
    ) {
        self.configuration = configuration
        self.logger = logger
        self.onListening = onListening
        self.onStarted = onStarted
    }

    /// A started proxy: its channel and engine. `drain(within:)` stops it gracefully.
    public struct Running: Sendable {
        public let channel: Channel
        public let engine: ProxyEngine
        let connections: ConnectionDrain

        /// Closes the listening socket and asks every connection to finish the exchange it is in and close
        /// (idle ones close at once). Idempotent.
        func beginDrain() -> EventLoopFuture<Void> { connections.begin(on: channel.eventLoop) }

        /// Waits until every connection has finished (answered and recorded) and closed, at most `bound`, or
        /// until the task is cancelled (a second SIGTERM); a forced stop abandons the exchanges still in flight.
        func waitForConnections(within bound: TimeAmount) async {
            let engine = self.engine
            await connections.waitForConnections(within: bound, on: channel.eventLoop) {
                engine.abandoning.store(true, ordering: .relaxed)
            }
        }

        /// Graceful stop: stop accepting, let in-flight exchanges finish (at most `bound`), flush and close the cassette.
        public func drain(within bound: TimeAmount) async {
            await waitForConnections(within: bound)
            await engine.shutdown()
        }
    }

    public func start(on group: EventLoopGroup) async throws -> Running {
        let engine = try ProxyEngine(configuration: configuration, group: group, logger: logger)
        let authority: CertificateAuthority?
        do {
            let ca = try CertificateAuthority(directory: configuration.caDirectory)
            if let notice = ca.notice { logger.warning("\(notice)") }
            authority = ca
        } catch {
            // Reverse mode needs no CA; CONNECT answers 501 Tapedeck.NoCA until one can be made.
            let why = (error as? CocoaError).flatMap { ($0.userInfo[NSUnderlyingErrorKey] as? NSError)?.localizedDescription } ?? "\(error)"
            logger.warning(
                "HTTPS interception (CONNECT) is off: cannot create or read the CA in \(configuration.caDirectory) (\(why)); fix that, or pass --ca-dir with another folder, to use the proxy as HTTPS_PROXY"
            )
            authority = nil
        }
        let control = ControlAPI(engine: engine)
        let connections = ConnectionDrain(group: group)
        let bootstrap = ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 1024)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .serverChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(connections.serverHandler(for: channel))
                }
            }
            .childChannelOption(.tcpOption(.tcp_nodelay), value: 1)
            .childChannelOption(.allowRemoteHalfClosure, value: true)  // a client's FIN still gets its answers
            .childChannelInitializer { channel in
                connections.track(channel)
                return channel.eventLoop.makeCompletedFuture {
                    let sync = channel.pipeline.syncOperations
                    let responder = ProxyResponder(engine: engine, control: control, authority: authority, tunnel: nil)
                    let server = HTTPServerHandler(responder: responder, limits: engine.configuration.limits)
                    try sync.addHandler(RequestLineSniffer())
                    // Replay's plain requests are answered from their bytes (see ProxyEngine.handlePlain).
                    try sync.addHandler(HTTPFastLane(server: server, limits: engine.configuration.limits))
                    try sync.addHandler(ByteToMessageHandler(HTTPRequestDecoder(leftOverBytesStrategy: .forwardBytes)), name: "decoder")
                    try sync.addHandler(server)
                }
            }
        let channel: Channel
        do {
            channel = try await ListenError.binding(host: configuration.host, port: configuration.port) {
                try await bootstrap.bind(host: configuration.host, port: configuration.port).get()
            }
        } catch {
            await engine.shutdown()
            throw error
        }
        engine.listening(on: channel.localAddress)
        if let address = channel.localAddress { onListening(address) }
        return Running(channel: channel, engine: engine, connections: connections)
    }

    /// Serves until graceful shutdown (SIGTERM/SIGINT through the `ServiceGroup`): then stops accepting,
    /// waits for every in-flight exchange to be answered and recorded (at most `--upstream-timeout` and a
    /// little more), flushes the cassette and returns.
    public func run() async throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: max(1, configuration.threads))
        do { try await serve(on: group) } catch {
            try? await group.shutdownGracefully()
            throw error
        }
        // `serve` has returned, so the quiescing helper is gone before its event loops are: it completes a
        // promise when it is released, which must not happen on a loop that has shut down.
        try await group.shutdownGracefully()
    }

    private func serve(on group: EventLoopGroup) async throws {
        let running = try await start(on: group)
        onStarted(running)
        logger.info(
            "proxying",
            metadata: [
                "mode": "\(configuration.mode)", "cassette": "\(configuration.cassettePath)",
                "upstream": "\(configuration.upstream ?? "-")", "exchanges": "\(running.engine.status.exchanges)",
            ])
        let bound = configuration.upstreamTimeout + configuration.connectTimeout + .seconds(2)
        try await withGracefulShutdownHandler {
            try await running.channel.closeFuture.get()
        } onGracefulShutdown: {
            _ = running.beginDrain()  // closes the listening socket first; connections finish below
        }
        logger.info("draining in-flight exchanges")
        await running.drain(within: bound)
        logger.info("stopped", metadata: ["recorded": "\(running.engine.status.recorded)"])
    }
}
