import NIOCore
import NIOEmbedded
import NIOHTTP1
import Testing
@testable import TapedeckHTTP

/// Answers `METHOD URI bodyBytes`; with a `Deferrals` box, answers later, when the test completes the promise.
struct EchoResponder: HTTPResponder {
    final class Deferrals { var pending: [(EventLoopPromise<HTTPServerResponse>, HTTPServerResponse)] = [] }
    var deferrals: Deferrals?

    func respond(to request: HTTPServerRequest, context: ChannelHandlerContext) -> HTTPResponderResult {
        let text = "\(request.head.method) \(request.head.uri) \(request.body?.readableBytes ?? 0)"
        let r = HTTPServerResponse(status: .ok, contentType: "text/plain", body: ByteBuffer(string: text))
        guard let deferrals else { return .response(r) }
        let p = context.eventLoop.makePromise(of: HTTPServerResponse.self)
        deferrals.pending.append((p, r))
        return .deferred(p.futureResult)
    }

    func rejection(_ r: HTTPServerRejection, allocator: ByteBufferAllocator) -> HTTPServerResponse {
        HTTPServerResponse(status: r.status, contentType: "text/plain", body: ByteBuffer(string: "refused: \(r.message)"))
    }
}

/// Stands in for the socket's half-close, which `EmbeddedChannel` treats as a full close.
final class HalfCloseRecorder: ChannelOutboundHandler {
    typealias OutboundIn = ByteBuffer
    var outputClosed = false
    func close(context: ChannelHandlerContext, mode: CloseMode, promise: EventLoopPromise<Void>?) {
        if mode == .output { outputClosed = true; promise?.succeed(()) } else { context.close(mode: mode, promise: promise) }
    }
}

/// Counts the reads that reach the channel (not held by a handler above it).
final class ReadCounter: ChannelOutboundHandler {
    typealias OutboundIn = ByteBuffer
    var reads = 0
    func read(context: ChannelHandlerContext) {
        reads += 1
        context.read()
    }
}

/// A peer that takes nothing: writes are kept, never completed (a full socket buffer).
final class WriteSwallower: ChannelOutboundHandler {
    typealias OutboundIn = ByteBuffer
    var kept: [EventLoopPromise<Void>?] = []
    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) { kept.append(promise) }
    func flush(context: ChannelHandlerContext) {}
}

/// A server connection without a socket: NIO's request decoder and our handler in an `EmbeddedChannel`.
struct Connection {
    let channel = EmbeddedChannel()
    let loop: EmbeddedEventLoop
    let halfClose = HalfCloseRecorder()
    let reads = ReadCounter()

    /// - Parameter remoteHalfClosure: the channel option the servers set (a client's FIN becomes an event).
    init(limits: HTTPServerLimits = HTTPServerLimits(), deferrals: EchoResponder.Deferrals? = nil, remoteHalfClosure: Bool = false) throws {
        loop = channel.embeddedEventLoop
        try channel.setOption(.allowRemoteHalfClosure, value: remoteHalfClosure).wait()
        try channel.pipeline.syncOperations.addHandler(reads)
        try channel.pipeline.syncOperations.addHandler(halfClose)
        try channel.pipeline.syncOperations.addHandler(ByteToMessageHandler(HTTPRequestDecoder(leftOverBytesStrategy: .dropBytes)))
        try channel.pipeline.syncOperations.addHandler(HTTPServerHandler(responder: EchoResponder(deferrals: deferrals), limits: limits))
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1)).wait()
    }

    func send(_ s: String) throws { try channel.writeInbound(ByteBuffer(string: s)) }

    /// Everything written to the client so far.
    func output() throws -> String {
        var out = ""
        while var b = try channel.readOutbound(as: ByteBuffer.self) { out += b.readString(length: b.readableBytes) ?? "" }
        return out
    }
}

@Suite struct HTTPServerHandlerTests {
    @Test func answersKeepAliveRequestsInOrder() throws {
        let c = try Connection()
        try c.send("GET /a HTTP/1.1\r\nHost: x\r\n\r\nPOST /b HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc")
        let out = try c.output()
        #expect(
            out == "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 8\r\n\r\nGET /a 0"
                + "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 9\r\n\r\nPOST /b 3")
        #expect(c.channel.isActive)
    }

    @Test func headGetsHeadersOnlyAndTheConnectionStaysInSync() throws {
        let c = try Connection()
        try c.send("HEAD /a HTTP/1.1\r\nHost: x\r\n\r\nGET /a HTTP/1.1\r\nHost: x\r\n\r\n")
        let out = try c.output()
        // The HEAD answer announces the GET's length (9 bytes: "HEAD /a 0" would be the body) but carries none.
        #expect(out.hasPrefix("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 9\r\n\r\nHTTP/1.1 200 OK"), "\(out)")
        #expect(out.hasSuffix("\r\n\r\nGET /a 0"))
    }

    @Test func expect100ContinueIsAnsweredBeforeTheBody() throws {
        // (llhttp leaves a value's trailing whitespace on it: `100-continue ` is the same expectation.)
        for expect in ["100-continue", "100-Continue \t"] {
            let c = try Connection()
            try c.send("PUT /x HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nExpect: \(expect)\r\n\r\n")
            #expect(try c.output() == "HTTP/1.1 100 Continue\r\n\r\n")
            try c.send("hello")
            #expect(try c.output().hasSuffix("PUT /x 5"))
        }
        // No body announced: nothing to wait for, so the answer comes without a 100 first.
        let empty = try Connection()
        try empty.send("POST /x HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nExpect: 100-continue\r\n\r\n")
        let out = try empty.output()
        #expect(out.hasPrefix("HTTP/1.1 200") && !out.contains("100 Continue"), "\(out)")
    }

    @Test func expect100ContinueOverTheLimitGetsTheFinalErrorInstead() throws {
        var limits = HTTPServerLimits()
        limits.maxBodyBytes = 10
        let c = try Connection(limits: limits)
        try c.send("PUT /x HTTP/1.1\r\nHost: x\r\nContent-Length: 11\r\nExpect: 100-continue\r\n\r\n")
        let out = try c.output()
        #expect(out.hasPrefix("HTTP/1.1 413 Payload Too Large\r\n"), "\(out)")
        #expect(!out.contains("100 Continue"))
        #expect(out.contains("Connection: close"))
    }

    @Test func anExpectationOtherThan100ContinueGets417() throws {
        let c = try Connection()
        try c.send("PUT /x HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nExpect: something-else\r\n\r\nhello")
        let out = try c.output()
        #expect(out.hasPrefix("HTTP/1.1 417 Expectation Failed\r\n"), "\(out)")
        #expect(!out.contains("PUT /x"), "the request did not reach the responder")
    }

    @Test func oversizedBodyIsAnsweredThenTheRestIsReadAndDropped() throws {
        var limits = HTTPServerLimits()
        limits.maxBodyBytes = 1000
        limits.lingerBytes = 10_000
        let c = try Connection(limits: limits)
        // Chunked, so the limit is found while reading, not from Content-Length.
        try c.send("POST /x HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n")
        try c.send("3e8\r\n" + String(repeating: "a", count: 1000) + "\r\n")
        #expect(try c.output() == "")
        try c.send("1\r\nb\r\n")
        let out = try c.output()
        #expect(out.hasPrefix("HTTP/1.1 413 Payload Too Large\r\n"))
        #expect(out.contains("refused: The request body is larger than 1000 bytes."))
        // Output half-closed (FIN after the answer) but still reading, so the client's send completes and it
        // reads the 413 instead of a reset; nothing more is answered.
        #expect(c.halfClose.outputClosed)
        #expect(c.channel.isActive)
        try c.send("3e8\r\n" + String(repeating: "a", count: 1000) + "\r\n0\r\n\r\nGET / HTTP/1.1\r\n\r\n")
        #expect(try c.output() == "")
        #expect(c.channel.isActive)
        // Past the linger bound it closes.
        for _ in 0..<12 where c.channel.isActive { try? c.send(String(repeating: "z", count: 1000)) }
        #expect(!c.channel.isActive)
    }

    @Test(arguments: [
        ("GET /\(String(repeating: "a", count: 200)) HTTP/1.1\r\nHost: x\r\n\r\n", "414 URI Too Long"),
        ("GET / HTTP/1.1\r\nHost: x\r\nX-Big: \(String(repeating: "b", count: 300))\r\n\r\n", "431 Request Header Fields Too Large"),
        ("GET / HTTP/1.1\r\nHost x\r\n\r\n", "400 Bad Request"),
    ])
    func limitsAndMalformedRequestsGetReadableErrors(request: String, status: String) throws {
        var limits = HTTPServerLimits()
        limits.maxURIBytes = 100
        limits.maxHeaderBytes = 200
        let c = try Connection(limits: limits)
        try c.send(request)
        let out = try c.output()
        #expect(out.hasPrefix("HTTP/1.1 \(status)\r\n"), "\(out)")
        #expect(out.contains("Connection: close"))
        #expect(c.halfClose.outputClosed)
        try c.send("more input is dropped")
        #expect(try c.output() == "")
        c.loop.advanceTime(by: .seconds(11))
        #expect(!c.channel.isActive, "the linger time ends it")
    }

    @Test func idleConnectionsAreClosed() throws {
        let c = try Connection()
        try c.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        _ = try c.output()
        c.loop.advanceTime(by: .seconds(59))
        #expect(c.channel.isActive)
        c.loop.advanceTime(by: .seconds(2))
        #expect(!c.channel.isActive)
    }

    @Test func aConnectionThatNeverFinishesItsHeadersIsClosed() throws {
        var limits = HTTPServerLimits()
        limits.idleTimeout = .seconds(5)
        let c = try Connection(limits: limits)
        // A slow client trickles header bytes; each arrives in time, but the head never completes.
        try c.send("GET / HTTP/1.1\r\nHost: x\r\n")
        for _ in 0..<6 where c.channel.isActive {
            try c.send("X-Slow: a\r\n")
            c.loop.advanceTime(by: .seconds(1))
        }
        #expect(!c.channel.isActive)
    }

    @Test func aStalledBodyGets408() throws {
        var limits = HTTPServerLimits()
        limits.idleTimeout = .seconds(5)
        let c = try Connection(limits: limits)
        try c.send("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nabc")
        c.loop.advanceTime(by: .seconds(6))
        #expect(try c.output().hasPrefix("HTTP/1.1 408 Request Timeout\r\n"))
    }

    /// A body trickled a byte at a time (a slow-body attack) gets its 408 an idle timeout after its head, however
    /// often a byte arrives; one that keeps a real upload's pace is read to the end.
    @Test func aTrickledBodyGets408ButASlowUploadIsRead() throws {
        var limits = HTTPServerLimits()
        limits.idleTimeout = .seconds(5)
        let c = try Connection(limits: limits)
        try c.send("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n")
        var seconds = 0, out = ""
        while seconds < 30, c.channel.isActive, !out.hasPrefix("HTTP/1.1 408") {
            try c.send("a")
            c.loop.advanceTime(by: .seconds(1))
            seconds += 1
            out += try c.output()
        }
        #expect(seconds <= 6, "cut after \(seconds) s")
        #expect(out.hasPrefix("HTTP/1.1 408 Request Timeout\r\n"), "\(out)")
        // 100 KB at 2 KB a second: 50 s in all, longer than ten idle timeouts, and answered.
        let d = try Connection(limits: limits)
        try d.send("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n")
        for _ in 0..<50 {
            try d.send(String(repeating: "b", count: 2000))
            d.loop.advanceTime(by: .seconds(1))
        }
        #expect(try d.output().hasPrefix("HTTP/1.1 200"))
        // A burst, then a pause longer than the idle timeout, then the rest: the burst's credit carries it.
        let b = try Connection(limits: limits)
        try b.send("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n" + String(repeating: "c", count: 90_000))
        b.loop.advanceTime(by: .seconds(7))
        #expect(try b.output() == "" && b.channel.isActive)
        try b.send(String(repeating: "c", count: 10_000))
        #expect(try b.output().hasPrefix("HTTP/1.1 200"))
    }

    @Test func aSlowAnswerIsNotAnIdleConnection() throws {
        var limits = HTTPServerLimits()
        limits.idleTimeout = .seconds(5)
        let deferrals = EchoResponder.Deferrals()
        let c = try Connection(limits: limits, deferrals: deferrals)
        try c.send("GET /slow HTTP/1.1\r\nHost: x\r\n\r\n")
        c.loop.advanceTime(by: .seconds(30))
        #expect(c.channel.isActive)
        let (p, r) = deferrals.pending.removeFirst()
        p.succeed(r)
        #expect(try c.output().hasSuffix("GET /slow 0"))
    }

    @Test func pipelinedRequestsWaitForADeferredAnswer() throws {
        let deferrals = EchoResponder.Deferrals()
        let c = try Connection(deferrals: deferrals)
        try c.send("GET /1 HTTP/1.1\r\nHost: x\r\n\r\nGET /2 HTTP/1.1\r\nHost: x\r\n\r\n")
        #expect(deferrals.pending.count == 1, "the second request waits for the first answer")
        #expect(try c.output() == "")
        let (p1, r1) = deferrals.pending.removeFirst()
        p1.succeed(r1)
        #expect(try c.output().hasSuffix("GET /1 0"))
        #expect(deferrals.pending.count == 1)
        let (p2, r2) = deferrals.pending.removeFirst()
        p2.succeed(r2)
        #expect(try c.output().hasSuffix("GET /2 0"))
    }

    /// With remote half-closure (as the servers run): input is read while an answer is deferred, pipelined
    /// input is held (reads stop until it is answered), and after the client's FIN every request it sent is
    /// answered in order before the connection closes.
    @Test func afterAFINEveryRequestIsAnsweredThenTheConnectionCloses() throws {
        let deferrals = EchoResponder.Deferrals()
        let c = try Connection(deferrals: deferrals, remoteHalfClosure: true)
        try c.send("GET /1 HTTP/1.1\r\nHost: x\r\n\r\n")
        let before = c.reads.reads
        c.channel.read()
        #expect(c.reads.reads == before + 1, "read-ahead while the answer is deferred")
        try c.send("GET /2 HTTP/1.1\r\nHost: x\r\n\r\n")
        c.channel.read()
        #expect(c.reads.reads == before + 1, "a held request stops reading")
        c.channel.pipeline.fireUserInboundEventTriggered(ChannelEvent.inputClosed)
        #expect(c.channel.isActive, "the requests are still answered")
        let (p1, r1) = deferrals.pending.removeFirst()
        p1.succeed(r1)
        #expect(try c.output().hasSuffix("GET /1 0"))
        #expect(c.channel.isActive)
        let (p2, r2) = deferrals.pending.removeFirst()
        p2.succeed(r2)
        #expect(try c.output().hasSuffix("GET /2 0"))
        #expect(!c.channel.isActive, "closed once both are answered")
    }

    /// A FIN on an idle connection, or in the middle of a request, closes it; without remote half-closure
    /// reads wait while an answer is deferred (an EOF would close the channel before the answer).
    @Test func aFINWhenIdleOrMidRequestClosesAndWithoutHalfClosureReadsWait() throws {
        let idle = try Connection(remoteHalfClosure: true)
        try idle.send("GET /1 HTTP/1.1\r\nHost: x\r\n\r\n")
        #expect(try idle.output().hasSuffix("GET /1 0"))
        idle.channel.pipeline.fireUserInboundEventTriggered(ChannelEvent.inputClosed)
        #expect(!idle.channel.isActive)

        let partial = try Connection(remoteHalfClosure: true)
        try partial.send("POST /1 HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nabc")
        partial.channel.pipeline.fireUserInboundEventTriggered(ChannelEvent.inputClosed)
        #expect(!partial.channel.isActive)

        let deferrals = EchoResponder.Deferrals()
        let plain = try Connection(deferrals: deferrals)
        try plain.send("GET /1 HTTP/1.1\r\nHost: x\r\n\r\n")
        let before = plain.reads.reads
        plain.channel.read()
        #expect(plain.reads.reads == before, "held while the answer is deferred")
        let (p, r) = deferrals.pending.removeFirst()
        p.succeed(r)
        #expect(plain.reads.reads == before + 1, "the held read follows the answer")
    }

    /// After a FIN, a client that takes none of its answers (the writes never complete) is not held: the
    /// connection closes after an idle timeout with nothing going out.
    @Test func afterAFINAClientThatTakesNothingIsLetGo() throws {
        var limits = HTTPServerLimits()
        limits.idleTimeout = .seconds(2)
        let c = try Connection(limits: limits, remoteHalfClosure: true)
        try c.channel.pipeline.syncOperations.addHandler(WriteSwallower(), position: .first)
        try c.send("GET /1 HTTP/1.1\r\nHost: x\r\n\r\n")
        c.channel.pipeline.fireUserInboundEventTriggered(ChannelEvent.inputClosed)
        c.loop.advanceTime(by: .seconds(1))
        #expect(c.channel.isActive, "the answer may still go out")
        c.loop.advanceTime(by: .seconds(2))
        #expect(!c.channel.isActive, "nothing went out for an idle timeout")
    }

    @Test func connectionCloseIsHonoured() throws {
        let c = try Connection()
        try c.send("GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        #expect(try c.output().contains("Connection: close\r\n"))
        #expect(!c.channel.isActive)
    }

    @Test func http10GetsKeepAliveOnlyWhenAsked() throws {
        let c = try Connection()
        try c.send("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
        #expect(try c.output().hasPrefix("HTTP/1.0 200 OK\r\n"))
        #expect(c.channel.isActive)
    }
}

@Suite struct HTTPServerResponseTests {
    func render(_ r: HTTPServerResponse, _ method: HTTPMethod) -> String {
        var out = ByteBuffer()
        r.write(into: &out, method: method, version: .http1_1, keepAlive: true)
        return out.readString(length: out.readableBytes)!
    }

    @Test func connectSuccessHasNoContentLength() {
        let s = render(HTTPServerResponse(status: .ok, body: ByteBuffer()), .CONNECT)
        #expect(s == "HTTP/1.1 200 OK\r\n\r\n")
    }

    @Test func noContentHasNoBodyAndNoLength() {
        #expect(render(HTTPServerResponse(status: .noContent, body: ByteBuffer(string: "x")), .GET) == "HTTP/1.1 204 No Content\r\n\r\n")
    }

    @Test func proxiedHeadKeepsItsUpstreamLength() {
        let s = render(HTTPServerResponse(status: .ok, body: ByteBuffer(), headContentLength: 1234), .HEAD)
        #expect(s == "HTTP/1.1 200 OK\r\nContent-Length: 1234\r\n\r\n")
    }

    /// A 304 announces the representation's length or none: never the empty body's 0.
    @Test func notModifiedCarriesOnlyAnAnnouncedLength() {
        #expect(render(HTTPServerResponse(status: .notModified, body: ByteBuffer()), .GET) == "HTTP/1.1 304 Not Modified\r\n\r\n")
        let s = render(HTTPServerResponse(status: .notModified, body: ByteBuffer(), headContentLength: 1234), .GET)
        #expect(s == "HTTP/1.1 304 Not Modified\r\nContent-Length: 1234\r\n\r\n")
    }
}

/// The server connection cycle without a channel: events in, actions out.
@Suite struct HTTPServerConnectionStateMachineTests {
    let connect = HTTPRequestHead(version: .http1_1, method: .CONNECT, uri: "example.com:443")

    /// RFC 9112 §3.2: an HTTP/1.1 request in origin form must carry a Host; HTTP/1.0 and a proxy's `CONNECT`
    /// (Python's http.client sends it bare before 3.12) may not.
    @Test func anHTTP11RequestWithoutHostIsRefused() {
        for (head, refused) in [
            (HTTPRequestHead(version: .http1_1, method: .GET, uri: "/"), true),
            (HTTPRequestHead(version: .http1_1, method: .POST, uri: "/?a=b", headers: ["X-Host": "h"]), true),
            (HTTPRequestHead(version: .http1_1, method: .GET, uri: "/", headers: ["host": "h"]), false),
            (HTTPRequestHead(version: .http1_0, method: .GET, uri: "/"), false),
            (connect, false),
        ] {
            var m = HTTPServerConnectionStateMachine(limits: HTTPServerLimits())
            switch m.head(head) {
            case .reject(let r): #expect(refused && r.status == .badRequest && r.message.contains("Host"), "\(head)")
            default: #expect(!refused, "\(head)")
            }
        }
    }

    @Test func aKeepAliveCycleThenAnIdleTimeout() {
        var m = HTTPServerConnectionStateMachine(limits: HTTPServerLimits())
        guard case .none = m.head(HTTPRequestHead(version: .http1_1, method: .GET, uri: "/", headers: ["Host": "h"])) else { Issue.record("head"); return }
        guard case .deliver(let r) = m.end() else { Issue.record("the request must be delivered"); return }
        #expect(r.head.uri == "/" && !m.waitsForInput && !m.closesAfterResponse)
        guard case .hold = m.head(HTTPRequestHead(version: .http1_1, method: .GET, uri: "/2", headers: ["Host": "h"])) else {
            Issue.record("pipelined input waits"); return
        }
        guard case .none = m.responseSent() else { Issue.record("keep-alive stays open"); return }
        #expect(m.waitsForInput)
        guard case .close = m.timedOut() else { Issue.record("an idle timeout closes"); return }
    }

    @Test func connectHandsTheConnectionOverOnceItsAnswerIsWritten() {
        var m = HTTPServerConnectionStateMachine(limits: HTTPServerLimits())
        _ = m.head(connect)
        guard case .deliver = m.end() else { Issue.record("CONNECT must be delivered"); return }
        m.handOverStarted()
        #expect(!m.waitsForInput)  // nothing is read while the pipeline is swapped
        guard case .hold = m.head(connect) else { Issue.record("input waits during the swap"); return }
        guard case .none = m.timedOut() else { Issue.record("no idle timeout while the answer is written"); return }
        guard case .handOver = m.handOverWritten(success: true) else { Issue.record("must hand over"); return }
        guard case .none = m.head(connect) else { Issue.record("a handed-over machine does nothing"); return }
        guard case .none = m.quiesce() else { Issue.record("the new pipeline quiesces itself"); return }
    }

    /// Python's http.client (and so urllib3 and requests through HTTPS_PROXY) sends `CONNECT … HTTP/1.0`.
    @Test func anHTTP10ConnectIsHandedOverToo() {
        var m = handingOver(HTTPRequestHead(version: .http1_0, method: .CONNECT, uri: "example.com:443"))
        guard case .handOver = m.handOverWritten(success: true) else { Issue.record("an HTTP/1.0 CONNECT must be tunnelled"); return }
    }

    /// A machine whose CONNECT went to the responder (`quiesce`: the server began shutting down meanwhile)
    /// and whose 200 is being written.
    func handingOver(_ head: HTTPRequestHead, quiesce: Bool = false) -> HTTPServerConnectionStateMachine {
        var m = HTTPServerConnectionStateMachine(limits: HTTPServerLimits())
        _ = m.head(head)
        _ = m.end()
        if quiesce { _ = m.quiesce() }
        m.handOverStarted()
        return m
    }

    @Test func aShutdownBeforeTheAnswerStopsTheHandOver() {
        var m = handingOver(connect, quiesce: true)
        guard case .close = m.handOverWritten(success: true) else { Issue.record("a quiescing server does not open a tunnel"); return }
    }

    @Test func aFINIsAnsweredFirstThenCloses() {
        let get = HTTPRequestHead(version: .http1_1, method: .GET, uri: "/", headers: ["Host": "h"])
        var idle = HTTPServerConnectionStateMachine(limits: HTTPServerLimits())
        guard case .close = idle.inputClosed() else { Issue.record("an idle connection closes on FIN"); return }

        var busy = HTTPServerConnectionStateMachine(limits: HTTPServerLimits())
        _ = busy.head(get)
        _ = busy.end()
        guard case .none = busy.inputClosed() else { Issue.record("the request in flight is answered"); return }
        guard case .none = busy.responseSent() else { Issue.record("held input may follow"); return }
        guard case .close = busy.inputDrained() else { Issue.record("nothing left: close"); return }

        var cut = HTTPServerConnectionStateMachine(limits: HTTPServerLimits())
        _ = cut.head(get)
        guard case .close = cut.inputClosed() else { Issue.record("a request cut short closes"); return }

        var tunnel = handingOver(connect)
        guard case .none = tunnel.inputClosed() else { Issue.record("the 200 is still being written"); return }
        guard case .close = tunnel.handOverWritten(success: true) else { Issue.record("no tunnel after a FIN"); return }

        var open = HTTPServerConnectionStateMachine(limits: HTTPServerLimits())
        guard case .none = open.inputDrained() else { Issue.record("without a FIN nothing closes"); return }
    }

    @Test func aFailedWriteOrAShutdownDuringTheSwapCloses() {
        var m = handingOver(connect)
        guard case .close = m.handOverWritten(success: false) else { Issue.record("a failed write closes"); return }

        var q = handingOver(connect)
        guard case .none = q.quiesce() else { Issue.record("the answer is still being written"); return }
        guard case .close = q.handOverWritten(success: true) else { Issue.record("a quiescing server does not open a tunnel"); return }
    }
}

/// The `CONNECT` pipeline swap through the real handler, on an `EmbeddedChannel`.
@Suite struct HTTPServerHandOverTests {
    /// What the swapped-in pipeline receives.
    final class Tunnel: ChannelInboundHandler {
        typealias InboundIn = ByteBuffer
        var received = ""
        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            var b = unwrapInboundIn(data)
            received += b.readString(length: b.readableBytes) ?? ""
        }
    }

    /// Answers CONNECT with a hand-over that puts `tunnel` after itself and removes the HTTP stack.
    struct ConnectResponder: HTTPResponder {
        let tunnel: Tunnel
        func respond(to request: HTTPServerRequest, context: ChannelHandlerContext) -> HTTPResponderResult {
            let tunnel = self.tunnel
            return .handOver(HTTPServerResponse(status: .ok, body: ByteBuffer())) { context in
                let sync = context.pipeline.syncOperations
                try! sync.addHandler(tunnel)
                sync.removeHandler(context: context, promise: nil)
                if let decoder = try? sync.context(name: "decoder") { sync.removeHandler(context: decoder, promise: nil) }
            }
        }
        func rejection(_ r: HTTPServerRejection, allocator: ByteBufferAllocator) -> HTTPServerResponse {
            HTTPServerResponse(status: r.status, body: ByteBuffer(string: r.message))
        }
    }

    @Test func theAnswerIsWrittenThenTheNewPipelineGetsTheBytes() throws {
        let channel = EmbeddedChannel()
        let tunnel = Tunnel()
        let sync = channel.pipeline.syncOperations
        try sync.addHandler(ByteToMessageHandler(HTTPRequestDecoder(leftOverBytesStrategy: .forwardBytes)), name: "decoder")
        try sync.addHandler(HTTPServerHandler(responder: ConnectResponder(tunnel: tunnel), limits: HTTPServerLimits()))
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1)).wait()
        // The request and the first tunnelled bytes in one read, as an eager client sends them.
        try channel.writeInbound(ByteBuffer(string: "CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\nhello"))
        var out = try #require(try channel.readOutbound(as: ByteBuffer.self))
        let answer = out.readString(length: out.readableBytes) ?? ""
        #expect(answer.hasPrefix("HTTP/1.1 200 OK\r\n") && !answer.lowercased().contains("content-length"))
        #expect((try? sync.handler(type: HTTPServerHandler<ConnectResponder>.self)) == nil)
        channel.embeddedEventLoop.run()  // the decoder leaves on the next loop tick, forwarding what it had read
        #expect((try? sync.context(name: "decoder")) == nil)
        try channel.writeInbound(ByteBuffer(string: " world"))
        #expect(tunnel.received == "hello world")
    }
}

@Suite struct RequestLineSnifferTests {
    @Test func theTargetIsTheRequestLinesSecondWord() {
        #expect(RequestLineSniffer.target(Array("GET /v3/p HTTP/1.1\r\nHost: x\r\n".utf8)) == "/v3/p")
        #expect(RequestLineSniffer.target(Array("GET  /a?b=1 HTTP/1.1\n".utf8)) == "/a?b=1")
        #expect(RequestLineSniffer.target(Array("GARBAGE\r\n".utf8)) == nil)
        #expect(RequestLineSniffer.target(Array("".utf8)) == nil)
        #expect(RequestLineSniffer.target([0xFF, 0x20, 0xFE]) == "\u{FFFD}")
    }

    /// It passes the first read on unchanged, tells what it saw, and leaves the pipeline.
    @Test func itForwardsTheFirstReadAndLeaves() throws {
        let channel = EmbeddedChannel()
        final class Seen: ChannelInboundHandler, @unchecked Sendable {
            typealias InboundIn = ByteBuffer
            var uris: [String] = []
            var reads: [String] = []
            func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
                if let s = event as? RequestLineSniffer.Sniffed { uris.append(s.uri) }
            }
            func channelRead(context: ChannelHandlerContext, data: NIOAny) { reads.append(String(buffer: unwrapInboundIn(data))) }
        }
        let seen = Seen()
        try channel.pipeline.syncOperations.addHandler(RequestLineSniffer())
        try channel.pipeline.syncOperations.addHandler(seen)
        try channel.writeInbound(ByteBuffer(string: "GET /v3/x HTTP/1.1\r\n"))
        try channel.writeInbound(ByteBuffer(string: "GET /other HTTP/1.1\r\n"))
        #expect(seen.uris == ["/v3/x"])
        #expect(seen.reads == ["GET /v3/x HTTP/1.1\r\n", "GET /other HTTP/1.1\r\n"])
        #expect(throws: (any Error).self) { try channel.pipeline.syncOperations.handler(type: RequestLineSniffer.self) }
        _ = try channel.finish()
    }

    /// A first line that arrives in pieces is told once it is whole, before the piece that completes it.
    @Test func aLineCutAcrossReadsIsToldWhole() throws {
        let channel = EmbeddedChannel()
        final class Seen: ChannelInboundHandler, @unchecked Sendable {
            typealias InboundIn = ByteBuffer
            var log: [String] = []
            func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
                if let s = event as? RequestLineSniffer.Sniffed { log.append("sniffed \(s.uri)") }
            }
            func channelRead(context: ChannelHandlerContext, data: NIOAny) { log.append(String(buffer: unwrapInboundIn(data))) }
        }
        let seen = Seen()
        try channel.pipeline.syncOperations.addHandler(RequestLineSniffer())
        try channel.pipeline.syncOperations.addHandler(seen)
        for piece in ["GET", " /v3/pro", "ject/x HTTP/1.1\r\nHost: a\r\n", "GET /b HTTP/1.1\r\n"] {
            try channel.writeInbound(ByteBuffer(string: piece))
        }
        #expect(seen.log == ["GET", " /v3/pro", "sniffed /v3/project/x", "ject/x HTTP/1.1\r\nHost: a\r\n", "GET /b HTTP/1.1\r\n"])
        _ = try channel.finish()
    }
}
