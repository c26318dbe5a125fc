import NIOCore
import NIOHTTP1

/// One connection's request loop: collects a request (enforcing the size limits), asks the `Simulator`
/// for the answer and writes it. Lives on one event loop; its `ReaderCache` is that connection's
/// lock-free view of the data.
///
/// Requests are parsed by NIO's `HTTPRequestDecoder` (llhttp); responses are serialised here into one
/// buffer each (status line, four headers, body) and flushed once per read batch. Profiling showed NIO's
/// response encoder, pipelining and error handlers costing more per request than the lookup itself:
/// answers are produced synchronously and in order, so none of them is needed here.
final class SimulatorHTTPHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = ByteBuffer

    private enum State {
        case idle
        case reading(HTTPRequestHead, ByteBuffer?)
        /// A limit was exceeded and answered; the rest of the request is dropped and the connection closes.
        case rejected

        var canAnswer: Bool { if case .rejected = self { return false } else { return true } }
    }

    private let simulator: Simulator
    private let limits: SimulatorConfiguration.Limits
    private var cache: Simulator.ReaderCache
    private var state = State.idle

    init(simulator: Simulator, limits: SimulatorConfiguration.Limits) {
        self.simulator = simulator
        self.limits = limits
        self.cache = simulator.makeReaderCache()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head):
            guard state.canAnswer else { return }
            if head.uri.utf8.count > limits.maxURIBytes {
                return reject(context, .uriTooLong, "The request URI is longer than \(limits.maxURIBytes) bytes.", head)
            }
            var headerBytes = 0
            for h in head.headers { headerBytes += h.name.utf8.count + h.value.utf8.count + 4 }
            if headerBytes > limits.maxHeaderBytes {
                return reject(context, .requestHeaderFieldsTooLarge, "The request headers are larger than \(limits.maxHeaderBytes) bytes.", head)
            }
            if let len = head.headers.first(name: "content-length").flatMap(Int.init), len > limits.maxBodyBytes {
                return reject(context, .payloadTooLarge, "The request body is larger than \(limits.maxBodyBytes) bytes.", head)
            }
            state = .reading(head, nil)
        case .body(var chunk):
            guard case .reading(let head, var body) = state else { return }
            if (body?.readableBytes ?? 0) + chunk.readableBytes > limits.maxBodyBytes {
                return reject(context, .payloadTooLarge, "The request body is larger than \(limits.maxBodyBytes) bytes.", head)
            }
            state = .idle  // drop our reference so the append below does not copy
            if body == nil { body = chunk } else { body!.writeBuffer(&chunk) }
            state = .reading(head, body)
        case .end:
            guard case .reading(let head, let body) = state else { return }
            state = .idle
            let response = simulator.respond(method: head.method, uri: head.uri, headers: head.headers, body: body,
                                             cache: &cache, allocator: context.channel.allocator)
            write(context, response, keepAlive: head.isKeepAlive, version: head.version)
        }
    }

    private var needsFlush = false

    func channelReadComplete(context: ChannelHandlerContext) {
        if needsFlush {
            needsFlush = false
            context.flush()
        }
        context.fireChannelReadComplete()
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        // Malformed HTTP: 431 when the header block overflows the parser's own limit, else 400; then close.
        if let parserError = error as? HTTPParserError, state.canAnswer {
            let status: HTTPResponseStatus = parserError == .headerOverflow ? .requestHeaderFieldsTooLarge : .badRequest
            var body = context.channel.allocator.buffer(capacity: 160)
            body.writeString("{\"Code\":\"MalformedHTTPRequest\",\"Message\":\"The request is not valid HTTP/1.1: \(parserError).\"}")
            state = .rejected
            write(context, APIResponse(status: status, contentType: "application/json;charset=utf-8", body: body, requestID: ""),
                  keepAlive: false, version: .http1_1)
        } else {
            context.close(promise: nil)
        }
    }

    private static let crlf: StaticString = "\r\n"

    private func write(_ context: ChannelHandlerContext, _ r: APIResponse, keepAlive: Bool, version: HTTPVersion) {
        var out = context.channel.allocator.buffer(capacity: 192 + r.body.readableBytes)
        out.writeStaticString(version.minor == 0 ? "HTTP/1.0 " : "HTTP/1.1 ")
        out.writeString(String(r.status.code))
        out.writeInteger(UInt8(ascii: " "))
        out.writeString(r.status.reasonPhrase)
        out.writeStaticString("\r\nContent-Type: ")
        out.writeString(r.contentType)
        out.writeStaticString("\r\nContent-Length: ")
        out.writeString(String(r.body.readableBytes))
        if !r.requestID.isEmpty {
            out.writeStaticString("\r\nX-Request-Id: ")
            out.writeString(r.requestID)
            out.writeStaticString("\r\nx-acs-request-id: ")
            out.writeString(r.requestID)
        }
        if !keepAlive {
            out.writeStaticString("\r\nConnection: close")
        } else if version.minor == 0 {
            out.writeStaticString("\r\nConnection: keep-alive")
        }
        out.writeStaticString("\r\n\r\n")
        var body = r.body
        out.writeBuffer(&body)
        if keepAlive {
            context.write(wrapOutboundOut(out), promise: nil)
            needsFlush = true
        } else {
            context.writeAndFlush(wrapOutboundOut(out)).whenComplete { _ in context.close(promise: nil) }
        }
    }

    /// Answers a request over a limit in the shape of the cloud it was meant for, then closes.
    private func reject(_ context: ChannelHandlerContext, _ status: HTTPResponseStatus, _ message: String, _ head: HTTPRequestHead) {
        state = .rejected
        let path = Substring(head.uri.prefix(64))
        let headers = head.headers
        let alloc = context.channel.allocator
        var response: APIResponse
        switch Simulator.cloud(path: path, headers: headers, hasAction: head.uri.contains("Action=")) {
        case .aliyun:
            response = simulator.aliyun.errorResponse(AliyunError(status, "RequestTooLarge", message), format: .json, allocator: alloc)
        case .huawei:
            response = simulator.huawei.errorResponse(HuaweiError(status, "APIGW.0201", message), allocator: alloc)
        }
        response.status = status
        write(context, response, keepAlive: false, version: .http1_1)
    }
}
