import NIOCore

/// Splits a client connection's byte stream into responses with as little work as possible: the strict status-line and
/// header parser of `TapedeckHTTP` (so `HTTP/1.1 2000` is an error, not a 200), then the body: a
/// `Content-Length` body as a slice (what the simulator, the proxy and most servers send keep-alive
/// clients); a chunked one joined; one without either read until the server closes (`finish`). The load
/// generator reads its answers with it, and the proxy its upstreams' answers to the requests it forwards raw.
public struct HTTPResponseFramer {
    public struct Unsupported: Error, CustomStringConvertible {
        public var description: String
        /// The body is over `maxBody`.
        public var tooLarge = false
    }

    /// A complete response: its status, its head as it arrived (status line and header lines through the blank
    /// line, for a reader that needs the headers), its body (dechunked), and whether the server closes after it
    /// (`Connection: close`, HTTP/1.0 without keep-alive, or a body that ran to the close).
    public struct Response {
        public var status: Int
        public var head: ByteBuffer
        public var body: ByteBuffer
        public var closes: Bool
    }

    private enum Body {
        case length(Int)
        /// Chunked: the body so far, and what comes next.
        case chunked(ByteBuffer, ChunkState)
        /// Until the connection closes.
        case toClose
    }
    private enum ChunkState { case size, data(Int), dataEnd, trailers }
    private var pending: (status: Int, head: ByteBuffer, closes: Bool, body: Body)?
    /// The answer now due is to a HEAD request: headers only (set by the writer before it sends one).
    public var answeringHead = false
    /// Bodies over this many bytes are an error; `owner` names whose limit it is in that error.
    public let maxBody: Int
    let owner: String
    private var limitText: String { maxBody % (1 << 20) == 0 ? "\(maxBody >> 20) MiB" : "\(maxBody)-byte" }
    /// Whether a response starts: a head arrived and its body is not complete yet.
    public var inResponse: Bool { pending != nil }

    public init(maxBody: Int, owner: String) {
        self.maxBody = maxBody
        self.owner = owner
    }

    /// Longest chunk-size or trailer line read (extensions included).
    static let maxLine = 8 << 10

    /// The next complete response at `buffer`'s reader index (consumed), nil when more bytes are needed.
    public mutating func next(_ buffer: inout ByteBuffer) throws -> Response? {
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
                        guard length <= maxBody else {
                            throw Unsupported(description: "a \(length)-byte body, over \(owner)'s \(limitText) limit", tooLarge: true)
                        }
                        body = .length(length)
                    } else {
                        body = .toClose
                    }
                    if head.status < 200 {  // 1xx: the final answer follows
                        buffer.moveReaderIndex(forwardBy: head.headerLength)
                        continue
                    }
                    pending = (head.status, buffer.readSlice(length: head.headerLength)!, head.closes, body)
                }
            }
            guard let p = pending else { return nil }
            switch p.body {
            case .length(let length):
                guard buffer.readableBytes >= length, let body = buffer.readSlice(length: length) else { return nil }
                pending = nil
                return Response(status: p.status, head: p.head, body: body, closes: p.closes)
            case .toClose:
                guard buffer.readableBytes <= maxBody else {
                    throw Unsupported(description: "a body running to the close, over \(owner)'s \(limitText) limit", tooLarge: true)
                }
                return nil
            case .chunked:
                return try nextChunks(&buffer)
            }
        }
    }

    /// The chunks at `buffer`, added to the pending answer's body in place: no other reference to the body may
    /// live meanwhile, or every chunk copies the whole body so far (a 48 MB chunked answer took 11 s).
    private mutating func nextChunks(_ buffer: inout ByteBuffer) throws -> Response? {
        guard case .chunked(var body, var state) = pending?.body else { return nil }
        pending!.body = .toClose  // the body's one reference is now `body`
        let done = try dechunk(&buffer, into: &body, &state)
        guard done, let p = pending else {
            pending!.body = .chunked(body, state)
            return nil
        }
        pending = nil
        return Response(status: p.status, head: p.head, body: body, closes: p.closes)
    }

    /// The connection closed: a body that runs to the close is complete with what `buffer` holds; any other
    /// unfinished answer is lost (nil).
    public mutating func finish(_ buffer: inout ByteBuffer) -> Response? {
        guard let p = pending, case .toClose = p.body else { return nil }
        pending = nil
        return Response(status: p.status, head: p.head, body: buffer.readSlice(length: buffer.readableBytes)!, closes: true)
    }

    /// Reads chunks from `buffer` into `body`; true once the last chunk and the trailers are read.
    private func dechunk(_ buffer: inout ByteBuffer, into body: inout ByteBuffer, _ state: inout ChunkState) throws -> Bool {
        while true {
            switch state {
            case .size:
                guard let line = try Self.readLine(&buffer) else { return false }
                let digits = line.prefix { $0 != UInt8(ascii: ";") }.filter { $0 != 0x20 && $0 != 0x09 }
                // Hex digits only: `Int(_:radix:)` also takes a sign, and a chunk of size -1 is no chunk.
                let isHex = digits.allSatisfy { ($0 >= 0x30 && $0 <= 0x39) || (($0 | 0x20) >= 0x61 && ($0 | 0x20) <= 0x66) }
                guard !digits.isEmpty, digits.count <= 8, isHex, let size = Int(String(decoding: digits, as: UTF8.self), radix: 16) else {
                    throw Unsupported(description: "a malformed chunk size in a chunked response")
                }
                guard body.readableBytes + size <= maxBody else {
                    throw Unsupported(description: "a chunked body over \(owner)'s \(limitText) limit", tooLarge: true)
                }
                state = size == 0 ? .trailers : .data(size)
            case .data(let size):
                guard buffer.readableBytes >= size, var chunk = buffer.readSlice(length: size) else { return false }
                body.writeBuffer(&chunk)
                state = .dataEnd
            case .dataEnd:
                guard let line = try Self.readLine(&buffer) else { return false }
                guard line.isEmpty else { throw Unsupported(description: "a chunk longer than its size in a chunked response") }
                state = .size
            case .trailers:
                guard let line = try Self.readLine(&buffer) else { return false }
                if line.isEmpty { return true }
            }
        }
    }

    /// One CRLF-ended line, without its end; nil until it is complete. A bare LF is an error (as llhttp).
    private static func readLine(_ buffer: inout ByteBuffer) throws -> [UInt8]? {
        guard let lf = buffer.readableBytesView.firstIndex(of: 10) else {
            if buffer.readableBytes > maxLine { throw Unsupported(description: "a chunk-size or trailer line over \(maxLine) bytes") }
            return nil
        }
        guard lf > buffer.readerIndex, buffer.getInteger(at: lf - 1, as: UInt8.self) == 13 else {
            throw Unsupported(description: "a chunk-size or trailer line ended by a bare LF")
        }
        var line = buffer.readBytes(length: lf - buffer.readerIndex + 1) ?? []
        line.removeLast(2)
        return line
    }
}
