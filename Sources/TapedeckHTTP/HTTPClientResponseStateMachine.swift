import NIOCore
import NIOHTTP1

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// One kept-alive client connection's response cycle as events and actions, with no I/O: the collector
/// feeds it what NIO's client codec produced and does what it answers. Tested without a socket.
///
/// idle → awaiting (`start`) → idle (`end`; reusable if the answer allowed keep-alive) … ; anything that
/// arrives while no request is in flight, an oversized body, a malformed answer, an error or a close
/// poisons the connection for good: it is never reused, so stray bytes can never be read as the next
/// exchange's answer.
public struct HTTPClientResponseStateMachine {
    enum State {
        case idle(keepAlive: Bool)
        case awaiting(head: HTTPResponseHead?, body: ByteBuffer?, receivedAny: Bool)
        case poisoned
    }

    public enum Action {
        case none
        /// Complete the exchange with this response.
        case succeed(HTTPClientResponse)
        /// Fail the exchange in flight (if any) with this error, and close the connection.
        case failAndClose(Error)
        /// Fail the exchange in flight (the connection is already gone).
        case fail(Error)
        /// Close the connection: it received what nobody asked for.
        case close
    }

    private(set) var state = State.idle(keepAlive: false)
    let maxBody: Int
    /// Whether the request in flight can be answered with a body (not a HEAD): only then does an announced
    /// `Content-Length` over `maxBody` fail the exchange at its head, before any of the body is waited for.
    private var expectsBody = true

    public init(maxBody: Int) { self.maxBody = maxBody }

    /// Whether the connection may carry another request now.
    public var isReusable: Bool {
        if case .idle(let keepAlive) = state { return keepAlive }
        return false
    }

    /// Whether any part of the response in flight has arrived (true when nothing is in flight).
    public var receivedAny: Bool {
        if case .awaiting(_, _, let any) = state { return any }
        return true
    }

    /// A request was sent. Refused (`unsolicited`) unless the connection is idle.
    public mutating func start(expectsBody: Bool = true) -> HTTPClientFailure? {
        guard case .idle = state else { return .unsolicited }
        self.expectsBody = expectsBody
        state = .awaiting(head: nil, body: nil, receivedAny: false)
        return nil
    }

    public mutating func head(_ h: HTTPResponseHead) -> Action {
        guard case .awaiting = state else { return poison() }
        // 1xx: the final answer follows.
        state = .awaiting(head: h.status.code < 200 ? nil : h, body: nil, receivedAny: true)
        if expectsBody, h.status.code >= 200, h.status != .noContent, h.status != .notModified,
            let length = h.headers.first(name: "content-length").flatMap({ Int($0.trimmingCharacters(in: .whitespaces)) }), length > maxBody
        {
            state = .poisoned  // refused at its head, as the passthrough lane does, not after the timeout
            return .failAndClose(HTTPClientFailure.bodyTooLarge(limit: maxBody))
        }
        return .none
    }

    public mutating func body(_ chunk: inout ByteBuffer) -> Action {
        guard case .awaiting(let head, var body, _) = state else { return poison() }
        if (body?.readableBytes ?? 0) + chunk.readableBytes > maxBody {
            state = .poisoned
            return .failAndClose(HTTPClientFailure.bodyTooLarge(limit: maxBody))
        }
        state = .poisoned  // drop our reference so the append below does not copy
        if body == nil { body = chunk } else { body!.writeBuffer(&chunk) }
        state = .awaiting(head: head, body: body, receivedAny: true)
        return .none
    }

    /// The exchange in flight was given up (a timeout): the connection is never reused, whatever arrives.
    public mutating func abandoned() {
        state = .poisoned
    }

    public mutating func end() -> Action {
        guard case .awaiting(let head, let body, _) = state else { return poison() }
        guard let head else {
            state = .poisoned
            return .failAndClose(HTTPClientFailure.malformed("end of response without a head"))
        }
        state = .idle(keepAlive: head.isKeepAlive)
        return .succeed(HTTPClientResponse(head: head, body: body ?? ByteBuffer()))
    }

    /// The connection closed.
    public mutating func closed() -> Action {
        defer { state = .poisoned }
        if case .awaiting(_, _, let any) = state { return .fail(HTTPClientFailure.closed(receivedAny: any)) }
        return .none
    }

    /// The pipeline reported an error (a parser error arrives as `HTTPClientFailure.malformed`). A reset before
    /// any of the answer arrived is the server dropping the connection, like a close: reported as one, so a
    /// request sent on a pooled connection the server had already given up is retried once.
    public mutating func failed(_ error: Error) -> Action {
        defer { state = .poisoned }
        guard case .awaiting(_, _, let any) = state else { return .failAndClose(error) }
        return .failAndClose(HTTPClientFailure.closedIfReset(error, receivedAny: any))
    }

    private mutating func poison() -> Action {
        state = .poisoned
        return .close
    }
}
