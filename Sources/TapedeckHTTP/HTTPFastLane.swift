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
    /// The whole answer as it goes on the wire, later (a forwarded request's): the lane keeps serving. It
    /// holds what the client sends meanwhile and reads it once the answer is written, so answers keep their
    /// order. The future must not fail (the lane closes the connection if it does).
    case wireLater(EventLoopFuture<ByteBuffer>)
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
public final class HTTPFastLane<Responder: HTTPFastResponder>: ChannelDuplexHandler, RemovableChannelHandler {
    public typealias InboundIn = ByteBuffer
    public typealias InboundOut = ByteBuffer
    public typealias OutboundIn = ByteBuffer
    public typealias OutboundOut = ByteBuffer

    private let server: HTTPServerHandler<Responder>
    private let limits: HTTPServerLimits
    private var needsFlush = false
    private var steppedOut = false
    /// A `.wireLater` answer is awaited; what arrives meanwhile is `held`.
    private var waiting = false
    private var held: ByteBuffer?
    /// Reading is held while `held` is over `holdLimit` (reads asked for meanwhile wait in `readWaiting`).
    private var paused = false
    private var readWaiting = false
    /// Held requests wait for the client to take the answers written so far.
    private var awaitingWritable = false
    /// Inside `serve`: an answer that is ready at once is written there, and `serve` goes on.
    private var serving = false
    /// A graceful shutdown arrived while an answer was awaited.
    private var quiescing = false
    /// The client's FIN and a graceful shutdown, while an answer is awaited.
    private var heldEvents: [Any] = []
    /// Reused for the heads of `.response` answers, as `HTTPServerHandler` does.
    private var outBuffer = ByteBuffer()

    public init(server: HTTPServerHandler<Responder>, limits: HTTPServerLimits) {
        self.server = server
        self.limits = limits
    }

    public func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !steppedOut else { return context.fireChannelRead(data) }  // (until it has left)
        var input = unwrapInboundIn(data)
        if waiting || awaitingWritable {
            hold(&input, context)
            return
        }
        serve(input, context, inRead: true)
    }

    /// Answers the plain requests at the start of `input`; steps out at the first one it cannot answer.
    /// `inRead`: called from `channelRead` (a read-complete follows), not with held bytes after an answer.
    private func serve(_ input: ByteBuffer, _ context: ChannelHandlerContext, inRead: Bool) {
        serving = true
        defer { serving = false }
        var input = input
        let now = context.eventLoop.now
        var adopted = false
        while input.readableBytes > 0 && !adopted && !waiting {
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
                case .wireLater(let future)?:
                    waiting = true
                    future.assumeIsolated().whenComplete { self.answered($0, context) }
                }
                needsFlush = true
                return plain.length
            }
            guard let taken else { break }
            input.moveReaderIndex(forwardBy: taken)
        }
        if waiting {
            if input.readableBytes > 0 { hold(&input, context) }
            return
        }
        guard input.readableBytes > 0 || adopted else { return }
        stepOut(context)
        if input.readableBytes > 0 {
            // A malformed request answered by the full path takes the shape of its own target, not the first one's.
            try? context.pipeline.syncOperations.addHandler(RequestLineSniffer(), position: .after(self))
            context.fireChannelRead(wrapInboundOut(input))
            if !inRead { context.fireChannelReadComplete() }  // the handlers behind flush their answers then
        }
        fireHeldEvents(context)
        leave(context)
    }

    /// Keeps bytes that arrive while an answer is awaited; past `holdLimit` the connection reads no more until
    /// the answer is written (a client cannot make the lane hold without bound).
    private func hold(_ input: inout ByteBuffer, _ context: ChannelHandlerContext) {
        if held == nil { held = input } else { held!.writeBuffer(&input) }
        if held!.readableBytes > HTTPFastLane.holdLimit { paused = true }
    }

    static var holdLimit: Int { 64 * 1024 }

    /// Reads pass, unless held bytes are over the limit: then the read waits for the answer. (The connection
    /// handler behind holds reads too, while the client takes no answers: the two gates compose.)
    public func read(context: ChannelHandlerContext) {
        guard paused else { return context.read() }
        readWaiting = true
    }

    private func resumeReading(_ context: ChannelHandlerContext) {
        paused = false
        if readWaiting {
            readWaiting = false
            context.read()
        }
    }

    /// The awaited answer: written; then what the client sent meanwhile is served, and the client's FIN held
    /// meanwhile goes on to the connection handler, which closes the connection once idle. On a graceful
    /// shutdown the answer says `Connection: close`, requests sent after it are not served (as on the full
    /// path), and the connection closes.
    private func answered(_ result: Result<ByteBuffer, Error>, _ context: ChannelHandlerContext) {
        waiting = false
        server.fastAnswerWritten(now: context.eventLoop.now)
        guard case .success(var bytes) = result else { return context.close(promise: nil) }
        guard context.channel.isActive else { return }
        if serving {
            // Ready at once (a refused connect): `serve` is still reading this input and goes on after it.
            context.write(wrapOutboundOut(bytes), promise: nil)
            needsFlush = true
            return
        }
        if quiescing { HTTPFastLane.closing(&bytes) }
        context.writeAndFlush(wrapOutboundOut(bytes), promise: nil)
        needsFlush = false
        resumeReading(context)
        serveHeld(context)
    }

    /// What was held while an answer was awaited: the requests, once the client takes answers (a client that
    /// pipelines and reads nothing does not make the proxy fetch them all); then the held events.
    private func serveHeld(_ context: ChannelHandlerContext) {
        if quiescing {
            held = nil
            stepOut(context)
            fireHeldEvents(context)  // the idle handler closes
            return leave(context)
        }
        if let rest = held, rest.readableBytes > 0 {
            guard context.channel.isWritable else {
                awaitingWritable = true  // resumed by `channelWritabilityChanged`
                return
            }
            held = nil
            serve(rest, context, inRead: false)  // may await another answer, or step out (passing the held events on)
            if needsFlush && !steppedOut {
                needsFlush = false
                context.flush()
            }
            if waiting || steppedOut { return }
        }
        held = nil
        fireHeldEvents(context)
    }

    private func fireHeldEvents(_ context: ChannelHandlerContext) {
        let events = heldEvents
        heldEvents = []
        for event in events { context.fireUserInboundEventTriggered(event) }
    }

    public func channelWritabilityChanged(context: ChannelHandlerContext) {
        context.fireChannelWritabilityChanged()
        guard awaitingWritable, !steppedOut, context.channel.isWritable else { return }
        awaitingWritable = false
        serveHeld(context)
    }

    /// `Connection: close` added to a whole answer's head (a lane's answer never has a `Connection` header).
    static func closing(_ answer: inout ByteBuffer) {
        guard let end = answer.readableBytesView.firstRange(of: "\r\n\r\n".utf8) else { return }
        let headLength = end.lowerBound - answer.readerIndex
        var out = ByteBuffer()
        out.reserveCapacity(answer.readableBytes + 19)
        out.writeImmutableBuffer(answer.getSlice(at: answer.readerIndex, length: headLength) ?? ByteBuffer())
        out.writeStaticString("\r\nConnection: close")
        out.writeImmutableBuffer(answer.getSlice(at: end.lowerBound, length: answer.writerIndex - end.lowerBound) ?? ByteBuffer())
        answer = out
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
        if waiting || awaitingWritable, case ChannelEvent.inputClosed? = event as? ChannelEvent {
            heldEvents.append(event)  // the client's FIN: its answer is still due
            return
        }
        guard event is ChannelShouldQuiesceEvent else { return context.fireUserInboundEventTriggered(event) }
        guard !waiting else {
            quiescing = true
            heldEvents.append(event)  // passed on once the awaited answer is written
            return
        }
        // Requests held for a client that takes no answers are not served now (as on the full path); the handler
        // closes once what was written has gone out, or gives up on a client that reads nothing.
        if held != nil || paused || awaitingWritable { server.inputLeftUnanswered() }
        held = nil
        awaitingWritable = false
        stepOut(context)
        fireHeldEvents(context)
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
        resumeReading(context)
        context.pipeline.syncOperations.removeHandler(context: context, promise: nil)
    }
}
