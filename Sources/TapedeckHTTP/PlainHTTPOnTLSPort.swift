import NIOCore

/// In front of a TLS server's handshake: a client that speaks plain HTTP to the HTTPS port (an `http://` URL,
/// an SDK set to HTTP) gets a plain-text 400 that says so, as nginx answers "The plain HTTP request was sent
/// to HTTPS port", instead of a silent close it cannot explain. A TLS handshake (first byte 0x16) passes on
/// untouched; the handler leaves the pipeline after the first read either way.
public final class PlainHTTPOnTLSPort: ChannelInboundHandler, RemovableChannelHandler {
    public typealias InboundIn = ByteBuffer
    public typealias InboundOut = ByteBuffer
    public typealias OutboundOut = ByteBuffer

    private let advice: String
    private var decided = false

    /// `advice`: what to do instead, e.g. "use https://127.0.0.1:8443".
    public init(advice: String) { self.advice = advice }

    public func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !decided else { return context.fireChannelRead(data) }
        let buffer = unwrapInboundIn(data)
        guard let first = buffer.readableBytesView.first else { return }
        decided = true
        // An HTTP request starts with its method's capital letters; a TLS record with 0x16.
        guard first >= UInt8(ascii: "A") && first <= UInt8(ascii: "Z") else {
            context.fireChannelRead(data)
            context.pipeline.syncOperations.removeHandler(context: context, promise: nil)
            return
        }
        let body = "This port speaks HTTPS, and a plain HTTP request was sent to it: \(advice).\n"
        var out = context.channel.allocator.buffer(capacity: 160 + body.utf8.count)
        out.writeString(
            "HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\nContent-Length: \(body.utf8.count)\r\n\r\n")
        out.writeString(body)
        let channel = context.channel
        context.writeAndFlush(wrapOutboundOut(out)).whenComplete { _ in
            // Half-close first so the client reads the answer rather than a reset over its unread request.
            channel.close(mode: .output, promise: nil)
            channel.eventLoop.scheduleTask(in: .milliseconds(500)) { channel.close(promise: nil) }
        }
    }
}
