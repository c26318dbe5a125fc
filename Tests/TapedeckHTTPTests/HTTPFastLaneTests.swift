import NIOCore
import NIOEmbedded
import NIOHTTP1
import Testing
@testable import TapedeckHTTP

/// Answers `/fast…` targets in the lane (`FAST …`), everything through the full path (`FULL …`), and counts both.
struct LaneResponder: HTTPFastResponder {
    final class Counts {
        var fast = 0, full = 0
        var loop: EventLoop?
        var pending: [(EventLoopPromise<HTTPServerResponse>, HTTPServerResponse)] = []
        /// `.wireLater` answers not yet given, with the bytes they are to be.
        var wirePending: [(EventLoopPromise<ByteBuffer>, ByteBuffer)] = []

        /// Gives the oldest `.wireLater` answer.
        func giveWire(_ loop: EmbeddedEventLoop) {
            guard !wirePending.isEmpty else { return }
            let (p, b) = wirePending.removeFirst()
            p.succeed(b)
            loop.run()
        }
    }
    let counts: Counts

    func respond(to request: HTTPServerRequest, context: ChannelHandlerContext) -> HTTPResponderResult {
        counts.full += 1
        let text = "FULL \(request.head.method) \(request.head.uri) \(request.body?.readableBytes ?? 0)"
        return .response(HTTPServerResponse(status: .ok, contentType: "text/plain", body: ByteBuffer(string: text)))
    }

    func fastResponse(
        method: HTTPMethod, target: UnsafeBufferPointer<UInt8>, headers: PlainHTTPHeaders, context: ChannelHandlerContext
    ) -> HTTPFastAnswer? {
        let t = String(decoding: target, as: UTF8.self)
        guard t.hasPrefix("/fast") else { return nil }
        counts.fast += 1
        let body = "FAST \(method) \(t)" + (headers.contains("x-big") ? String(repeating: "x", count: 3000) : "")
        let r = HTTPServerResponse(status: .ok, contentType: "text/plain", body: ByteBuffer(string: body))
        if t.hasPrefix("/fast-room") {
            // The body after room for the head, as the simulator renders it.
            var b = ByteBuffer(repeating: 0, count: 300)
            b.moveReaderIndex(forwardBy: 300)
            b.writeString(body)
            var scratch = ByteBuffer()
            r.prependHead(to: &b, method: method, keepAlive: true, scratch: &scratch)
            return .wire(b)
        }
        if t.hasPrefix("/fast-wire-now"), let loop = counts.loop {
            return .wireLater(loop.makeSucceededFuture(r.encoded(method: method, version: .http1_1, keepAlive: true)))
        }
        if t.hasPrefix("/fast-wire-later"), let loop = counts.loop {
            let p = loop.makePromise(of: ByteBuffer.self)
            counts.wirePending.append((p, r.encoded(method: method, version: .http1_1, keepAlive: true)))
            return .wireLater(p.futureResult)
        }
        if t.hasPrefix("/fast-later"), let loop = counts.loop {
            let p = loop.makePromise(of: HTTPServerResponse.self)
            counts.pending.append((p, r))
            return .later(p.futureResult)
        }
        return t.hasPrefix("/fast-framed") ? .response(r) : .wire(r.encoded(method: method, version: .http1_1, keepAlive: true))
    }

    func rejection(_ r: HTTPServerRejection, allocator: ByteBufferAllocator) -> HTTPServerResponse {
        HTTPServerResponse(status: r.status, contentType: "text/plain", body: ByteBuffer(string: "refused \(r.head?.uri ?? "-")"))
    }
}

/// The simulator's pipeline shape without a socket: lane, NIO's decoder, the connection handler.
struct LaneConnection {
    let channel = EmbeddedChannel()
    let counts = LaneResponder.Counts()

    init(limits: HTTPServerLimits = HTTPServerLimits()) throws {
        let server = HTTPServerHandler(responder: LaneResponder(counts: counts), limits: limits)
        try channel.pipeline.syncOperations.addHandler(RequestLineSniffer())
        try channel.pipeline.syncOperations.addHandler(HTTPFastLane(server: server, limits: limits))
        try channel.pipeline.syncOperations.addHandler(ByteToMessageHandler(HTTPRequestDecoder(leftOverBytesStrategy: .dropBytes)))
        try channel.pipeline.syncOperations.addHandler(server)
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1)).wait()
        counts.loop = channel.eventLoop
    }

    func send(_ s: String) throws { try channel.writeInbound(ByteBuffer(string: s)) }

    func output() throws -> String {
        var out = ""
        while var b = try channel.readOutbound(as: ByteBuffer.self) { out += b.readString(length: b.readableBytes) ?? "" }
        return out
    }

    /// The bodies of the answers in `output`, in order.
    static func bodies(_ output: String) -> [String] {
        var bodies: [String] = []
        var rest = Substring(output)
        while let head = rest.range(of: "\r\n\r\n") {
            let headers = rest[..<head.lowerBound]
            let length = headers.split(separator: "\r\n").first { $0.lowercased().hasPrefix("content-length:") }
                .flatMap { Int($0.split(separator: ":")[1].drop { $0 == " " }) } ?? 0
            let body = rest[head.upperBound...].prefix(length)
            bodies.append(String(body))
            rest = rest[body.endIndex...]
        }
        return bodies
    }
}

@Suite struct HTTPFastLaneTests {
    @Test func answersPlainRequestsItselfInOrderWithTheHandlersFraming() throws {
        let c = try LaneConnection()
        try c.send("GET /fast1 HTTP/1.1\r\nHost: h\r\n\r\nPOST /fast2 HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\n\r\nGET /fast3 HTTP/1.1\r\nHost: h\r\nX-Big: 1\r\n\r\n")
        let out = try c.output()
        #expect(LaneConnection.bodies(out).map { String($0.prefix(16)) } == ["FAST GET /fast1", "FAST POST /fast2", "FAST GET /fast3x"])
        #expect(out.hasPrefix("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 15\r\n\r\nFAST GET /fast1"))
        #expect(out.contains("Content-Length: \(15 + 3000)\r\n"))
        #expect(c.counts.fast == 3 && c.counts.full == 0)
        #expect(c.channel.isActive)
        // A head written into the room before a body, and a body with too little room: the same bytes.
        try c.send("GET /fast-room HTTP/1.1\r\nHost: h\r\nX-Big: 1\r\n\r\nGET /fast-room HTTP/1.1\r\nHost: h\r\n\r\n")
        let roomy = try c.output()
        #expect(roomy.hasPrefix("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 3019\r\n\r\nFAST GET /fast-roomxxx"))
        #expect(LaneConnection.bodies(roomy).map(\.count) == [3019, 19])
        var tight = ByteBuffer(string: "xbody")
        tight.moveReaderIndex(forwardBy: 1)
        var scratch = ByteBuffer()
        HTTPServerResponse(status: .notFound, body: ByteBuffer()).prependHead(to: &tight, method: .GET, keepAlive: false, scratch: &scratch)
        #expect(String(buffer: tight) == "HTTP/1.1 404 Not Found\r\nContent-Length: 4\r\nConnection: close\r\n\r\nbody")
        // An answer without a body on the wire (204, or to HEAD): the head alone, whatever the buffer held.
        var none = ByteBuffer(string: "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxbody")
        none.moveReaderIndex(forwardBy: 64)
        HTTPServerResponse(status: .noContent, body: ByteBuffer()).prependHead(to: &none, method: .GET, keepAlive: true, scratch: &scratch)
        #expect(String(buffer: none) == "HTTP/1.1 204 No Content\r\n\r\n")
    }

    @Test func anAnswerLaterIsTheHandlersToWriteInOrderBeforeWhatFollows() throws {
        let c = try LaneConnection()
        try c.send("GET /fast-framed1 HTTP/1.1\r\nHost: h\r\n\r\nGET /fast-later2 HTTP/1.1\r\nHost: h\r\n\r\nGET /fast3 HTTP/1.1\r\nHost: h\r\n\r\n")
        // The first answered; the third waits for the second, on the full path.
        #expect(LaneConnection.bodies(try c.output()) == ["FAST GET /fast-framed1"])
        try c.send("GET /fast4 HTTP/1.1\r\nHost: h\r\n\r\n")
        #expect(try c.output().isEmpty)
        let (promise, r) = try #require(c.counts.pending.first)
        promise.succeed(r)
        c.channel.embeddedEventLoop.run()
        #expect(LaneConnection.bodies(try c.output()) == ["FAST GET /fast-later2", "FULL GET /fast3 0", "FULL GET /fast4 0"])
        #expect(c.counts.fast == 2 && c.counts.full == 2)
        // A FIN while the answer is pending: the answer still goes out, then the connection closes.
        let d = try LaneConnection()
        try d.channel.setOption(.allowRemoteHalfClosure, value: true).wait()
        try d.send("GET /fast-later HTTP/1.1\r\nHost: h\r\n\r\n")
        d.channel.pipeline.fireUserInboundEventTriggered(ChannelEvent.inputClosed)
        #expect(d.channel.isActive)
        d.counts.pending[0].0.succeed(d.counts.pending[0].1)
        d.channel.embeddedEventLoop.run()
        #expect(LaneConnection.bodies(try d.output()) == ["FAST GET /fast-later"])
        #expect(!d.channel.isActive)
    }

    /// A client that pipelines requests and reads no answers: once the socket is not writable no more input is
    /// read (through the lane or the full path), and reading resumes when it drains.
    @Test func answersLeftUnreadStopTheReading() throws {
        for viaLane in [true, false] {
            let c = try LaneConnection()
            let reads = ReadCounter()
            try c.channel.pipeline.syncOperations.addHandler(reads, position: .first)
            let target = viaLane ? "/fast" : "/full"
            try c.send("GET \(target)1 HTTP/1.1\r\nHost: h\r\n\r\n")
            c.channel.read()
            #expect(reads.reads == 1)
            c.channel.isWritable = false
            try c.send("GET \(target)2 HTTP/1.1\r\nHost: h\r\n\r\n")
            c.channel.read()
            c.channel.read()
            #expect(reads.reads == 1, "no read while the answers are not taken")
            c.channel.isWritable = true
            c.channel.pipeline.fireChannelWritabilityChanged()
            #expect(reads.reads == 2, "the held read once they drain")
            #expect(LaneConnection.bodies(try c.output()).count == 2)
        }
    }

    @Test func stepsOutForGoodAtTheFirstRequestItDoesNotTake() throws {
        let c = try LaneConnection()
        // A body, then plain requests pipelined behind it: all answered, in order, by the full path.
        try c.send("GET /fast1 HTTP/1.1\r\nHost: h\r\n\r\nPOST /slow HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\nabcGET /fast2 HTTP/1.1\r\nHost: h\r\n\r\n")
        try c.send("GET /fast3 HTTP/1.1\r\nHost: h\r\n\r\n")
        #expect(LaneConnection.bodies(try c.output()) == ["FAST GET /fast1", "FULL POST /slow 3", "FULL GET /fast2 0", "FULL GET /fast3 0"])
        #expect(c.counts.fast == 1 && c.counts.full == 3)
    }

    @Test func aRequestTheResponderLeavesOrOneCutAcrossReadsGoesToTheFullPath() throws {
        let c = try LaneConnection()
        try c.send("GET /other HTTP/1.1\r\nHost: h\r\n\r\n")
        #expect(LaneConnection.bodies(try c.output()) == ["FULL GET /other 0"])
        let d = try LaneConnection()
        try d.send("GET /fast1 HTTP/1.1\r\nHost: h\r\n\r\nGET /fa")
        try d.send("st2 HTTP/1.1\r\nHost: h\r\n\r\n")
        #expect(LaneConnection.bodies(try d.output()) == ["FAST GET /fast1", "FULL GET /fast2 0"])
    }

    /// A malformed request after the lane's answers is refused in the shape of its own target (the handler's
    /// rejection names it), whether it came whole or in pieces; not in the first request's.
    @Test func aMalformedRequestAfterTheLaneIsRefusedByItsOwnTarget() throws {
        let malformed = "GET /v3/p/x HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\nContent-Length: 0\r\n\r\n"
        for cut in [malformed.count, 5, 12, malformed.count - 3] {
            let c = try LaneConnection()
            try c.send("GET /fast HTTP/1.1\r\nHost: h\r\n\r\n" + String(malformed.prefix(cut)))
            if cut < malformed.count { try c.send(String(malformed.dropFirst(cut))) }
            let bodies = LaneConnection.bodies(try c.output())
            #expect(bodies == ["FAST GET /fast", "refused /v3/p/x"], "cut at \(cut)")
        }
    }

    @Test func malformedAndOversizedRequestsGetTheHandlersErrors() throws {
        var limits = HTTPServerLimits()
        limits.maxURIBytes = 32
        let c = try LaneConnection(limits: limits)
        try c.send("GET /fast" + String(repeating: "a", count: 40) + " HTTP/1.1\r\nHost: h\r\n\r\n")
        let out = try c.output()
        #expect(out.hasPrefix("HTTP/1.1 414 URI Too Long"), "\(out)")
        let d = try LaneConnection()
        try d.send("GET /fast HTTP/1.1\r\nHost: a\nX: b\r\n\r\n")
        #expect(try d.output().hasPrefix("HTTP/1.1 400 Bad Request"))
        #expect(c.counts.fast == 0 && d.counts.fast == 0)
    }

    /// The lane's answers are activity: the handler's idle timer does not close a connection the lane serves.
    @Test func theLanesTrafficKeepsTheConnectionFromTheIdleTimeout() throws {
        var limits = HTTPServerLimits()
        limits.idleTimeout = .seconds(10)
        let c = try LaneConnection(limits: limits)
        for _ in 0..<3 {
            c.channel.embeddedEventLoop.advanceTime(by: .seconds(7))
            try c.send("GET /fast HTTP/1.1\r\nHost: h\r\n\r\n")
        }
        #expect(c.channel.isActive)  // 21 s since the connection opened, never 10 s idle
        #expect(c.counts.fast == 3)
        c.channel.embeddedEventLoop.advanceTime(by: .seconds(11))
        #expect(!c.channel.isActive)
    }

    @Test func aGracefulShutdownLeavesTheConnectionToTheHandler() throws {
        let c = try LaneConnection()
        try c.send("GET /fast HTTP/1.1\r\nHost: h\r\n\r\n")
        c.channel.pipeline.fireUserInboundEventTriggered(ChannelShouldQuiesceEvent())
        c.channel.embeddedEventLoop.run()
        #expect(LaneConnection.bodies(try c.output()) == ["FAST GET /fast"])
        #expect(!c.channel.isActive)  // idle: closed at once
    }

    /// A forwarded request's answer (`.wireLater`): the lane keeps the connection and answers in order, holding
    /// what arrives meanwhile, and never steps out for it.
    @Test func anAnswerOnTheWireLaterKeepsTheLaneAndTheOrder() throws {
        let c = try LaneConnection()
        let loop = c.channel.embeddedEventLoop
        try c.send("GET /fast-wire-later1 HTTP/1.1\r\nHost: h\r\n\r\nGET /fast2 HTTP/1.1\r\nHost: h\r\n\r\nGET /fast-wire-later3 HTTP/1.1\r\nHost: h\r\n\r\n")
        #expect(try c.output().isEmpty)
        try c.send("GET /fast4 HTTP/1.1\r\nHost: h\r\n\r\n")  // arrives while an answer is awaited: held
        #expect(try c.output().isEmpty && c.counts.fast == 1)
        c.counts.giveWire(loop)
        let o1 = try c.output()
        #expect(LaneConnection.bodies(o1) == ["FAST GET /fast-wire-later1", "FAST GET /fast2"], "\(o1)")
        c.counts.giveWire(loop)
        #expect(LaneConnection.bodies(try c.output()) == ["FAST GET /fast-wire-later3", "FAST GET /fast4"])
        #expect(c.counts.fast == 4 && c.counts.full == 0, "all in the lane")
        // A request cut across reads while an answer is awaited: joined, still the lane's.
        try c.send("GET /fast-wire-later5 HTTP/1.1\r\nHost: h\r\n\r\nGET /fa")
        try c.send("st6 HTTP/1.1\r\nHost: h\r\n\r\n")
        c.counts.giveWire(loop)
        #expect(LaneConnection.bodies(try c.output()) == ["FAST GET /fast-wire-later5", "FAST GET /fast6"])
        #expect(c.counts.full == 0 && c.channel.isActive)
        // Held requests the lane does not take go to the full path, after the awaited answer.
        try c.send("GET /fast-wire-later7 HTTP/1.1\r\nHost: h\r\n\r\nPOST /slow HTTP/1.1\r\nHost: h\r\nContent-Length: 2\r\n\r\nab")
        c.counts.giveWire(loop)
        #expect(LaneConnection.bodies(try c.output()) == ["FAST GET /fast-wire-later7", "FULL POST /slow 2"])
    }

    /// Many pipelined requests behind an awaited answer (over the hold limit): all answered, in order.
    @Test func requestsPipelinedBehindAnAwaitedAnswerAreAllAnswered() throws {
        let c = try LaneConnection()
        try c.send("GET /fast-wire-later0 HTTP/1.1\r\nHost: h\r\n\r\n")
        let n = 3000  // about 90 KB, past the 64 KiB the lane holds before it stops reading
        for k in 1...n { try c.send("GET /fast\(k) HTTP/1.1\r\nHost: h\r\nX: y\r\n\r\n") }
        #expect(try c.output().isEmpty)
        c.counts.giveWire(c.channel.embeddedEventLoop)
        let bodies = LaneConnection.bodies(try c.output())
        #expect(bodies.count == n + 1)
        #expect(bodies == ["FAST GET /fast-wire-later0"] + (1...n).map { "FAST GET /fast\($0)" })
    }

    /// The client's FIN, a graceful shutdown, or the idle timer while an answer is awaited: the answer still
    /// goes out; then the connection closes (FIN, shutdown) or stays (the wait was not idleness).
    @Test func anAwaitedAnswerOutlivesAFinAShutdownAndTheIdleTimer() throws {
        let fin = try LaneConnection()
        try fin.channel.setOption(.allowRemoteHalfClosure, value: true).wait()
        try fin.send("GET /fast-wire-later HTTP/1.1\r\nHost: h\r\n\r\n")
        fin.channel.pipeline.fireUserInboundEventTriggered(ChannelEvent.inputClosed)
        #expect(fin.channel.isActive)
        fin.counts.giveWire(fin.channel.embeddedEventLoop)
        #expect(LaneConnection.bodies(try fin.output()) == ["FAST GET /fast-wire-later"])
        #expect(!fin.channel.isActive)

        let quiesce = try LaneConnection()
        try quiesce.send("GET /fast-wire-later HTTP/1.1\r\nHost: h\r\n\r\n")
        quiesce.channel.pipeline.fireUserInboundEventTriggered(ChannelShouldQuiesceEvent())
        quiesce.channel.embeddedEventLoop.run()
        #expect(quiesce.channel.isActive)
        quiesce.counts.giveWire(quiesce.channel.embeddedEventLoop)
        #expect(LaneConnection.bodies(try quiesce.output()) == ["FAST GET /fast-wire-later"])
        #expect(!quiesce.channel.isActive)

        var limits = HTTPServerLimits()
        limits.idleTimeout = .seconds(10)
        let slow = try LaneConnection(limits: limits)
        try slow.send("GET /fast-wire-later HTTP/1.1\r\nHost: h\r\n\r\n")
        slow.channel.embeddedEventLoop.advanceTime(by: .seconds(30))
        #expect(slow.channel.isActive, "awaiting an answer is not idle")
        slow.counts.giveWire(slow.channel.embeddedEventLoop)
        #expect(LaneConnection.bodies(try slow.output()) == ["FAST GET /fast-wire-later"])
        slow.channel.embeddedEventLoop.advanceTime(by: .seconds(9))
        #expect(slow.channel.isActive)
        slow.channel.embeddedEventLoop.advanceTime(by: .seconds(2))
        #expect(!slow.channel.isActive, "idle from the answer on")
    }

    @Test func aFailedAwaitedAnswerClosesTheConnection() throws {
        let c = try LaneConnection()
        try c.send("GET /fast-wire-later HTTP/1.1\r\nHost: h\r\n\r\nGET /fast2 HTTP/1.1\r\nHost: h\r\n\r\n")
        struct Broken: Error {}
        c.counts.wirePending.removeFirst().0.fail(Broken())
        c.channel.embeddedEventLoop.run()
        #expect(try c.output().isEmpty)
        #expect(!c.channel.isActive)
    }

    /// A graceful shutdown while an answer is awaited: the answer says `Connection: close`, a request sent
    /// after it is not served (as on the full path), and the connection closes.
    @Test func aShutdownWhileAnAnswerIsAwaitedClosesAfterItAndServesNothingMore() throws {
        let c = try LaneConnection()
        try c.send("GET /fast-wire-later1 HTTP/1.1\r\nHost: h\r\n\r\nGET /fast2 HTTP/1.1\r\nHost: h\r\n\r\n")
        c.channel.pipeline.fireUserInboundEventTriggered(ChannelShouldQuiesceEvent())
        c.counts.giveWire(c.channel.embeddedEventLoop)
        let out = try c.output()
        #expect(LaneConnection.bodies(out) == ["FAST GET /fast-wire-later1"])
        #expect(out.hasPrefix("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 26\r\nConnection: close\r\n\r\n"), "\(out)")
        #expect(c.counts.fast == 1 && c.counts.full == 0)
        #expect(!c.channel.isActive)
    }

    /// An answer ready at once (a refused connect fails before the call returns), among held requests and a
    /// held FIN: every request answered in order, and only then the FIN's close.
    @Test func anAnswerReadyAtOnceAmongHeldRequestsKeepsTheOrderAndTheFinWaits() throws {
        let c = try LaneConnection()
        try c.channel.setOption(.allowRemoteHalfClosure, value: true).wait()
        try c.send("GET /fast-wire-later1 HTTP/1.1\r\nHost: h\r\n\r\n")
        try c.send("GET /fast-wire-now2 HTTP/1.1\r\nHost: h\r\n\r\nGET /fast-wire-now3 HTTP/1.1\r\nHost: h\r\n\r\nGET /fast4 HTTP/1.1\r\nHost: h\r\n\r\n")
        c.channel.pipeline.fireUserInboundEventTriggered(ChannelEvent.inputClosed)
        #expect(c.channel.isActive)
        c.counts.giveWire(c.channel.embeddedEventLoop)
        #expect(
            LaneConnection.bodies(try c.output()) == ["FAST GET /fast-wire-later1", "FAST GET /fast-wire-now2", "FAST GET /fast-wire-now3", "FAST GET /fast4"])
        #expect(!c.channel.isActive)
        // Alone, on a fresh connection: answered in the same read.
        let d = try LaneConnection()
        try d.send("GET /fast-wire-now1 HTTP/1.1\r\nHost: h\r\n\r\nGET /fast2 HTTP/1.1\r\nHost: h\r\n\r\n")
        #expect(LaneConnection.bodies(try d.output()) == ["FAST GET /fast-wire-now1", "FAST GET /fast2"])
    }

    /// Held bytes over the limit hold the reads (not `autoRead`, which the connection handler's own read gate
    /// would not see): asked-for reads wait until the answer is written.
    @Test func heldBytesOverTheLimitHoldTheReadsUntilTheAnswer() throws {
        let c = try LaneConnection()
        let reads = ReadCounter()
        try c.channel.pipeline.syncOperations.addHandler(reads, position: .first)
        try c.send("GET /fast-wire-later0 HTTP/1.1\r\nHost: h\r\n\r\n")
        c.channel.read()
        #expect(reads.reads == 1, "under the limit, reads pass")
        try c.send("GET /fast1 HTTP/1.1\r\nHost: h\r\nX: " + String(repeating: "y", count: 70 * 1024) + "\r\n\r\n")
        c.channel.read()
        c.channel.read()
        #expect(reads.reads == 1, "over the limit, reads wait")
        c.counts.giveWire(c.channel.embeddedEventLoop)
        #expect(reads.reads == 2, "the waiting read once the answer is written")
        #expect(LaneConnection.bodies(try c.output()).count == 2)
    }

    /// A client that pipelines and takes no answers: once the connection is not writable, the held requests
    /// wait (the proxy does not fetch them all), and are served when it drains.
    @Test func heldRequestsWaitForAClientThatTakesNoAnswers() throws {
        let c = try LaneConnection()
        try c.send("GET /fast-wire-later1 HTTP/1.1\r\nHost: h\r\n\r\nGET /fast-wire-later2 HTTP/1.1\r\nHost: h\r\n\r\nGET /fast3 HTTP/1.1\r\nHost: h\r\n\r\n")
        c.channel.isWritable = false
        c.counts.giveWire(c.channel.embeddedEventLoop)
        #expect(LaneConnection.bodies(try c.output()) == ["FAST GET /fast-wire-later1"])
        #expect(c.counts.fast == 1 && c.counts.wirePending.isEmpty, "the second is not asked for while the first is not taken")
        try c.send("GET /fast4 HTTP/1.1\r\nHost: h\r\n\r\n")  // still held, behind the others
        c.channel.isWritable = true
        c.channel.pipeline.fireChannelWritabilityChanged()
        c.counts.giveWire(c.channel.embeddedEventLoop)
        #expect(LaneConnection.bodies(try c.output()) == ["FAST GET /fast-wire-later2", "FAST GET /fast3", "FAST GET /fast4"])
        #expect(c.counts.full == 0)
        // A shutdown while held requests wait for such a client: they are not served, and the connection closes.
        let d = try LaneConnection()
        try d.send("GET /fast-wire-later1 HTTP/1.1\r\nHost: h\r\n\r\nGET /fast2 HTTP/1.1\r\nHost: h\r\n\r\n")
        d.channel.isWritable = false
        d.counts.giveWire(d.channel.embeddedEventLoop)
        d.channel.pipeline.fireUserInboundEventTriggered(ChannelShouldQuiesceEvent())
        d.channel.isWritable = true
        d.channel.pipeline.fireChannelWritabilityChanged()
        d.channel.embeddedEventLoop.run()
        #expect(LaneConnection.bodies(try d.output()) == ["FAST GET /fast-wire-later1"])
        #expect(d.counts.fast == 1 && !d.channel.isActive)
    }
}
