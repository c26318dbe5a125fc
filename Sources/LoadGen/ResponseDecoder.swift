import NIOCore

/// A complete response as the load generator needs it: status and body (headers are skipped).
struct LoadResponse {
    var status: Int
    var body: ByteBuffer
}

/// Parses HTTP/1.1 responses with `Content-Length` bodies (what the simulator, the proxy and most
/// servers send to keep-alive clients) with as little work as possible: the status code, the length,
/// and the body slice. Chunked bodies are an error (counted, the connection replaced).
struct ResponseDecoder: ByteToMessageDecoder {
    typealias InboundOut = LoadResponse

    struct Unsupported: Error, CustomStringConvertible { var description: String }

    private var pending: (status: Int, length: Int)?

    mutating func decode(context: ChannelHandlerContext, buffer: inout ByteBuffer) throws -> DecodingState {
        if pending == nil {
            // One pass over the raw header bytes: end of headers, status, Content-Length.
            let parsed: Result<(Int, Int, Int)?, Unsupported> = buffer.withUnsafeReadableBytes { raw in
                var i = 3
                var end = -1
                while i < raw.count {
                    if raw[i] == 10 && raw[i - 1] == 13 && raw[i - 2] == 10 && raw[i - 3] == 13 { end = i + 1; break }
                    i += 1
                }
                guard end > 0 else { return .success(nil) }
                guard end >= 16 else { return .failure(Unsupported(description: "short status line")) }
                let status = Int(raw[9] &- 48) * 100 + Int(raw[10] &- 48) * 10 + Int(raw[11] &- 48)
                var length = -1
                var lineStart = 0
                for j in 0..<end where raw[j] == 10 {
                    let n = j - lineStart
                    if n > 15 && (raw[lineStart] | 0x20) == UInt8(ascii: "c") && (raw[lineStart + 8] | 0x20) == UInt8(ascii: "l")
                        && raw[lineStart + 14] == UInt8(ascii: ":") {
                        var v = 0
                        for k in (lineStart + 15)..<j where raw[k] >= 48 && raw[k] <= 57 { v = v * 10 + Int(raw[k] - 48) }
                        length = v
                    } else if n > 18 && (raw[lineStart] | 0x20) == UInt8(ascii: "t") && raw[lineStart + 17] == UInt8(ascii: ":") {
                        return .failure(Unsupported(description: "chunked responses are not supported by the load generator"))
                    }
                    lineStart = j + 1
                }
                if status == 204 || status == 304 { length = 0 }
                guard length >= 0 else { return .failure(Unsupported(description: "response without Content-Length")) }
                return .success((end, status, length))
            }
            guard let (headerLength, status, length) = try parsed.get() else {
                if buffer.readableBytes > 64 * 1024 { throw Unsupported(description: "response header block over 64 KiB") }
                return .needMoreData
            }
            buffer.moveReaderIndex(forwardBy: headerLength)
            pending = (status, length)
        }
        guard let p = pending, buffer.readableBytes >= p.length else { return .needMoreData }
        let body = buffer.readSlice(length: p.length)!
        pending = nil
        context.fireChannelRead(wrapInboundOut(LoadResponse(status: p.status, body: body)))
        return .continue
    }

    mutating func decodeLast(context: ChannelHandlerContext, buffer: inout ByteBuffer, seenEOF: Bool) throws -> DecodingState {
        try decode(context: context, buffer: &buffer)
    }
}
