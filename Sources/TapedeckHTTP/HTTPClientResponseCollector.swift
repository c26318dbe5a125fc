import NIOCore
import NIOHTTP1

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

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

    /// `error`, or a close before any answer when it is a reset or broken pipe before any of the answer arrived:
    /// the server dropping the connection, so a request sent on a pooled connection it had given up is retried.
    public static func closedIfReset(_ error: Error, receivedAny: Bool) -> Error {
        guard !receivedAny, let io = error as? IOError, io.errnoCode == ECONNRESET || io.errnoCode == EPIPE else { return error }
        return HTTPClientFailure.closed(receivedAny: false)
    }

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
/// parser rejects malformed status lines). The cycle and its rules live in `HTTPClientResponseStateMachine`;
/// this handler holds the completion of the exchange in flight and carries out the machine's actions. It
/// completes each exchange exactly once: with the response, a failure, or `abandon`'s error.
public final class HTTPClientResponseCollector: ChannelInboundHandler {
    public typealias InboundIn = HTTPClientResponsePart

    private var machine: HTTPClientResponseStateMachine
    private var completion: ((Result<HTTPClientResponse, Error>) -> Void)?
    /// Called with the failure that made the connection unusable (for logs and TLS diagnosis).
    public var errorHook: ((Error, ChannelHandlerContext) -> Error)?

    public init(maxBody: Int) { machine = HTTPClientResponseStateMachine(maxBody: maxBody) }

    /// Whether the connection may carry another request now.
    public var isReusable: Bool { machine.isReusable }

    /// Whether any part of the response in flight has arrived.
    public var receivedAny: Bool { machine.receivedAny }

    /// Begins an exchange; the promise completes with the whole response or an `HTTPClientFailure`.
    public func start(_ promise: EventLoopPromise<HTTPClientResponse>) { start { promise.completeWith($0) } }

    /// Begins an exchange; `completion` runs once, on the channel's loop, with the whole response or an
    /// `HTTPClientFailure` (a callback, not a future: a forwarding proxy starts one per request).
    public func start(expectsBody: Bool = true, _ completion: @escaping (Result<HTTPClientResponse, Error>) -> Void) {
        if let refused = machine.start(expectsBody: expectsBody) { return completion(.failure(refused)) }
        self.completion = completion
    }

    /// Ends the exchange in flight with `error` (a timeout), if one is in flight; the caller closes the
    /// connection. Whatever arrives after it is not delivered.
    public func abandon(_ error: Error) {
        machine.abandoned()
        complete(.failure(error))
    }

    private func complete(_ result: Result<HTTPClientResponse, Error>) {
        let c = completion
        completion = nil
        c?(result)
    }

    public func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let h): act(machine.head(h), context)
        case .body(var chunk): act(machine.body(&chunk), context)
        case .end: act(machine.end(), context)
        }
    }

    public func channelInactive(context: ChannelHandlerContext) {
        act(machine.closed(), context)
        context.fireChannelInactive()
    }

    public func errorCaught(context: ChannelHandlerContext, error: Error) {
        var e: Error = error
        if error is HTTPParserError { e = HTTPClientFailure.malformed("\(error)") }
        if let errorHook { e = errorHook(e, context) }
        act(machine.failed(e), context)
    }

    private func act(_ action: HTTPClientResponseStateMachine.Action, _ context: ChannelHandlerContext) {
        switch action {
        case .none:
            break
        case .succeed(let response):
            complete(.success(response))
        case .fail(let error):
            complete(.failure(error))
        case .failAndClose(let error):
            complete(.failure(error))
            context.close(promise: nil)
        case .close:
            context.close(promise: nil)
        }
    }
}
