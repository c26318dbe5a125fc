import NIOCore
import NIOHTTP1

/// One server connection's request cycle as events and actions, with no I/O: the handler feeds it what
/// the decoder produced and does what it answers. Tested without a socket.
///
/// idle → receiving (head) → responding (end) → idle (answer sent, keep-alive) … ; a request over a limit,
/// malformed, or too slow is answered with an error and the connection goes to lingering: the rest of
/// the input is read and dropped (up to a bound) so the client sees the answer instead of a reset.
/// A responder may take the connection over (the proxy's `CONNECT`): responding → handingOver (its `200`
/// is being written; input waits) → handedOver (the responder rebuilt the pipeline; this machine is done).
public struct HTTPServerConnectionStateMachine {
    enum State {
        /// Waiting for a request head.
        case idle
        /// Collecting a request's body.
        case receiving(HTTPRequestHead, ByteBuffer?)
        /// A request is with the responder; further pipelined input waits.
        case responding(HTTPRequestHead, closeAfter: Bool)
        /// An error was answered; input is dropped until EOF, `lingerBytes` or `lingerTime`.
        case lingering(discarded: Int)
        /// The responder takes the connection over once its answer is written; `quiescing` closes it instead.
        case handingOver(quiescing: Bool)
        /// The pipeline was rebuilt by the responder: nothing here applies any more.
        case handedOver
        case closed
    }

    public enum Action {
        case none
        /// Write `100 Continue`: the client waits for it before sending the body.
        case sendContinue
        /// Hand the complete request to the responder.
        case deliver(HTTPServerRequest)
        /// Keep this input for later (a response is still being produced) and stop reading.
        case hold
        /// Answer with this error, `Connection: close`, then half-close and linger.
        case reject(HTTPServerRejection)
        /// Give the connection to the responder (it rebuilds the pipeline), and resume reading there.
        case handOver
        case close
    }

    let limits: HTTPServerLimits
    private(set) var state = State.idle
    /// The server is shutting down gracefully (a hand-over then closes instead of opening a tunnel).
    private(set) var quiescing = false
    /// The client half-closed (FIN): what it sent is answered, then the connection closes.
    public private(set) var inputEnded = false

    public init(limits: HTTPServerLimits) { self.limits = limits }

    /// Whether the connection waits for client input (the idle timeout applies) rather than for an answer.
    public var waitsForInput: Bool {
        switch state {
        case .idle, .receiving, .lingering: return true
        case .responding, .handingOver, .handedOver, .closed: return false
        }
    }

    /// Waiting for a request head, nothing of one received yet.
    public var isIdle: Bool { if case .idle = state { return true } else { return false } }

    public var isLingering: Bool { if case .lingering = state { return true } else { return false } }

    /// Whether a request is with the responder (its answer not yet written).
    public var isResponding: Bool { if case .responding = state { return true } else { return false } }

    public mutating func head(_ head: HTTPRequestHead) -> Action {
        switch state {
        case .idle:
            if let rejection = checkLimits(head) { return reject(rejection) }
            state = .receiving(head, nil)
            // No body announced (`Content-Length: 0`): there is nothing to wait for, so no 100.
            if head.version.major == 1, head.version.minor >= 1,
                head.headers.first(name: "expect").map(Self.trimmed)?.lowercased() == "100-continue",
                head.headers.first(name: "content-length").flatMap({ Int(Self.trimmed($0)) }) != 0
            {
                return .sendContinue
            }
            return .none
        case .responding:
            return .hold
        case .receiving(let h, _):
            // The decoder never sends two heads without an end; treat it as a protocol error.
            return reject(.init(status: .badRequest, message: "a new request began before the previous one ended", head: h))
        case .handingOver:
            return .hold
        case .lingering, .handedOver, .closed:
            return .none
        }
    }

    public mutating func body(_ chunk: inout ByteBuffer) -> Action {
        switch state {
        case .receiving(let head, var body):
            if (body?.readableBytes ?? 0) + chunk.readableBytes > limits.maxBodyBytes {
                return reject(
                    .init(status: .payloadTooLarge, message: "The request body is larger than \(limits.maxBodyBytes) bytes.", head: head))
            }
            state = .idle  // drop our reference so the append below does not copy
            if body == nil { body = chunk } else { body!.writeBuffer(&chunk) }
            state = .receiving(head, body)
            return .none
        case .responding, .handingOver:
            return .hold
        case .lingering(let n):
            return discard(n + chunk.readableBytes)
        case .idle, .handedOver, .closed:
            return .none
        }
    }

    public mutating func end() -> Action {
        switch state {
        case .receiving(let head, let body):
            // An upgrade offer (`Upgrade: h2c`, `websocket`) is answered in HTTP/1.1, then the connection closes:
            // NIO's decoder parses nothing after such a request (it expects an upgrader to take the connection
            // over), so a next request on it would never be answered. Clients open a new connection.
            state = .responding(head, closeAfter: !head.isKeepAlive || HTTPServerConnectionStateMachine.offersUpgrade(head))
            return .deliver(HTTPServerRequest(head: head, body: body))
        case .responding, .handingOver:
            return .hold
        case .idle, .lingering, .handedOver, .closed:
            return .none
        }
    }

    /// A complete plain request that a fast lane read (no body, keep-alive) is with the responder.
    public mutating func adopt(_ head: HTTPRequestHead) {
        guard case .idle = state else { return }
        state = .responding(head, closeAfter: false)
    }

    /// A header value without the trailing spaces and tabs llhttp leaves on it.
    static func trimmed(_ value: String) -> Substring {
        var v = Substring(value)
        while let last = v.last, last == " " || last == "\t" { v = v.dropLast() }
        return v
    }

    /// What llhttp takes for an upgrade (after which NIO's decoder stops): an `Upgrade` header that the
    /// `Connection` header names, on a request other than `CONNECT` (that one is handed over on purpose).
    static func offersUpgrade(_ head: HTTPRequestHead) -> Bool {
        head.method != .CONNECT && head.headers.contains(name: "upgrade")
            && head.headers[canonicalForm: "connection"].contains { $0.lowercased() == "upgrade" }
    }

    /// The decoder failed (malformed request, header block over the parser's own limit).
    public mutating func parseError(_ error: Error, bytes: Int = 0) -> Action {
        switch state {
        case .idle, .receiving:
            let overflow = (error as? HTTPParserError) == .headerOverflow
            let status: HTTPResponseStatus = overflow ? .requestHeaderFieldsTooLarge : .badRequest
            let why = overflow ? "The request headers are too large." : "The request is not valid HTTP/1.1 (\(Self.words(error)))."
            var head: HTTPRequestHead? = nil
            if case .receiving(let h, _) = state { head = h }
            return reject(.init(status: status, message: why, head: head))
        case .responding(let head, _):
            state = .responding(head, closeAfter: true)  // answer what is in flight, then close
            return .none
        case .lingering(let n):
            return discard(n + bytes)
        case .handingOver, .handedOver, .closed:
            return .none
        }
    }

    /// The answer to the delivered request (or a rejection) was written.
    public mutating func responseSent() -> Action {
        switch state {
        case .responding(_, let closeAfter):
            if closeAfter {
                state = .closed
                return .close
            }
            state = .idle
            return .none
        default:
            return .none
        }
    }

    /// The responder answered with a hand-over (`CONNECT` 200); its answer is being written.
    public mutating func handOverStarted() {
        // Not `closeAfter`: an HTTP/1.0 CONNECT (Python's http.client, urllib3) is not keep-alive, and
        // is tunnelled all the same. Only a graceful shutdown stops the hand-over.
        if case .responding = state { state = .handingOver(quiescing: quiescing) }
    }

    /// The hand-over answer was written (or failed to be): hand the connection over, or close it.
    public mutating func handOverWritten(success: Bool) -> Action {
        guard case .handingOver(let quiescing) = state else { return .none }
        if success && !quiescing {
            state = .handedOver
            return .handOver
        }
        state = .closed
        return .close
    }

    /// The server is shutting down gracefully: an idle connection closes now; a request being received or
    /// answered is finished first, its answer carries `Connection: close`, and then the connection closes.
    public mutating func quiesce() -> Action {
        quiescing = true
        switch state {
        case .idle:
            state = .closed
            return .close
        case .receiving(let head, let body):
            var h = head
            h.headers.replaceOrAdd(name: "connection", value: "close")
            state = .receiving(h, body)
            return .none
        case .responding(let head, _):
            state = .responding(head, closeAfter: true)
            return .none
        case .handingOver:
            state = .handingOver(quiescing: true)
            return .none
        case .lingering, .handedOver, .closed:
            return .none
        }
    }

    /// The client closed its sending side (remote half-closure allowed): nothing more arrives. A request
    /// being answered is answered (then `inputDrained` closes, once pipelined input held meanwhile has been
    /// answered too); an idle connection, an unfinished request or a lingering one closes now.
    public mutating func inputClosed() -> Action {
        inputEnded = true
        switch state {
        case .idle, .receiving, .lingering:
            state = .closed
            return .close
        case .responding:
            return .none
        case .handingOver:
            state = .handingOver(quiescing: true)  // no tunnel for a client that has stopped sending
            return .none
        case .handedOver, .closed:
            return .none
        }
    }

    /// Every input the handler held has been processed: after a half-close, a connection with nothing left
    /// in flight closes (a request cut short by the FIN can never complete).
    public mutating func inputDrained() -> Action {
        guard inputEnded else { return .none }
        switch state {
        case .idle, .receiving:
            state = .closed
            return .close
        default:
            return .none
        }
    }

    /// The idle timeout (or, lingering, the linger time) ran out.
    /// `shuttingDown`: the server's shutdown grace ran out, not the idle timeout (the 408 says which).
    public mutating func timedOut(shuttingDown: Bool = false) -> Action {
        switch state {
        case .idle, .lingering:
            state = .closed
            return .close
        case .receiving(let head, _):
            return reject(
                .init(
                    status: .requestTimeout,
                    message: shuttingDown
                        ? "The server is shutting down and the request was not completed within its grace time."
                        : "The request was not completed within \(limits.idleTimeout.nanoseconds / 1_000_000_000) s.", head: head))
        case .responding, .handingOver, .handedOver, .closed:
            return .none
        }
    }

    /// Whether the answer to the request being produced must close the connection.
    public var closesAfterResponse: Bool {
        if case .responding(_, let closeAfter) = state { return closeAfter }
        return true
    }

    private mutating func reject(_ r: HTTPServerRejection) -> Action {
        state = .lingering(discarded: 0)
        return .reject(r)
    }

    private mutating func discard(_ total: Int) -> Action {
        if total > limits.lingerBytes {
            state = .closed
            return .close
        }
        state = .lingering(discarded: total)
        return .none
    }

    /// What NIO's decoder refused, in words ("paused (swift-http-parser error)" was its text for HTTP/2's preface).
    static func words(_ error: Error) -> String {
        guard let e = error as? HTTPParserError else { return "\(error)" }
        switch e {
        case .paused, .invalidVersion: return "not an HTTP/1.x request: this server speaks HTTP/1.1 (no HTTP/2, no TLS on this port)"
        case .invalidMethod: return "an unknown method or a request line that is not one"
        case .invalidURL, .invalidPath, .invalidQueryString, .invalidFragment, .invalidHost, .invalidPort:
            return "a request target with characters a URL may not hold"
        case .lfExpected, .invalidConstant, .strictModeAssertion: return "a line not ended by CRLF, or a malformed request line"
        case .invalidHeaderToken, .invalidCharactersUsed: return "a header name or value with characters HTTP does not allow"
        case .invalidContentLength, .unexpectedContentLength: return "a Content-Length that is not one number, or one beside chunked"
        case .invalidChunkSize: return "a chunk size that is not a hexadecimal number"
        default: return "\(e)"
        }
    }

    private func checkLimits(_ head: HTTPRequestHead) -> HTTPServerRejection? {
        if head.uri.utf8.count > limits.maxURIBytes {
            return .init(status: .uriTooLong, message: "The request URI is longer than \(limits.maxURIBytes) bytes.", head: head)
        }
        var headerBytes = 0
        for h in head.headers { headerBytes += h.name.utf8.count + h.value.utf8.count + 4 }
        if headerBytes > limits.maxHeaderBytes {
            return .init(
                status: .requestHeaderFieldsTooLarge, message: "The request headers are larger than \(limits.maxHeaderBytes) bytes.",
                head: head)
        }
        if let expect = head.headers.first(name: "expect"), Self.trimmed(expect).lowercased() != "100-continue" {
            return .init(
                status: .expectationFailed, message: "The Expect header asks for '\(expect)'; only 100-continue is met.", head: head)
        }
        // RFC 9112 §3.2: which of two `Host`s names the server is anyone's guess (and a guard that reads the first
        // while another part reads the second can be walked around).
        if head.headers["host"].count > 1 {
            return .init(status: .badRequest, message: "The request has more than one Host header; send one.", head: head)
        }
        // RFC 9112 §3.2: a server must refuse an HTTP/1.1 request without one (HTTP/1.0 may omit it). Checked for
        // origin-form targets only: Python's http.client before 3.12 sends its proxy `CONNECT` without a Host.
        if head.version.major == 1, head.version.minor >= 1, head.uri.utf8.first == UInt8(ascii: "/"),
            !head.headers.contains(name: "host")
        {
            return .init(status: .badRequest, message: "The HTTP/1.1 request has no Host header; send one.", head: head)
        }
        if let len = head.headers.first(name: "content-length").flatMap(Int.init), len > limits.maxBodyBytes {
            return .init(status: .payloadTooLarge, message: "The request body is larger than \(limits.maxBodyBytes) bytes.", head: head)
        }
        return nil
    }
}

/// Why a request was refused before it reached the responder; the responder renders it in its cloud's shape.
public struct HTTPServerRejection: Sendable {
    public var status: HTTPResponseStatus
    public var message: String
    /// The request's head when it was parsed (to pick the cloud's error shape), nil for malformed input.
    public var head: HTTPRequestHead?

    public init(status: HTTPResponseStatus, message: String, head: HTTPRequestHead?) {
        self.status = status
        self.message = message
        self.head = head
    }
}
