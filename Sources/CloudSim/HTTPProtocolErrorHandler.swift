import NIOCore
import NIOHTTP1

/// Answers HTTP the parser rejects: 431 when the header block overflows the parser's own limit, 400 for
/// anything else malformed, always with a JSON body that says what was wrong, then closes. Replaces
/// NIO's `HTTPServerProtocolErrorHandler`, which answers every parser error with an empty 400.
final class HTTPProtocolErrorHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = Never
    typealias OutboundIn = HTTPServerResponsePart
    typealias OutboundOut = HTTPServerResponsePart

    private var responseInFlight = false

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        guard let parserError = error as? HTTPParserError else {
            context.fireErrorCaught(error)
            return
        }
        if !responseInFlight {
            let status: HTTPResponseStatus = parserError == .headerOverflow ? .requestHeaderFieldsTooLarge : .badRequest
            var body = context.channel.allocator.buffer(capacity: 160)
            body.writeString("{\"Code\":\"MalformedHTTPRequest\",\"Message\":\"The request is not valid HTTP/1.1: \(parserError).\"}")
            let headers = HTTPHeaders([("Connection", "close"), ("Content-Type", "application/json;charset=utf-8"),
                                       ("Content-Length", String(body.readableBytes))])
            context.write(wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: status, headers: headers))), promise: nil)
            context.write(wrapOutboundOut(.body(.byteBuffer(body))), promise: nil)
            context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
        }
        context.fireErrorCaught(error)
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        switch unwrapOutboundIn(data) {
        case .head(let h) where h.status.code >= 200: responseInFlight = true
        case .end: responseInFlight = false
        default: break
        }
        context.write(data, promise: promise)
    }
}

/// Closes the connection on any error that reaches the end of the pipeline (the response, if any, was sent).
final class CloseOnErrorHandler: ChannelInboundHandler, Sendable {
    typealias InboundIn = Never
    func errorCaught(context: ChannelHandlerContext, error: Error) { context.close(promise: nil) }
}
