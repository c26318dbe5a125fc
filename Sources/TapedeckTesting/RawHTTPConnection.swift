import NIOCore
import NIOPosix

/// A raw TCP connection for tests that need to act between bytes: send a request head, wait for
/// `100 Continue`, then send the body; or send a `CONNECT` and read exactly what came back.
public final class RawHTTPConnection: Sendable {
    private let channel: Channel
    /// The handler collecting what arrives; it lives on the channel's loop and is read there.
    private let inbox: NIOLoopBound<Inbox>

    public static func connect(port: Int, host: String = "127.0.0.1") async throws -> RawHTTPConnection {
        let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .channelOption(.allowRemoteHalfClosure, value: true)  // like real clients: keep sending after the server's FIN
            .channelInitializer { ch in ch.eventLoop.makeCompletedFuture { try ch.pipeline.syncOperations.addHandler(Inbox()) } }
            .connect(host: host, port: port).get()
        let inbox = try await channel.eventLoop.submit {
            NIOLoopBound(try channel.pipeline.syncOperations.handler(type: Inbox.self), eventLoop: channel.eventLoop)
        }.get()
        return RawHTTPConnection(channel: channel, inbox: inbox)
    }

    private init(channel: Channel, inbox: NIOLoopBound<Inbox>) {
        self.channel = channel
        self.inbox = inbox
    }

    public func send(_ s: String) async throws { try await send(Array(s.utf8)) }

    public func send(_ bytes: [UInt8]) async throws {
        try await channel.writeAndFlush(ByteBuffer(bytes: bytes))
    }

    /// Everything received so far, once `until` holds for it or the connection closed or `timeout` passed.
    public func received(timeout: TimeAmount = .seconds(5), until: @escaping @Sendable (String) -> Bool) async throws -> String {
        let deadline = NIODeadline.now() + timeout
        while NIODeadline.now() < deadline {
            let (text, closed) = try await channel.eventLoop.submit {
                (String(decoding: self.inbox.value.bytes, as: UTF8.self), self.inbox.value.closed)
            }.get()
            if until(text) || closed { return text }
            try await Task.sleep(for: .milliseconds(10))
        }
        return try await channel.eventLoop.submit { String(decoding: self.inbox.value.bytes, as: UTF8.self) }.get()
    }

    /// Whether the peer has closed the connection.
    public var isClosed: Bool {
        get async throws { try await channel.eventLoop.submit { self.inbox.value.closed }.get() }
    }

    public func close() async { try? await channel.close() }

    /// Half-closes: sends FIN (nothing more will be sent) and keeps reading, like `nc -N` or a client that
    /// shuts down its sending side after its request.
    public func closeOutput() async throws { try await channel.close(mode: .output) }

    private final class Inbox: ChannelInboundHandler {
        typealias InboundIn = ByteBuffer
        var bytes: [UInt8] = []
        var closed = false
        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            bytes += unwrapInboundIn(data).readableBytesView
        }
        func channelInactive(context: ChannelHandlerContext) { closed = true }
        func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
            if case ChannelEvent.inputClosed = event { closed = true }
        }
        func errorCaught(context: ChannelHandlerContext, error: Error) { closed = true; context.close(promise: nil) }
    }
}
