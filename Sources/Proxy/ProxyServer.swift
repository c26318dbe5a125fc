import Foundation
import Logging
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOExtras
import ServiceLifecycle
import Synchronization
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
        let quiesce: ServerQuiescingHelper
        private let drained = DrainState()
        /// The client connections open now, so a forced stop can close them while the event loops still run.
        let clients: ClientChannels

        /// The drain's completion, once begun (a class: `Running` is a copyable value).
        final class DrainState: Sendable {
            let future = Mutex<EventLoopFuture<Void>?>(nil)
        }

        init(channel: Channel, engine: ProxyEngine, quiesce: ServerQuiescingHelper, clients: ClientChannels) {
            self.channel = channel
            self.engine = engine
            self.quiesce = quiesce
            self.clients = clients
        }

        /// Closes the listening socket and asks every connection to finish the exchange it is in and close
        /// (idle ones close at once). Idempotent.
        func beginDrain() -> EventLoopFuture<Void> {
            drained.future.withLock { d in
                if let d { return d }
                let p = channel.eventLoop.makePromise(of: Void.self)
                quiesce.initiateShutdown(promise: p)
                d = p.futureResult
                return p.futureResult
            }
        }

        /// Waits until every connection has finished (answered and recorded) and closed, at most `bound`, or
        /// until the task is cancelled (a second SIGTERM): whichever comes first. (A task group racing the two
        /// would not do: it waits for all its children, and the drain's future cannot be cancelled.)
        func waitForConnections(within bound: TimeAmount) async {
            let done = beginDrain()
            let ended = channel.eventLoop.makePromise(of: Void.self)  // completed by the first of the three; later ones are no-ops
            done.whenComplete { _ in ended.succeed() }
            let timer = channel.eventLoop.scheduleTask(in: bound) { ended.succeed() }
            await withTaskCancellationHandler {
                try? await ended.futureResult.get()
            } onCancel: {
                ended.succeed()
            }
            timer.cancel()
            guard Task.isCancelled else { return }
            // A forced stop: the connections still open are closed now, while every event loop runs (closed by
            // the group's shutdown instead, each would report to the quiescing helper on a loop already stopped).
            let closed = channel.eventLoop.makePromise(of: Void.self)
            done.whenComplete { _ in closed.succeed() }
            let bound = channel.eventLoop.scheduleTask(in: .seconds(2)) { closed.succeed() }
            engine.abandoning.store(true, ordering: .relaxed)
            for client in clients.all() { client.close(promise: nil) }
            try? await closed.futureResult.get()
            bound.cancel()
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
        let quiesce = ServerQuiescingHelper(group: group)
        let clients = ClientChannels()
        let bootstrap = ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 1024)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .serverChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(quiesce.makeServerChannelHandler(channel: channel))
                }
            }
            .childChannelOption(.tcpOption(.tcp_nodelay), value: 1)
            .childChannelOption(.allowRemoteHalfClosure, value: true)  // a client's FIN still gets its answers
            .childChannelInitializer { channel in
                clients.add(channel)
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
        return Running(channel: channel, engine: engine, quiesce: quiesce, clients: clients)
    }

    /// The accepted connections that are open: added when accepted, removed when closed.
    final class ClientChannels: Sendable {
        private let open = Mutex<[ObjectIdentifier: Channel]>([:])

        func add(_ channel: Channel) {
            let id = ObjectIdentifier(channel)
            open.withLock { $0[id] = channel }
            channel.closeFuture.whenComplete { _ in _ = self.open.withLock { $0.removeValue(forKey: id) } }
        }

        func all() -> [Channel] { open.withLock { Array($0.values) } }
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
