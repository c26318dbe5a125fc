import NIOCore
import NIOHTTP1

/// One connection's request loop: collects a request (enforcing the size limits), asks the `Simulator`
/// for the answer and writes it. Lives on one event loop; its `ReaderCache` is that connection's
/// lock-free view of the data.
final class SimulatorHTTPHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    private enum State {
        case idle
        case reading(HTTPRequestHead, ByteBuffer?)
        /// A limit was exceeded and answered; the rest of the request is dropped and the connection closes.
        case rejected
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

    private func write(_ context: ChannelHandlerContext, _ r: APIResponse, keepAlive: Bool, version: HTTPVersion) {
        var headers = HTTPHeaders()
        headers.reserveCapacity(5)
        headers.add(name: "Content-Type", value: r.contentType)
        headers.add(name: "Content-Length", value: String(r.body.readableBytes))
        headers.add(name: "X-Request-Id", value: r.requestID)
        headers.add(name: "x-acs-request-id", value: r.requestID)
        if !keepAlive { headers.add(name: "Connection", value: "close") }
        context.write(wrapOutboundOut(.head(HTTPResponseHead(version: version, status: r.status, headers: headers))), promise: nil)
        if r.body.readableBytes > 0 { context.write(wrapOutboundOut(.body(.byteBuffer(r.body))), promise: nil) }
        if keepAlive {
            context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
        } else {
            context.writeAndFlush(wrapOutboundOut(.end(nil))).whenComplete { _ in context.close(promise: nil) }
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
