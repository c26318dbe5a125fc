import CompressNIO
import Foundation
import NIOCore
import NIOEmbedded
import NIOHTTP1
import Testing
@testable import TapedeckHTTP

@Suite struct HTTPResponseHeadParserTests {
    func parse(_ s: String) -> HTTPResponseHeadParser.Result {
        Array(s.utf8).withUnsafeBytes { HTTPResponseHeadParser.parse($0, collectHeaders: true) }
    }

    @Test func parsesStatusLengthAndHeaders() throws {
        guard case .head(let h) = parse("HTTP/1.1 404 Not Found\r\nContent-Length: 12\r\nX-A: b \r\n\r\nbody") else {
            Issue.record("no head"); return
        }
        #expect(h.status == 404 && h.contentLength == 12 && !h.closes && !h.chunked)
        #expect(h.headerLength == "HTTP/1.1 404 Not Found\r\nContent-Length: 12\r\nX-A: b \r\n\r\n".utf8.count)
        #expect(h.headers.map { "\($0.0)=\($0.1)" } == ["Content-Length=12", "X-A=b"])
    }

    @Test(arguments: [
        "HTTP/1.1 2000 OK\r\nContent-Length: 0\r\n\r\n", "HTTP/1.1 20 OK\r\n\r\n", "HTTP/2 200 OK\r\n\r\n",
        "HTTP/1.1 2x0 OK\r\n\r\n", "ICY 200 OK\r\nContent-Length: 1\r\n\r\n",
        "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
        "HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n", "HTTP/1.1 200 OK\r\nNoColon\r\n\r\n", "HTTP/1.1 999 Nine\r\n\r\n",
        // As llhttp: control bytes in a value (a bare CR would end a line for some clients), a folded line,
        // a name that is not a token.
        "HTTP/1.1 200 OK\r\nX-A: a\rSet-Cookie: x=1\r\n\r\n", "HTTP/1.1 200 OK\r\nX-A: a\u{0}b\r\n\r\n",
        "HTTP/1.1 200 OK\r\nX-A: a\u{7F}\r\n\r\n", "HTTP/1.1 200 OK\r\nX-A: a\r\n folded: b\r\n\r\n",
        "HTTP/1.1 200 OK\r\nX A: a\r\n\r\n",
        // Both framings (response splitting), a status outside 100-599.
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n", "HTTP/1.1 600 Custom\r\n\r\n",
    ])
    func rejectsMalformedHeads(_ s: String) {
        guard case .invalid = parse(s) else { Issue.record("accepted: \(s.debugDescription)"); return }
    }

    @Test func statusLineWithoutReasonAndConnectionClose() {
        guard case .head(let h) = parse("HTTP/1.1 200\r\nConnection: close\r\n\r\n") else { Issue.record("no head"); return }
        #expect(h.status == 200 && h.closes && h.contentLength == nil)
        guard case .head(let old) = parse("HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n") else { Issue.record("no head"); return }
        #expect(old.closes)
    }

    @Test(arguments: [
        ("HTTP/1.1 200 OK\r\nConnection: CLOSE\r\n\r\n", true), ("HTTP/1.1 200 OK\r\nConnection: Upgrade, Close\r\n\r\n", true),
        ("HTTP/1.0 200 OK\r\nConnection: Keep-Alive\r\n\r\n", false), ("HTTP/1.0 200 OK\r\nConnection: keep-alive \r\n\r\n", false),
        ("HTTP/1.1 200 OK\r\nConnection: clos\r\n\r\n", false), ("HTTP/1.0 200 OK\r\nConnection: keepalive\r\n\r\n", true),
        // A close in one Connection header holds whatever a later one says (llhttp ORs them).
        ("HTTP/1.1 200 OK\r\nConnection: close\r\nConnection: keep-alive\r\n\r\n", true),
        ("HTTP/1.0 200 OK\r\nConnection: close\r\nConnection: keep-alive\r\n\r\n", true),
    ])
    func connectionTokensIgnoreCase(_ s: String, closes: Bool) {
        guard case .head(let h) = parse(s) else { Issue.record("no head"); return }
        #expect(h.closes == closes, "\(s.debugDescription)")
    }

    @Test func needsMoreDataUntilTheBlankLine() {
        guard case .needMoreData = parse("HTTP/1.1 200 OK\r\nContent-Le") else { Issue.record("parsed a partial head"); return }
        guard case .head(let h) = parse("HTTP/1.1 304 Not Modified\r\nContent-Length: 50\r\n\r\n") else { Issue.record("no head"); return }
        #expect(h.contentLength == 0, "304 has no body whatever it announces")
    }

    /// Heads that can never complete are refused at once, not waited on until a timeout: bare-LF lines, bytes
    /// that do not start a status line (after a 1xx that carried an unannounced body, say).
    @Test(arguments: ["HTTP/1.1 200 OK\nContent-Length: 5\n\nhello", "HTTP/1.1 200 OK\r\nX: 1\n", "hello", "HTTP/2", "ok\r\n"])
    func refusesWhatCannotBecomeAHeadAtOnce(_ s: String) {
        guard case .invalid = parse(s) else { Issue.record("not refused: \(s.debugDescription)"); return }
    }

    @Test func takesObsTextAndTabsInValues() {
        let bytes = Array("HTTP/1.1 200 OK\r\nX-A: caf".utf8) + [0xE9] + Array("\tb\r\n\r\n".utf8)
        guard case .head = bytes.withUnsafeBytes({ HTTPResponseHeadParser.parse($0) }) else { Issue.record("refused obs-text"); return }
    }
}

@Suite struct HTTPContentDecodingTests {
    func gzip(_ bytes: [UInt8]) throws -> ByteBuffer {
        var b = ByteBuffer(bytes: bytes)
        return try b.compress(with: .gzip())
    }

    @Test func decodesGzipAndDeflate() throws {
        let text = Array(String(repeating: "security group ", count: 100).utf8)
        #expect(Array(try HTTPContentDecoding.decode(try gzip(text), encoding: "gzip", limit: 1 << 20).readableBytesView) == text)
        var z = ByteBuffer(bytes: text)
        let zlib = try z.compress(with: .zlib())
        #expect(Array(try HTTPContentDecoding.decode(zlib, encoding: "Deflate", limit: 1 << 20).readableBytesView) == text)
        var d = ByteBuffer(bytes: text)
        let raw = try d.compress(with: .deflate())
        #expect(Array(try HTTPContentDecoding.decode(raw, encoding: "deflate", limit: 1 << 20).readableBytesView) == text)
    }

    /// RFC 1952: a gzip body may be several members back to back; all of them are the body (zero padding after
    /// the last is tolerated), and the limit holds over their sum.
    @Test func everyGzipMemberOfABodyIsDecoded() throws {
        var body = try gzip(Array("part1 ".utf8))
        var second = try gzip(Array("part2".utf8))
        body.writeBuffer(&second)
        #expect(String(buffer: try HTTPContentDecoding.decode(body, encoding: "gzip", limit: 1 << 20)) == "part1 part2")
        var padded = body
        padded.writeBytes([0, 0, 0, 0])
        #expect(String(buffer: try HTTPContentDecoding.decode(padded, encoding: "gzip", limit: 1 << 20)) == "part1 part2")
        #expect(throws: HTTPContentDecoding.Failure.tooLarge(limit: 8)) { try HTTPContentDecoding.decode(body, encoding: "gzip", limit: 8) }
        var junk = body
        junk.writeString("junk")
        #expect(throws: HTTPContentDecoding.Failure.corrupt(encoding: "gzip")) { try HTTPContentDecoding.decode(junk, encoding: "gzip", limit: 1 << 20) }
    }

    /// Stacked codings (`gzip, gzip`, a second header line, `identity` among them) are undone last first; one
    /// this layer cannot undo leaves the body as it came.
    @Test func stackedCodingsAreUndoneInTurn() throws {
        let text = Array("twice compressed".utf8)
        var inner = ByteBuffer(bytes: text)
        let zlib = try inner.compress(with: .zlib())
        let twice = try gzip(Array(zlib.readableBytesView))
        let layers = try #require(HTTPContentDecoding.decodableLayers(["deflate,identity", " GZIP "]))
        #expect(layers == ["deflate", "gzip"])
        #expect(Array(try HTTPContentDecoding.decode(twice, layers: layers, limit: 1 << 20).readableBytesView) == text)
        #expect(throws: HTTPContentDecoding.Failure.self) { try HTTPContentDecoding.decode(twice, layers: ["gzip", "deflate"], limit: 1 << 20) }
        #expect(HTTPContentDecoding.decodableLayers(["gzip, br"]) == nil)
        #expect(HTTPContentDecoding.decodableLayers(["identity"]) == nil)
        #expect(HTTPContentDecoding.decodableLayers([]) == nil)
        #expect(HTTPContentDecoding.decodableLayers([String](repeating: "gzip", count: 9)) == nil)
    }

    @Test func aGzipBombIsRefusedAtTheLimit() throws {
        let bomb = try gzip([UInt8](repeating: 0, count: 64 << 20))  // 64 MiB of zeros: about 64 KB compressed
        #expect(bomb.readableBytes < 100_000)
        #expect(throws: HTTPContentDecoding.Failure.tooLarge(limit: 1 << 20)) {
            try HTTPContentDecoding.decode(bomb, encoding: "gzip", limit: 1 << 20)
        }
    }

    /// The limit is the decoded size, exactly: compress-nio's own bound let 78 KB of gzip inflate to 80 MB
    /// under 64 MiB (its buffers round up and are filled).
    @Test(arguments: [1_500_000, 3_000_000, 5_000_000])
    func theLimitIsTheDecodedSizeExactly(size: Int) throws {
        let zeros = try gzip([UInt8](repeating: 0, count: size))
        #expect(try HTTPContentDecoding.decode(zeros, encoding: "gzip", limit: size).readableBytes == size)
        #expect(throws: HTTPContentDecoding.Failure.tooLarge(limit: size - 1)) {
            try HTTPContentDecoding.decode(zeros, encoding: "gzip", limit: size - 1)
        }
        if size > 2 << 20 {
            #expect(throws: HTTPContentDecoding.Failure.tooLarge(limit: 2 << 20)) { try HTTPContentDecoding.decode(zeros, encoding: "gzip", limit: 2 << 20) }
        }
    }

    /// A body the upstream cut short is not a shorter answer: every cut of a gzip, zlib and raw deflate body
    /// (inside the data, inside the gzip trailer, in a second member) is refused as corrupt. Decoded as far as it
    /// went, it was once answered 200 and recorded.
    @Test func aBodyCutShortIsCorruptWhereverItIsCut() throws {
        var rng = SystemRandomNumberGenerator()
        let text = (0..<6000).map { _ in UInt8.random(in: 97...122, using: &rng) }  // letters: compresses, not to nothing
        var z = ByteBuffer(bytes: text)
        let zlib = try z.compress(with: .zlib())
        var d = ByteBuffer(bytes: text)
        let raw = try d.compress(with: .deflate())
        var twoMembers = try gzip(text)
        var second = try gzip(text)
        twoMembers.writeBuffer(&second)
        for (body, encoding) in [(try gzip(text), "gzip"), (zlib, "deflate"), (raw, "deflate"), (twoMembers, "gzip")] {
            #expect(try HTTPContentDecoding.decode(body, encoding: encoding, limit: 1 << 20).readableBytes == text.count * (body == twoMembers ? 2 : 1))
            for cut in Set([1, 2, 5, 8, 9, body.readableBytes / 2 - 7, body.readableBytes - 4]) {  // (cut at half, two members leave one whole)
                let short = body.getSlice(at: body.readerIndex, length: body.readableBytes - cut)!
                #expect(throws: HTTPContentDecoding.Failure.corrupt(encoding: encoding), "\(encoding) cut by \(cut) of \(body.readableBytes)") {
                    try HTTPContentDecoding.decode(short, encoding: encoding, limit: 1 << 20)
                }
            }
        }
        #expect(try HTTPContentDecoding.decode(ByteBuffer(), encoding: "gzip", limit: 1 << 20).readableBytes == 0)
    }

    @Test func corruptDataIsNamed() {
        #expect(throws: HTTPContentDecoding.Failure.corrupt(encoding: "gzip")) {
            try HTTPContentDecoding.decode(ByteBuffer(string: "not gzip at all"), encoding: "gzip", limit: 1 << 20)
        }
    }
}

@Suite struct HTTPClientResponseCollectorTests {
    func client() throws -> (EmbeddedChannel, HTTPClientResponseCollector) {
        let channel = EmbeddedChannel()
        try channel.pipeline.syncOperations.addHTTPClientHandlers()
        let collector = HTTPClientResponseCollector(maxBody: 100)
        try channel.pipeline.syncOperations.addHandler(collector)
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1)).wait()
        return (channel, collector)
    }

    func request(_ channel: EmbeddedChannel, _ collector: HTTPClientResponseCollector) throws -> EventLoopFuture<HTTPClientResponse> {
        let p = channel.eventLoop.makePromise(of: HTTPClientResponse.self)
        collector.start(p)
        try channel.writeOutbound(HTTPClientRequestPart.head(HTTPRequestHead(version: .http1_1, method: .GET, uri: "/")))
        try channel.writeOutbound(HTTPClientRequestPart.end(nil))
        return p.futureResult
    }

    @Test func collectsAResponseAndSkipsInterimOnes() throws {
        let (ch, c) = try client()
        let f = try request(ch, c)
        try ch.writeInbound(ByteBuffer(string: "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"))
        let r = try f.wait()
        #expect(r.head.status == .ok && String(buffer: r.body) == "ok")
        #expect(c.isReusable)
    }

    @Test func bytesNobodyAskedForPoisonThePooledConnection() throws {
        let (ch, c) = try client()
        let f = try request(ch, c)
        // The answer, and then a second answer nobody asked for (a server that answers twice, or a smuggled response).
        _ = try? ch.writeInbound(
            ByteBuffer(string: "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\naHTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nevil"))
        #expect(String(buffer: try f.wait().body) == "a")
        #expect(!c.isReusable)
        #expect(!ch.isActive)
    }

    @Test func strayBytesWhileIdleAreNeverReadAsTheNextAnswer() throws {
        let (ch, c) = try client()
        let f = try request(ch, c)
        try ch.writeInbound(ByteBuffer(string: "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\na"))
        _ = try f.wait()
        #expect(c.isReusable)
        _ = try? ch.writeInbound(ByteBuffer(string: "HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nevil"))
        #expect(!c.isReusable)
        let p = ch.eventLoop.makePromise(of: HTTPClientResponse.self)
        c.start(p)
        #expect(throws: HTTPClientFailure.self) { try p.futureResult.wait() }
    }

    /// An abandoned exchange (the proxy's upstream timeout) completes once, with the abandoning error; an
    /// answer arriving afterwards is not delivered, and a callback started from inside a completion is kept.
    @Test func anAbandonedExchangeCompletesOnceWithItsError() throws {
        struct TimedOut: Error {}
        final class Log { var results: [String] = [] }
        let (ch, c) = try client()
        let log = Log()
        c.start { result in log.results.append((try? result.get()).map { String(buffer: $0.body) } ?? "\(result)") }
        try ch.writeOutbound(HTTPClientRequestPart.head(HTTPRequestHead(version: .http1_1, method: .GET, uri: "/")))
        try ch.writeOutbound(HTTPClientRequestPart.end(nil))
        c.abandon(TimedOut())
        c.abandon(TimedOut())
        _ = try? ch.writeInbound(ByteBuffer(string: "HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nlate"))
        #expect(log.results.count == 1 && log.results[0].contains("TimedOut"), "\(log.results)")
        #expect(!c.isReusable, "a connection whose exchange was given up is never reused, even if the answer arrives")

        let (ch2, c2) = try client()
        c2.start { result in
            log.results.append("first \((try? result.get()).map { String(buffer: $0.body) } ?? "failed")")
            c2.start { next in log.results.append("second \((try? next.get()).map { String(buffer: $0.body) } ?? "failed")") }
        }
        func send() throws {
            try ch2.writeOutbound(HTTPClientRequestPart.head(HTTPRequestHead(version: .http1_1, method: .GET, uri: "/")))
            try ch2.writeOutbound(HTTPClientRequestPart.end(nil))
        }
        try send()
        try ch2.writeInbound(ByteBuffer(string: "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\na"))
        try send()
        try ch2.writeInbound(ByteBuffer(string: "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nb"))
        #expect(log.results.suffix(2) == ["first a", "second b"], "\(log.results)")
    }

    @Test func aBadStatusLineFailsTheExchange() throws {
        let (ch, c) = try client()
        let f = try request(ch, c)
        _ = try? ch.writeInbound(ByteBuffer(string: "HTTP/1.1 2000 OK\r\nContent-Length: 0\r\n\r\n"))
        #expect(throws: (any Error).self) { try f.wait() }
        #expect(!c.isReusable)
    }

    @Test func aBodyOverTheLimitFails() throws {
        let (ch, c) = try client()
        let f = try request(ch, c)
        _ = try? ch.writeInbound(ByteBuffer(string: "HTTP/1.1 200 OK\r\nContent-Length: 101\r\n\r\n" + String(repeating: "x", count: 101)))
        #expect(throws: HTTPClientFailure.bodyTooLarge(limit: 100)) { try f.wait() }
    }
}

/// The client response cycle without a channel: events in, actions out.
@Suite struct HTTPClientResponseStateMachineTests {
    func head(_ status: HTTPResponseStatus, keepAlive: Bool = true) -> HTTPResponseHead {
        var h = HTTPResponseHead(version: .http1_1, status: status)
        if !keepAlive { h.headers.add(name: "Connection", value: "close") }
        return h
    }

    /// An announced `Content-Length` over the limit fails the exchange at its head, before any body is waited
    /// for (an upstream that announces 100 MB and stalls was a 504 after the timeout); a HEAD's answer, a 204 and
    /// a 304 announce lengths they do not send, and pass.
    @Test func anAnnouncedLengthOverTheLimitFailsAtTheHead() {
        func headWith(_ status: HTTPResponseStatus, length: Int) -> HTTPResponseHead {
            var h = head(status)
            h.headers.add(name: "Content-Length", value: "\(length)")
            return h
        }
        var m = HTTPClientResponseStateMachine(maxBody: 100)
        _ = m.start()
        guard case .failAndClose(HTTPClientFailure.bodyTooLarge(limit: 100)) = m.head(headWith(.ok, length: 101)) else {
            Issue.record("refused at the head")
            return
        }
        #expect(!m.isReusable)
        var fits = HTTPClientResponseStateMachine(maxBody: 100)
        _ = fits.start()
        guard case .none = fits.head(headWith(.ok, length: 100)) else { Issue.record("100 bytes fit"); return }
        for (status, expectsBody) in [(HTTPResponseStatus.ok, false), (.notModified, true), (.noContent, true)] {
            var ok = HTTPClientResponseStateMachine(maxBody: 100)
            _ = ok.start(expectsBody: expectsBody)
            guard case .none = ok.head(headWith(status, length: 1 << 30)) else { Issue.record("\(status) expectsBody \(expectsBody)"); return }
            guard case .succeed = ok.end() else { Issue.record("\(status) completes"); return }
        }
    }

    @Test func oneExchangeThenReusableOnlyIfTheAnswerAllowsIt() {
        var m = HTTPClientResponseStateMachine(maxBody: 10)
        #expect(!m.isReusable)  // nothing was answered yet
        #expect(m.start() == nil)
        #expect(!m.receivedAny)
        guard case .none = m.head(head(.continue)) else { Issue.record("1xx must be skipped"); return }
        #expect(m.receivedAny)
        _ = m.head(head(.ok))
        var chunk = ByteBuffer(string: "abc")
        _ = m.body(&chunk)
        guard case .succeed(let r) = m.end() else { Issue.record("expected the response"); return }
        #expect(r.head.status == .ok && String(buffer: r.body) == "abc")
        #expect(m.isReusable)
        #expect(m.start() == nil)
        _ = m.head(head(.ok, keepAlive: false))
        guard case .succeed = m.end() else { Issue.record("expected the response"); return }
        #expect(!m.isReusable)
    }

    /// A pooled connection the server reset before any of the answer arrived fails like a close with nothing
    /// received (the client retries that once); after part of an answer, or for another error, it does not.
    @Test func aResetBeforeAnyAnswerIsAClose() {
        var m = HTTPClientResponseStateMachine(maxBody: 10)
        _ = m.start()
        guard case .failAndClose(let e) = m.failed(IOError(errnoCode: ECONNRESET, reason: "read")) else { Issue.record("fail"); return }
        #expect(e as? HTTPClientFailure == .closed(receivedAny: false))
        var n = HTTPClientResponseStateMachine(maxBody: 10)
        _ = n.start()
        _ = n.head(head(.ok))
        guard case .failAndClose(let e2) = n.failed(IOError(errnoCode: ECONNRESET, reason: "read")) else { Issue.record("fail"); return }
        #expect(e2 is IOError, "part of the answer arrived: not retried")
        var o = HTTPClientResponseStateMachine(maxBody: 10)
        _ = o.start()
        guard case .failAndClose(let e3) = o.failed(HTTPClientFailure.malformed("x")) else { Issue.record("fail"); return }
        #expect(e3 as? HTTPClientFailure == .malformed("x"))
    }

    @Test func aSecondStartWhileAwaitingIsRefused() {
        var m = HTTPClientResponseStateMachine(maxBody: 10)
        #expect(m.start() == nil)
        #expect(m.start() == .unsolicited)
    }

    @Test func anythingWhileIdlePoisonsForGood() {
        var m = HTTPClientResponseStateMachine(maxBody: 10)
        guard case .close = m.head(head(.ok)) else { Issue.record("unsolicited head must close"); return }
        #expect(m.start() == .unsolicited)
        #expect(!m.isReusable)
    }

    @Test func overLimitMalformedCloseAndErrorsFailTheExchange() {
        var m = HTTPClientResponseStateMachine(maxBody: 4)
        _ = m.start()
        _ = m.head(head(.ok))
        var big = ByteBuffer(string: "12345")
        guard case .failAndClose(let e) = m.body(&big) else { Issue.record("over the limit must fail"); return }
        #expect(e as? HTTPClientFailure == .bodyTooLarge(limit: 4))

        var n = HTTPClientResponseStateMachine(maxBody: 4)
        _ = n.start()
        guard case .failAndClose(let e2) = n.end() else { Issue.record("an end without a head must fail"); return }
        #expect(e2 as? HTTPClientFailure == .malformed("end of response without a head"))

        var c = HTTPClientResponseStateMachine(maxBody: 4)
        _ = c.start()
        guard case .fail(let e3) = c.closed() else { Issue.record("a close in flight must fail"); return }
        #expect(e3 as? HTTPClientFailure == .closed(receivedAny: false))  // safe to retry
        var d = HTTPClientResponseStateMachine(maxBody: 4)
        _ = d.start()
        _ = d.head(head(.ok))
        guard case .fail(let e4) = d.closed() else { Issue.record("a close in flight must fail"); return }
        #expect(e4 as? HTTPClientFailure == .closed(receivedAny: true))  // not safe to retry
        guard case .none = d.closed() else { Issue.record("a second close does nothing"); return }
    }
}

@Suite struct CloudErrorDocumentTests {
    @Test func rendersEachCloudsShape() {
        let a = CloudErrorDocument.render(
            .aliyun(xml: false), code: "C", message: "say \"hi\"\n", requestID: "R", hostID: "H", recommend: "X",
            allocator: ByteBufferAllocator())
        #expect(String(buffer: a.body) == #"{"RequestId":"R","HostId":"H","Code":"C","Message":"say \"hi\"\n","Recommend":"X"}"#)
        #expect(a.requestIDHeader == ("x-acs-request-id", "R"))
        let x = CloudErrorDocument.render(
            .aliyun(xml: true), code: "C", message: "a<b & c", requestID: "R", allocator: ByteBufferAllocator())
        #expect(String(buffer: x.body).contains("<Message>a&lt;b &amp; c</Message>"))
        let h = CloudErrorDocument.render(.huawei, code: "VPC.0601", message: "m", requestID: "R", allocator: ByteBufferAllocator())
        #expect(String(buffer: h.body) == #"{"error_msg":"m","error_code":"VPC.0601","request_id":"R"}"#)
        #expect(h.requestIDHeader.0 == "X-Request-Id")
    }
}
