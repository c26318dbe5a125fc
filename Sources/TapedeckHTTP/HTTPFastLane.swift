import NIOCore
import NIOHTTP1

/// A responder that can also answer a plain request (see `PlainHTTPRequest`) straight from its bytes.
public protocol HTTPFastResponder: HTTPResponder {
    /// The answer to a plain request, or nil to leave the request, and the rest of its connection, to the
    /// full path. It must be the answer `respond(to:context:)` gives the same request.
    mutating func fastResponse(
        method: HTTPMethod, target: UnsafeBufferPointer<UInt8>, headers: PlainHTTPHeaders, context: ChannelHandlerContext
    ) -> HTTPFastAnswer?
}

/// What a fast responder answers a plain request with.
public enum HTTPFastAnswer {
    /// The whole answer as it goes on the wire (head and body, keep-alive, HTTP/1.1: see
    /// `HTTPServerResponse.encoded` and `prependHead`).
    case wire(ByteBuffer)
    /// The answer, framed by the lane as the connection handler frames it.
    case response(HTTPServerResponse)
    /// The answer, later: the connection handler takes the request over as if it had parsed it (later
    /// requests wait for the answer), and the lane steps out.
    case later(EventLoopFuture<HTTPServerResponse>)
}

/// Sits before NIO's `HTTPRequestDecoder` and answers plain requests itself while a connection sends
/// nothing else: no decoder callbacks, no `HTTPHeaders` of `String`s, no request parts through the
/// pipeline. The profile of the simulator's reference query under `wrk` put that machinery at about a
/// sixth of the server's time.
///
/// The first input that is not a complete plain request the responder answers (another method, a body,
/// a request cut across reads, an error to answer) goes on to the decoder, with all that follows on the
/// connection: the lane steps out for good, so requests are answered in order. While it serves, the
/// connection handler behind it is idle and is told of the activity (its idle timer).
public final class HTTPFastLane<Responder: HTTPFastResponder>: ChannelInboundHandler, RemovableChannelHandler {
    public typealias InboundIn = ByteBuffer
    public typealias InboundOut = ByteBuffer
    public typealias OutboundOut = ByteBuffer

    private let server: HTTPServerHandler<Responder>
    private let limits: HTTPServerLimits
    private var needsFlush = false
    private var steppedOut = false
    /// Reused for the heads of `.response` answers, as `HTTPServerHandler` does.
    private var outBuffer = ByteBuffer()

    public init(server: HTTPServerHandler<Responder>, limits: HTTPServerLimits) {
        self.server = server
        self.limits = limits
    }

    public func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !steppedOut else { return context.fireChannelRead(data) }  // (until it has left)
        var input = unwrapInboundIn(data)
        let now = context.eventLoop.now
        var adopted = false
        while input.readableBytes > 0 && !adopted {
            let taken = input.withUnsafeReadableBytes { bytes -> Int? in
                guard let plain = PlainHTTPRequest.parse(bytes, limits: limits) else { return nil }
                let target = UnsafeBufferPointer(rebasing: bytes.bindMemory(to: UInt8.self)[plain.target])
                let answer = server.fastResponse(
                    method: plain.method, target: target, headers: PlainHTTPHeaders(bytes, plain), context: context, now: now)
                switch answer {
                case nil:
                    return nil
                case .wire(let bytes)?:
                    context.write(wrapOutboundOut(bytes), promise: nil)
                case .response(let r)?:
                    if let body = r.frame(into: &outBuffer, method: plain.method, version: .http1_1, keepAlive: true) {
                        context.write(wrapOutboundOut(outBuffer), promise: nil)
                        context.write(wrapOutboundOut(body), promise: nil)
                    } else {
                        context.write(wrapOutboundOut(outBuffer), promise: nil)
                    }
                    HTTPServerResponse.trim(&outBuffer)
                case .later?:
                    adopted = true  // the handler has the request; what follows is its to read
                }
                needsFlush = true
                return plain.length
            }
            guard let taken else { break }
            input.moveReaderIndex(forwardBy: taken)
        }
        guard input.readableBytes > 0 || adopted else { return }
        stepOut(context)
        if input.readableBytes > 0 {
            // A malformed request answered by the full path takes the shape of its own target, not the first one's.
            try? context.pipeline.syncOperations.addHandler(RequestLineSniffer(), position: .after(self))
            context.fireChannelRead(wrapInboundOut(input))
        }
        leave(context)
    }

    public func channelReadComplete(context: ChannelHandlerContext) {
        if needsFlush {
            needsFlush = false
            context.flush()
        }
        context.fireChannelReadComplete()
    }

    /// On a graceful shutdown the connection handler decides what is still answered.
    public func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        guard event is ChannelShouldQuiesceEvent else { return context.fireUserInboundEventTriggered(event) }
        stepOut(context)
        context.fireUserInboundEventTriggered(event)
        leave(context)
    }

    private func stepOut(_ context: ChannelHandlerContext) {
        guard !steppedOut else { return }
        steppedOut = true
        outBuffer = ByteBuffer()
        if needsFlush {
            needsFlush = false
            context.flush()  // the lane's answers go out before any of the full path's
        }
    }

    /// Out of the pipeline once stepped out (a `CONNECT` tunnel's TLS bytes then flow past no lane).
    private func leave(_ context: ChannelHandlerContext) {
        context.pipeline.syncOperations.removeHandler(context: context, promise: nil)
    }
}
