import NIOCore
import NIOHTTP1

/// A complete response read by a client.
public struct HTTPClientResponse: Sendable {
    public var head: HTTPResponseHead
    public var body: ByteBuffer

    public init(head: HTTPResponseHead, body: ByteBuffer) {
        self.head = head
        self.body = body
    }
}

/// Why a client exchange failed before a complete response.
public enum HTTPClientFailure: Error, Sendable, Equatable, CustomStringConvertible {
    /// The connection closed first; `receivedAny` tells whether any of the answer arrived (a retry is safe only if not).
    case closed(receivedAny: Bool)
    case bodyTooLarge(limit: Int)
    /// Bytes arrived that no request asked for: the connection cannot be trusted for the next exchange.
    case unsolicited
    case malformed(String)

    public var description: String {
        switch self {
        case .closed(let any):
            return any ? "the connection closed in the middle of the response" : "the connection closed before any response"
        case .bodyTooLarge(let limit): return "the response body exceeds \(limit) bytes"
        case .unsolicited: return "the server sent bytes no request asked for"
        case .malformed(let why): return "the response is not valid HTTP/1.1: \(why)"
        }
    }
}

/// Collects one response at a time on a kept-alive client connection (after NIO's client codec, whose
/// parser rejects malformed status lines). A connection that receives anything while no request is in
/// flight is poisoned: it is never reused, so stray bytes can never be read as the next exchange's answer.
public final class HTTPClientResponseCollector: ChannelInboundHandler {
    public typealias InboundIn = HTTPClientResponsePart

    enum State {
        case idle
        case awaiting(EventLoopPromise<HTTPClientResponse>, head: HTTPResponseHead?, body: ByteBuffer?, receivedAny: Bool)
        case poisoned
    }

    private var state = State.idle
    private let maxBody: Int
    /// Whether the last response allowed another request on this connection.
    private var lastKeepAlive = false
    /// Called with the failure that made the connection unusable (for logs and TLS diagnosis).
    public var errorHook: ((Error, ChannelHandlerContext) -> Error)?

    public init(maxBody: Int) { self.maxBody = maxBody }

    /// Whether the connection may carry another request now.
    public var isReusable: Bool {
        if case .idle = state { return lastKeepAlive }
        return false
    }

    /// Whether any part of the response in flight has arrived.
    public var receivedAny: Bool {
        if case .awaiting(_, _, _, let any) = state { return any }
        return true
    }

    /// Begins an exchange; the promise completes with the whole response or an `HTTPClientFailure`.
    public func start(_ promise: EventLoopPromise<HTTPClientResponse>) {
        guard case .idle = state else { return promise.fail(HTTPClientFailure.unsolicited) }
        state = .awaiting(promise, head: nil, body: nil, receivedAny: false)
        lastKeepAlive = false
    }

    public func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let part = unwrapInboundIn(data)
        guard case .awaiting(let promise, var head, var body, _) = state else {
            state = .poisoned
            context.close(promise: nil)
            return
        }
        switch part {
        case .head(let h):
            if h.status.code < 200 {  // 1xx: the final answer follows
                state = .awaiting(promise, head: nil, body: nil, receivedAny: true)
                return
            }
            head = h
        case .body(var chunk):
            if (body?.readableBytes ?? 0) + chunk.readableBytes > maxBody {
                return fail(HTTPClientFailure.bodyTooLarge(limit: maxBody), context)
            }
            state = .poisoned  // drop our reference so the append below does not copy
            if body == nil { body = chunk } else { body!.writeBuffer(&chunk) }
        case .end:
            guard let head else { return fail(HTTPClientFailure.malformed("end of response without a head"), context) }
            state = .idle
            lastKeepAlive = head.isKeepAlive
            promise.succeed(HTTPClientResponse(head: head, body: body ?? context.channel.allocator.buffer(capacity: 0)))
            return
        }
        state = .awaiting(promise, head: head, body: body, receivedAny: true)
    }

    public func channelInactive(context: ChannelHandlerContext) {
        if case .awaiting(let promise, _, _, let any) = state { promise.fail(HTTPClientFailure.closed(receivedAny: any)) }
        state = .poisoned
        context.fireChannelInactive()
    }

    public func errorCaught(context: ChannelHandlerContext, error: Error) {
        var e: Error = error
        if error is HTTPParserError { e = HTTPClientFailure.malformed("\(error)") }
        if let errorHook { e = errorHook(e, context) }
        fail(e, context)
    }

    private func fail(_ error: Error, _ context: ChannelHandlerContext) {
        if case .awaiting(let promise, _, _, _) = state { promise.fail(error) }
        state = .poisoned
        context.close(promise: nil)
    }
}
