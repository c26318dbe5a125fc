import NIOCore
import TapedeckHTTP

/// The inbound end of an upstream connection that carries requests forwarded as bytes (the passthrough
/// lane, `ProxyEngine.forwardPlain`): each answer is split off the byte stream by `HTTPResponseFramer` and
/// handed to the exchange in flight, with its head as it arrived. No NIO codec: no `HTTPResponseHead`, no
/// `HTTPHeaders` of `String`s, no response parts down the pipeline (with NIO's client codec and the
/// collector, llhttp and the parts were about a tenth of the proxy's time in passthrough).
///
/// One exchange at a time. The connection is reusable while every answer came whole, alone (nothing after
/// it, nothing while idle) and not closing; it completes each exchange exactly once.
final class RawUpstreamReader: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = Never

    private var framer: HTTPResponseFramer
    /// Bytes of an answer that has not fully arrived.
    private var rest: ByteBuffer?
    private var completion: ((Result<HTTPResponseFramer.Response, Error>) -> Void)?
    /// Whether any of the answer in flight has arrived.
    private var receivedAny = false
    private(set) var isReusable = true

    init(maxBody: Int) { framer = HTTPResponseFramer(maxBody: maxBody, owner: "the proxy") }

    /// Begins an exchange; `completion` runs once, on the channel's loop.
    func start(_ completion: @escaping (Result<HTTPResponseFramer.Response, Error>) -> Void) {
        guard isReusable, self.completion == nil else { return completion(.failure(HTTPClientFailure.unsolicited)) }
        receivedAny = false
        self.completion = completion
    }

    /// Ends the exchange in flight with `error` (a timeout); the caller closes the connection.
    func abandon(_ error: Error) {
        isReusable = false
        complete(.failure(error))
    }

    private func complete(_ result: Result<HTTPResponseFramer.Response, Error>) {
        let c = completion
        completion = nil
        c?(result)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var buffer = unwrapInboundIn(data)
        guard completion != nil else {
            // Bytes no request asked for (or after a failure): this connection is not used again.
            isReusable = false
            return
        }
        receivedAny = true
        if var kept = rest {
            rest = nil
            kept.writeBuffer(&buffer)
            buffer = kept
        }
        do {
            guard let response = try framer.next(&buffer) else {
                rest = buffer
                return
            }
            if response.closes || buffer.readableBytes > 0 { isReusable = false }
            complete(.success(response))
        } catch let e as HTTPResponseFramer.Unsupported {
            isReusable = false
            complete(.failure(e.tooLarge ? UpstreamError.tooLarge(framer.maxBody) : HTTPClientFailure.malformed(e.description)))
            context.close(promise: nil)
        } catch {
            isReusable = false
            complete(.failure(error))
            context.close(promise: nil)
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        isReusable = false
        var buffer = rest ?? ByteBuffer()
        rest = nil
        if completion != nil, let response = framer.finish(&buffer) {
            complete(.success(response))  // a body that runs to the close
        } else {
            complete(.failure(HTTPClientFailure.closed(receivedAny: receivedAny)))
        }
        context.fireChannelInactive()
    }

    /// As `HTTPClientResponseStateMachine.failed`: a reset before any of the answer arrived is the server dropping
    /// the connection, like a close, so a request sent on a pooled connection it had given up is retried once.
    func errorCaught(context: ChannelHandlerContext, error: Error) {
        isReusable = false
        complete(.failure(HTTPClientFailure.closedIfReset(error, receivedAny: receivedAny)))
        context.close(promise: nil)
    }
}
