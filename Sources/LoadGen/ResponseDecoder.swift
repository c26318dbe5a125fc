import NIOCore
import TapedeckHTTP

/// A complete response as the load generator needs it: status and body (headers are skipped).
struct LoadResponse {
    var status: Int
    var body: ByteBuffer
    /// Which read of its connection it was decoded from (counted from 1): an answer decoded from a read that began
    /// before its request was written cannot be that request's.
    var read = 0
    /// The server closes the connection after it (`Connection: close`, HTTP/1.0 without keep-alive, or a
    /// body that ran to the close): the next request needs a new connection.
    var closes = false
}

/// The load generator's view of `HTTPResponseFramer`: status and body (headers are skipped), bodies up to 64 MiB.
struct ResponseDecoder {
    typealias Unsupported = HTTPResponseFramer.Unsupported
    private var framer = HTTPResponseFramer(maxBody: 64 << 20, owner: "the load generator")

    var answeringHead: Bool {
        get { framer.answeringHead }
        set { framer.answeringHead = newValue }
    }

    mutating func next(_ buffer: inout ByteBuffer) throws -> LoadResponse? {
        try framer.next(&buffer).map { LoadResponse(status: $0.status, body: $0.body, closes: $0.closes) }
    }

    mutating func finish(_ buffer: inout ByteBuffer) -> LoadResponse? {
        framer.finish(&buffer).map { LoadResponse(status: $0.status, body: $0.body, closes: $0.closes) }
    }
}

/// The connection's inbound end before `LoadWorker.Connection`: decodes straight from each read and hands
/// every answer to `deliver`, keeping only an unfinished response's bytes between reads. (NIO's
/// `ByteToMessageHandler` did the same with its own buffer bookkeeping on every read: a tenth of the load
/// generator's user time. An answer does not go down the pipeline either: a status and a buffer do not fit
/// `NIOAny`'s inline storage, so firing them cost one heap allocation per response.)
final class ResponseReader: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = Never

    private var decoder = ResponseDecoder()
    /// Bytes of a response that has not fully arrived.
    private var rest: ByteBuffer?
    /// After a protocol error: the connection is being closed, nothing more is decoded.
    private var failed = false
    private let deliver: (LoadResponse) -> Void
    /// Reads so far on this connection.
    private(set) var reads = 0

    init(deliver: @escaping (LoadResponse) -> Void) { self.deliver = deliver }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !failed else { return }
        var buffer = unwrapInboundIn(data)
        if var kept = rest {
            rest = nil
            kept.writeBuffer(&buffer)
            buffer = kept
        }
        reads += 1
        do {
            while var response = try decoder.next(&buffer) {
                response.read = reads
                deliver(response)
            }
        } catch {
            failed = true
            context.fireErrorCaught(error)
            return
        }
        if buffer.readableBytes > 0 {
            buffer.discardReadBytes()
            rest = buffer
        }
    }

    /// The next answer on this connection is to a HEAD request.
    func expectHeadAnswer(_ isHead: Bool) { decoder.answeringHead = isHead }

    /// A body that runs to the close is complete now; it is delivered before the close is told.
    func channelInactive(context: ChannelHandlerContext) {
        if !failed {
            var buffer = rest ?? ByteBuffer()
            rest = nil
            if var response = decoder.finish(&buffer) {
                response.read = reads
                deliver(response)
            }
        }
        context.fireChannelInactive()
    }
}
