import NIOCore
import NIOHTTP1

/// What a server answers; one value per connection, used on that connection's event loop.
public protocol HTTPResponder {
    /// Answers a complete request.
    mutating func respond(to request: HTTPServerRequest, context: ChannelHandlerContext) -> HTTPResponderResult
    /// Renders a refused request (over a limit, malformed, too slow) in the shape its client expects.
    func rejection(_ rejection: HTTPServerRejection, allocator: ByteBufferAllocator) -> HTTPServerResponse
}

public enum HTTPResponderResult {
    /// The answer, now (the simulator, replay hits, the control API).
    case response(HTTPServerResponse)
    /// The answer, later (a forwarded request); further pipelined requests wait for it.
    case deferred(EventLoopFuture<HTTPServerResponse>)
    /// Write this answer (a `CONNECT` 200), then give the connection to `handOver`, which rebuilds the pipeline.
    case handOver(HTTPServerResponse, (ChannelHandlerContext) -> Void)
}

/// The one HTTP/1.1 server connection handler under the simulator and the proxy. It sits after NIO's
/// `HTTPRequestDecoder` and writes raw response bytes:
///
/// - collects each request with the limits of `HTTPServerLimits` (413/414/431, rendered by the responder);
/// - answers `Expect: 100-continue` with `100 Continue` before the body is read (or with the final error);
/// - after an error answer, half-closes and reads and drops the rest of the input (bounded), so ordinary
///   clients read the error instead of a connection reset;
/// - HEAD answers carry headers only;
/// - pipelined requests are answered in order: while an answer is being produced, input is held and no
///   more is read;
/// - closes connections idle (or stalled mid-request) for `idleTimeout`;
/// - reads no more input while the client leaves its answers unread (the socket is not writable);
/// - synchronous answers are flushed once per read batch.
public final class HTTPServerHandler<Responder: HTTPResponder>: ChannelDuplexHandler, RemovableChannelHandler {
    public typealias InboundIn = HTTPServerRequestPart
    public typealias OutboundIn = ByteBuffer
    public typealias OutboundOut = ByteBuffer

    private var machine: HTTPServerConnectionStateMachine
    private var responder: Responder
    private let limits: HTTPServerLimits
    /// Pipelined input that arrived while an answer was being produced.
    private var held = CircularBuffer<HTTPServerRequestPart>()
    private var readHeld = false
    /// The channel allows remote half-closure (the servers set it): a client's FIN arrives as an event,
    /// after which what it sent is still answered. Then input is also read while an answer is produced
    /// (pipelined input is held), so NIO need not drop and re-add read interest around every deferred
    /// answer. Without it (the TLS stack inside a CONNECT), an EOF closes the channel, and reads wait.
    private var readAhead = false
    private var inRead = false
    private var needsFlush = false
    /// The lazy idle timer: one scheduled task per connection, re-armed only when it fires (no per-request timers).
    private var lastActivity = NIODeadline.uptimeNanoseconds(0)
    /// The fast lane in front awaits an answer (a forwarded request's): the connection is not idle.
    private var laneAwaits = false
    private var timer: Scheduled<Void>?
    /// Reused for every answer's head (see `write`).
    private var outBuffer = ByteBuffer()
    /// For an error answer to a request the decoder could not parse: the connection's first request target,
    /// as sniffed (picks the cloud's error shape).
    private var shapeHead: HTTPRequestHead?
    /// The responder's hand-over, run once its answer is written (`CONNECT`).
    private var pendingHandOver: ((ChannelHandlerContext) -> Void)?

    public init(responder: Responder, limits: HTTPServerLimits) {
        self.responder = responder
        self.limits = limits
        self.machine = HTTPServerConnectionStateMachine(limits: limits)
    }

    /// This handler's context, for answers a fast lane hands over (`HTTPFastAnswer.later`).
    private var ownContext: ChannelHandlerContext?

    public func handlerAdded(context: ChannelHandlerContext) {
        ownContext = context
        readAhead = (try? context.channel.syncOptions?.getOption(.allowRemoteHalfClosure)) ?? false
        lastActivity = context.eventLoop.now
        armTimer(context)
    }

    public func handlerRemoved(context: ChannelHandlerContext) {
        ownContext = nil
        stopTimers()
    }

    public func channelInactive(context: ChannelHandlerContext) {
        stopTimers()
        context.fireChannelInactive()
    }

    private func stopTimers() {
        timer?.cancel()
        timer = nil
        closeWatch?.cancel()
    }

    public func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !closingGently else { return }  // the connection is ending: input is read only to be dropped
        inRead = true
        process(unwrapInboundIn(data), context)
        inRead = false
    }

    public func channelReadComplete(context: ChannelHandlerContext) {
        if needsFlush {
            needsFlush = false
            context.flush()
        }
        context.fireChannelReadComplete()
    }

    /// `ChannelShouldQuiesceEvent` (NIOExtras' `ServerQuiescingHelper`, on graceful shutdown): finish what is
    /// in flight, then close.
    public func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if event is ChannelShouldQuiesceEvent {
            if !held.isEmpty || readHeld { unansweredInput = true }
            held.removeAll()
            act(machine.quiesce(), nil, context)
            if context.channel.isActive && machine.waitsForInput {
                // A request still arriving (a slow upload): bounded from now on, activity or not.
                quiesceDeadline = context.eventLoop.now + min(limits.idleTimeout, limits.shutdownGrace)
                timer?.cancel()
                armTimer(context)
            }
        } else if let sniffed = event as? RequestLineSniffer.Sniffed {
            shapeHead = HTTPRequestHead(version: .http1_1, method: .GET, uri: sniffed.uri)
        } else if case ChannelEvent.inputClosed? = event as? ChannelEvent {
            if closingGently { return context.close(promise: nil) }  // the client has read its answers and left
            act(machine.inputClosed(), nil, context)
            context.fireUserInboundEventTriggered(event)
        } else {
            context.fireUserInboundEventTriggered(event)
        }
    }

    public func read(context: ChannelHandlerContext) {
        if closingGently || mayRead(context) { context.read() } else { readHeld = true }
    }

    /// A client that sends requests and reads no answers fills the socket: past the write buffer's high-water
    /// mark no more input is read (answers would pile up in memory without bound) until it drains below the
    /// low mark. Lingering input is only dropped, so it is read regardless.
    private func mayRead(_ context: ChannelHandlerContext) -> Bool {
        wantsInput && (context.channel.isWritable || machine.isLingering)
    }

    public func channelWritabilityChanged(context: ChannelHandlerContext) {
        if readHeld && mayRead(context) {
            readHeld = false
            context.read()
        }
        context.fireChannelWritabilityChanged()
    }

    /// Whether to read now: waiting for a request, or (read-ahead) producing an answer with nothing held.
    private var wantsInput: Bool {
        held.isEmpty && !machine.inputEnded && (machine.waitsForInput || (readAhead && machine.isResponding))
    }

    public func errorCaught(context: ChannelHandlerContext, error: Error) {
        if closingGently, error is ByteToMessageDecoderError || error is HTTPParserError { return }  // dropped input
        switch error {
        case let e as ByteToMessageDecoderError:
            if case .dataReceivedInErrorState(let inner, let buffer) = e {
                act(machine.parseError(inner, bytes: buffer.readableBytes), nil, context)
            } else {
                act(machine.parseError(e), nil, context)
            }
        case is HTTPParserError:
            act(machine.parseError(error), nil, context)
        default:
            context.close(promise: nil)  // I/O or TLS failure: nothing to answer on
        }
    }

    private func process(_ part: HTTPServerRequestPart, _ context: ChannelHandlerContext) {
        switch part {
        case .head(let head):
            act(machine.head(head), part, context)
        case .body(var chunk):
            if machine.waitsForInput {
                // Bytes buy time at the minimum rate; a trickle does not restart the idle timeout with each byte.
                let bought = limits.timePerBodyByte * Int64(chunk.readableBytes)
                // Credit saved by a burst is kept, up to one more idle timeout (a burst then a pause is a real upload).
                lastActivity = min(context.eventLoop.now + limits.idleTimeout, lastActivity + bought)
            }
            act(machine.body(&chunk), part, context)
        case .end:
            act(machine.end(), part, context)
        }
    }

    private func act(_ action: HTTPServerConnectionStateMachine.Action, _ part: HTTPServerRequestPart?, _ context: ChannelHandlerContext) {
        switch action {
        case .none:
            break
        case .hold:
            if let part { held.append(part) }
        case .sendContinue:
            context.writeAndFlush(wrapOutboundOut(ByteBuffer(staticString: "HTTP/1.1 100 Continue\r\n\r\n")), promise: nil)
        case .deliver(let request):
            lastActivity = context.eventLoop.now
            switch responder.respond(to: request, context: context) {
            case .response(let r):
                write(r, for: request.head, context)
            case .deferred(let future):
                deliverLater(future, for: request.head, context)
            case .handOver(let r, let handOver):
                var out = context.channel.allocator.buffer(capacity: 128)
                r.write(into: &out, method: request.head.method, version: request.head.version, keepAlive: true)
                machine.handOverStarted()
                pendingHandOver = handOver
                held.removeAll()
                context.writeAndFlush(wrapOutboundOut(out)).assumeIsolated().whenComplete { result in
                    if case .success = result {
                        self.act(self.machine.handOverWritten(success: true), nil, context)
                    } else {
                        self.act(self.machine.handOverWritten(success: false), nil, context)
                    }
                }
            }
        case .handOver:
            timer?.cancel()
            timer = nil
            let handOver = pendingHandOver
            pendingHandOver = nil
            // The tunnel's TLS stack expects an EOF to close the channel, as by default.
            try? context.channel.syncOptions?.setOption(.allowRemoteHalfClosure, value: false)
            handOver?(context)
            // A read this handler held is owed to the new pipeline (the responder removed this handler).
            if readHeld {
                readHeld = false
                context.channel.read()
            }
        case .reject(var rejection):
            let head = rejection.head
            if rejection.head == nil {
                rejection.head = shapeHead
                // NIO's decoder says only "header overflow"; a request line that had not ended within the sniffer's
                // look is an over-long target: 414, as the limits check answers for one the decoder took.
                if rejection.status == .requestHeaderFieldsTooLarge, let uri = shapeHead?.uri, uri.utf8.count >= RequestLineSniffer.maxLine - 16 {
                    rejection.status = .uriTooLong
                    rejection.message = "The request URI is longer than \(limits.maxURIBytes) bytes."
                }
            }
            let r = responder.rejection(rejection, allocator: context.channel.allocator)
            var out = context.channel.allocator.buffer(capacity: 256 + r.body.readableBytes)
            r.write(into: &out, method: head?.method ?? .GET, version: head?.version ?? .http1_1, keepAlive: false)
            lastActivity = context.eventLoop.now
            needsFlush = false
            // Answer, then stop sending (FIN) but keep reading and dropping, so the client reads the answer.
            context.writeAndFlush(wrapOutboundOut(out)).assumeIsolated().whenComplete { _ in
                context.close(mode: .output, promise: nil)
            }
            held.removeAll()
            if readHeld { readHeld = false; context.read() }
            timer?.cancel()
            armTimer(context)  // the linger time starts now
        case .close:
            pendingHandOver = nil
            closeWhenWritten(context)
        }
    }

    private func deliverLater(_ future: EventLoopFuture<HTTPServerResponse>, for head: HTTPRequestHead, _ context: ChannelHandlerContext) {
        future.assumeIsolated().whenComplete { result in
            switch result {
            case .success(let r): self.write(r, for: head, context)
            case .failure(let e):
                let r = self.responder.rejection(.init(status: .badGateway, message: "\(e)", head: head), allocator: context.channel.allocator)
                self.write(r, for: head, context)
            }
        }
    }

    /// Closes once everything written so far has gone out (answers queued before a FIN was read). A client
    /// that stops reading is not waited for forever: like nginx's `send_timeout`, if the bytes queued here
    /// have not shrunk for an idle timeout, the connection is closed (a slow reader is still served).
    private func closeWhenWritten(_ context: ChannelHandlerContext) {
        guard closeWatch == nil else { return }
        let channel = context.channel
        watchClose(channel, queued: Int.max)
        context.writeAndFlush(wrapOutboundOut(channel.allocator.buffer(capacity: 0))).assumeIsolated().whenComplete { _ in
            self.closeWatch?.cancel()
            self.closeGently(context)
        }
    }

    /// Set once the last answer is written while the client may still be sending (a graceful shutdown with
    /// pipelined requests it will not answer): output is shut (FIN) and input read and dropped until the client's
    /// EOF, at most `lingerTime`. Closed at once, the unread input would make the kernel send a reset, which
    /// throws away the answers the client has not read yet (a pipelining client lost the end of its answers).
    private var closingGently = false
    /// Requests were read (or left unread) that will not be answered: closing must not reset the connection.
    private var unansweredInput = false

    /// Closes after the last answer has been written: gently when the client may have sent more (requests held
    /// or dropped, reads held back: up to `lingerTime`; on a shutdown, requests may have arrived unread: half a
    /// second, so idle kept-alive connections do not hold the stop), else at once.
    private func closeGently(_ context: ChannelHandlerContext) {
        guard context.channel.isActive, !closingGently else { return }
        let linger: TimeAmount
        if unansweredInput || !held.isEmpty || readHeld {
            linger = limits.lingerTime
        } else if machine.quiescing {
            linger = min(limits.lingerTime, .milliseconds(500))
        } else {
            return context.close(promise: nil)
        }
        guard !machine.inputEnded else { return context.close(promise: nil) }
        closingGently = true
        held.removeAll()
        stopTimers()
        context.close(mode: .output, promise: nil)
        timer = context.eventLoop.assumeIsolated().scheduleTask(in: linger) { context.close(promise: nil) }
        readHeld = false
        context.read()
    }

    private var closeWatch: Scheduled<Void>?
    /// Set on a graceful shutdown while a request was still arriving: when the connection is cut regardless.
    private var quiesceDeadline: NIODeadline?

    private func watchClose(_ channel: Channel, queued before: Int) {
        closeWatch = channel.eventLoop.assumeIsolated().scheduleTask(in: limits.idleTimeout) {
            let queued = (try? channel.syncOptions?.getOption(.bufferedWritableBytes)) ?? 0
            if queued > 0 && queued < before { self.watchClose(channel, queued: queued) } else { channel.close(promise: nil) }
        }
    }

    private func write(_ r: HTTPServerResponse, for head: HTTPRequestHead, _ context: ChannelHandlerContext) {
        guard context.channel.isActive else { return }  // the client left; nothing to answer
        let keepAlive = !machine.closesAfterResponse
        // The head (and a small body) go into this connection's own buffer: once the socket has taken the last
        // answer it is this handler's alone again, and `clear` reuses it (it allocates only while the last
        // answer is still queued).
        var out: ByteBuffer
        if let body = r.frame(into: &outBuffer, method: head.method, version: head.version, keepAlive: keepAlive) {
            context.write(wrapOutboundOut(outBuffer), promise: nil)
            out = body
        } else {
            out = outBuffer
        }
        HTTPServerResponse.trim(&outBuffer)
        lastActivity = context.eventLoop.now
        if case .close = machine.responseSent() {
            needsFlush = false
            context.writeAndFlush(wrapOutboundOut(out)).assumeIsolated().whenComplete { _ in self.closeGently(context) }
            return
        }
        context.write(wrapOutboundOut(out), promise: nil)
        if inRead { needsFlush = true } else { context.flush() }
        // Pipelined requests that waited for this answer.
        while machine.waitsForInput, let part = held.popFirst() { process(part, context) }
        if held.isEmpty { act(machine.inputDrained(), nil, context) }  // after a FIN: close once all is answered
        if readHeld && mayRead(context) {
            readHeld = false
            context.read()
        }
    }

    private func armTimer(_ context: ChannelHandlerContext) {
        let timeout = machine.isLingering ? limits.lingerTime : limits.idleTimeout
        let now = context.eventLoop.now
        var deadline = lastActivity + timeout
        if !machine.waitsForInput || deadline <= now { deadline = now + timeout }
        if let q = quiesceDeadline { deadline = min(deadline, max(q, now)) }
        timer = context.eventLoop.assumeIsolated().scheduleTask(deadline: deadline) { self.timerFired(context) }
    }

    private func timerFired(_ context: ChannelHandlerContext) {
        timer = nil
        guard context.channel.isActive else { return }
        if let q = quiesceDeadline, context.eventLoop.now >= q, machine.waitsForInput {
            if machine.isLingering {
                context.close(promise: nil)  // the 408 has had its second: shutting down does not wait longer
                return
            }
            quiesceDeadline = context.eventLoop.now + .seconds(1)
            act(machine.timedOut(shuttingDown: true), nil, context)  // 408, then linger (re-arms the timer, bounded by the second)
            return
        }
        let timeout = machine.isLingering ? limits.lingerTime : limits.idleTimeout
        if machine.waitsForInput && !laneAwaits && context.eventLoop.now >= lastActivity + timeout {
            act(machine.timedOut(), nil, context)
        }
        if context.channel.isActive { armTimer(context) }
    }
}

extension HTTPServerHandler where Responder: HTTPFastResponder {
    /// A plain request the fast lane in front of this handler read: its answer when this connection is idle
    /// here (nothing received, held, answered or shutting down) and the responder takes it, else nil.
    func fastResponse(
        method: HTTPMethod, target: UnsafeBufferPointer<UInt8>, headers: PlainHTTPHeaders, context laneContext: ChannelHandlerContext,
        now: NIODeadline
    ) -> HTTPFastAnswer? {
        guard machine.isIdle, !machine.inputEnded, held.isEmpty, quiesceDeadline == nil, pendingHandOver == nil, let context = ownContext
        else { return nil }
        guard let answer = responder.fastResponse(method: method, target: target, headers: headers, context: laneContext)
        else { return nil }
        lastActivity = now
        if case .wireLater = answer { laneAwaits = true }
        if case .later(let future) = answer {
            // As if the decoder had delivered it: the answer is written as a deferred one, in order (and a failure
            // is rendered in the shape of this request's own target and headers).
            let head = HTTPRequestHead(
                version: .http1_1, method: method, uri: String(decoding: target, as: UTF8.self), headers: headers.httpHeaders())
            machine.adopt(head)
            deliverLater(future, for: head, context)
        }
        return answer
    }
}

extension HTTPServerHandler {
    /// The fast lane drops requests it held (a graceful shutdown answers no more of them): the connection is to
    /// close gently, so the client still reads the answers already written.
    func inputLeftUnanswered() {
        unansweredInput = true
    }

    /// The fast lane wrote the `.wireLater` answer it awaited: the connection is idle from now.
    func fastAnswerWritten(now: NIODeadline) {
        laneAwaits = false
        lastActivity = now
    }
}

extension CircularBuffer {
    mutating func popFirst() -> Element? { isEmpty ? nil : removeFirst() }
}
