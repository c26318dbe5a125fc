import NIOCore
import TapedeckHTTP

/// A complete response as the load generator needs it: status and body (headers are skipped).
struct LoadResponse {
    var status: Int
    var body: ByteBuffer
    /// Which read of its connection it was decoded from (counted from 1): an answer decoded from a read that began
    /// before its request was written cannot be that request's.
    var read = 0
}

/// Splits the byte stream into responses with as little work as possible: the strict status-line and
/// header parser of `TapedeckHTTP` (so `HTTP/1.1 2000` is an error, not a 200), then the
/// `Content-Length` body as a slice. Chunked and close-delimited bodies are errors (counted, the
/// connection replaced): the simulator, the proxy and most servers send lengths to keep-alive clients.
struct ResponseDecoder {
    struct Unsupported: Error, CustomStringConvertible { var description: String }

    private var pending: (status: Int, length: Int)?
    static let maxBody = 64 << 20

    /// The next complete response at `buffer`'s reader index (consumed), nil when more bytes are needed.
    mutating func next(_ buffer: inout ByteBuffer) throws -> LoadResponse? {
        while true {
            if pending == nil {
                let parsed = buffer.withUnsafeReadableBytes { HTTPResponseHeadParser.parse($0) }
                switch parsed {
                case .needMoreData:
                    return nil
                case .invalid(let why):
                    throw Unsupported(description: why)
                case .head(let head):
                    if head.chunked { throw Unsupported(description: "chunked responses are not supported by the load generator") }
                    guard let length = head.contentLength else { throw Unsupported(description: "response without Content-Length") }
                    // A target cannot make the load generator hold gigabytes: a body over the limit is an error.
                    guard length <= ResponseDecoder.maxBody else {
                        throw Unsupported(description: "a \(length)-byte body, over the load generator's \(ResponseDecoder.maxBody >> 20) MiB limit")
                    }
                    buffer.moveReaderIndex(forwardBy: head.headerLength)
                    if head.status < 200 { continue }  // 1xx: the final answer follows
                    pending = (head.status, length)
                }
            }
            guard let p = pending, buffer.readableBytes >= p.length else { return nil }
            pending = nil
            return LoadResponse(status: p.status, body: buffer.readSlice(length: p.length)!)
        }
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
}
