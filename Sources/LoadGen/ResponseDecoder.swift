import NIOCore
import TapedeckHTTP

/// A complete response as the load generator needs it: status and body (headers are skipped).
struct LoadResponse {
    var status: Int
    var body: ByteBuffer
}

/// Splits the byte stream into responses with as little work as possible: the strict status-line and
/// header parser of `TapedeckHTTP` (so `HTTP/1.1 2000` is an error, not a 200), then the
/// `Content-Length` body as a slice. Chunked and close-delimited bodies are errors (counted, the
/// connection replaced): the simulator, the proxy and most servers send lengths to keep-alive clients.
///
/// Each answer goes straight to `deliver` rather than down the pipeline: a status and a buffer do not fit
/// `NIOAny`'s inline storage, so firing them cost one heap allocation per response.
struct ResponseDecoder: ByteToMessageDecoder {
    typealias InboundOut = Never

    struct Unsupported: Error, CustomStringConvertible { var description: String }

    private var pending: (status: Int, length: Int)?
    private let deliver: (LoadResponse) -> Void

    init(deliver: @escaping (LoadResponse) -> Void) { self.deliver = deliver }

    mutating func decode(context: ChannelHandlerContext, buffer: inout ByteBuffer) throws -> DecodingState {
        if pending == nil {
            let parsed = buffer.withUnsafeReadableBytes { HTTPResponseHeadParser.parse($0) }
            switch parsed {
            case .needMoreData:
                return .needMoreData
            case .invalid(let why):
                throw Unsupported(description: why)
            case .head(let head):
                if head.chunked { throw Unsupported(description: "chunked responses are not supported by the load generator") }
                guard let length = head.contentLength else { throw Unsupported(description: "response without Content-Length") }
                buffer.moveReaderIndex(forwardBy: head.headerLength)
                if head.status < 200 { return .continue }  // 1xx: the final answer follows
                pending = (head.status, length)
            }
        }
        guard let p = pending, buffer.readableBytes >= p.length else { return .needMoreData }
        let body = buffer.readSlice(length: p.length)!
        pending = nil
        deliver(LoadResponse(status: p.status, body: body))
        return .continue
    }

    mutating func decodeLast(context: ChannelHandlerContext, buffer: inout ByteBuffer, seenEOF: Bool) throws -> DecodingState {
        try decode(context: context, buffer: &buffer)
    }
}
