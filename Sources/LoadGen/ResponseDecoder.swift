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

/// Splits the byte stream into responses with as little work as possible: the strict status-line and
/// header parser of `TapedeckHTTP` (so `HTTP/1.1 2000` is an error, not a 200), then the body: a
/// `Content-Length` body as a slice (what the simulator, the proxy and most servers send keep-alive
/// clients); a chunked one joined; one without either read until the server closes (`finish`).
struct ResponseDecoder {
    struct Unsupported: Error, CustomStringConvertible { var description: String }

    private enum Body {
        case length(Int)
        /// Chunked: the body so far, and what comes next.
        case chunked(ByteBuffer, ChunkState)
        /// Until the connection closes.
        case toClose
    }
    private enum ChunkState { case size, data(Int), dataEnd, trailers }
    private var pending: (status: Int, closes: Bool, body: Body)?
    /// The answer now due is to a HEAD request: headers only (set by the writer before it sends one).
    var answeringHead = false
    static let maxBody = 64 << 20
    /// Longest chunk-size or trailer line read (extensions included).
    static let maxLine = 8 << 10

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
                    let body: Body
                    if answeringHead && head.status >= 200 {
                        body = .length(0)  // a HEAD answer announces the GET's length and sends no body
                        answeringHead = false
                    } else if head.chunked {
                        body = .chunked(ByteBuffer(), .size)
                    } else if let length = head.contentLength {
                        // A target cannot make the load generator hold gigabytes: a body over the limit is an error.
                        guard length <= ResponseDecoder.maxBody else {
                            throw Unsupported(description: "a \(length)-byte body, over the load generator's \(ResponseDecoder.maxBody >> 20) MiB limit")
                        }
                        body = .length(length)
                    } else {
                        body = .toClose
                    }
                    buffer.moveReaderIndex(forwardBy: head.headerLength)
                    if head.status < 200 { continue }  // 1xx: the final answer follows
                    pending = (head.status, head.closes, body)
                }
            }
            guard let p = pending else { return nil }
            switch p.body {
            case .length(let length):
                guard buffer.readableBytes >= length else { return nil }
                pending = nil
                return LoadResponse(status: p.status, body: buffer.readSlice(length: length)!, closes: p.closes)
            case .toClose:
                guard buffer.readableBytes <= ResponseDecoder.maxBody else {
                    throw Unsupported(description: "a body running to the close, over the load generator's \(ResponseDecoder.maxBody >> 20) MiB limit")
                }
                return nil
            case .chunked(var body, var state):
                pending!.body = .toClose  // (not copied while it is worked on)
                let done = try ResponseDecoder.dechunk(&buffer, into: &body, &state)
                if done {
                    pending = nil
                    return LoadResponse(status: p.status, body: body, closes: p.closes)
                }
                pending!.body = .chunked(body, state)
                return nil
            }
        }
    }

    /// The connection closed: a body that runs to the close is complete with what `buffer` holds; any other
    /// unfinished answer is lost (nil).
    mutating func finish(_ buffer: inout ByteBuffer) -> LoadResponse? {
        guard let p = pending, case .toClose = p.body else { return nil }
        pending = nil
        return LoadResponse(status: p.status, body: buffer.readSlice(length: buffer.readableBytes)!, closes: true)
    }

    /// Reads chunks from `buffer` into `body`; true once the last chunk and the trailers are read.
    private static func dechunk(_ buffer: inout ByteBuffer, into body: inout ByteBuffer, _ state: inout ChunkState) throws -> Bool {
        while true {
            switch state {
            case .size:
                guard let line = try readLine(&buffer) else { return false }
                let digits = line.prefix { $0 != UInt8(ascii: ";") }.filter { $0 != 0x20 && $0 != 0x09 }
                guard !digits.isEmpty, digits.count <= 8, let size = Int(String(decoding: digits, as: UTF8.self), radix: 16) else {
                    throw Unsupported(description: "a malformed chunk size in a chunked response")
                }
                guard body.readableBytes + size <= maxBody else {
                    throw Unsupported(description: "a chunked body over the load generator's \(maxBody >> 20) MiB limit")
                }
                state = size == 0 ? .trailers : .data(size)
            case .data(let size):
                guard buffer.readableBytes >= size else { return false }
                var chunk = buffer.readSlice(length: size)!
                body.writeBuffer(&chunk)
                state = .dataEnd
            case .dataEnd:
                guard let line = try readLine(&buffer) else { return false }
                guard line.isEmpty else { throw Unsupported(description: "a chunk longer than its size in a chunked response") }
                state = .size
            case .trailers:
                guard let line = try readLine(&buffer) else { return false }
                if line.isEmpty { return true }
            }
        }
    }

    /// One CRLF- (or LF-) ended line, without its end; nil until it is complete.
    private static func readLine(_ buffer: inout ByteBuffer) throws -> [UInt8]? {
        guard let lf = buffer.readableBytesView.firstIndex(of: 10) else {
            if buffer.readableBytes > maxLine { throw Unsupported(description: "a chunk-size or trailer line over \(maxLine) bytes") }
            return nil
        }
        var line = buffer.readBytes(length: lf - buffer.readerIndex + 1)!
        line.removeLast()
        if line.last == 13 { line.removeLast() }
        return line
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
