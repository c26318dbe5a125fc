import NIOCore
import NIOPosix
import NIOSSL

/// A deliberately dumb HTTP/1.1 client, one request per connection (127.0.0.1 unless told): writes bytes exactly as
/// given (so tests can send malformed or oversized requests) and reads back one response, parsed just
/// enough to assert on. `tapedeck demo` uses it for its calls, the tests for theirs.
public enum RawHTTPClient {
    public struct Response: Sendable {
        public var status: Int
        public var headers: [(String, String)]
        public var body: [UInt8]
        /// Whether the server closed the connection after the response.
        public var closed: Bool
        /// Interim (1xx) statuses that came first, e.g. 100 for `Expect: 100-continue`.
        public var interim: [Int] = []

        public func header(_ name: String) -> String? {
            headers.first { $0.0.lowercased() == name.lowercased() }?.1
        }

        public var bodyString: String { String(decoding: body, as: UTF8.self) }
    }

    public struct Failure: Error, CustomStringConvertible {
        public var description: String
    }

    /// Sends `raw` to `host`:`port` (over TLS with `tls`) and returns the first response.
    public static func send(
        _ raw: [UInt8], host: String = "127.0.0.1", port: Int, tls: NIOSSLContext? = nil, timeout: TimeAmount = .seconds(10)
    ) async throws -> Response {
        let group = MultiThreadedEventLoopGroup.singleton
        let collector = group.next().makePromise(of: Response.self)
        let channel: Channel
        do {
            channel = try await ClientBootstrap(group: group)
                .channelInitializer { ch in
                    ch.eventLoop.makeCompletedFuture {
                        if let tls {
                            let sni = Authority(host: host, port: port).isIPAddress ? nil : host
                            try ch.pipeline.syncOperations.addHandler(NIOSSLClientHandler(context: tls, serverHostname: sni))
                        }
                        try ch.pipeline.syncOperations.addHandler(Collector(collector, headRequest: raw.starts(with: Array("HEAD ".utf8))))
                    }
                }
                .connectTimeout(timeout)
                .connect(host: host, port: port).get()
        } catch {
            collector.fail(error)  // nothing will complete it: a connection refused is the caller's answer
            throw error
        }
        let timer = channel.eventLoop.scheduleTask(in: timeout) {
            collector.fail(Failure(description: "no complete response within \(timeout)"))
        }
        var buf = channel.allocator.buffer(capacity: raw.count)
        buf.writeBytes(raw)
        channel.writeAndFlush(buf, promise: nil)
        defer { timer.cancel(); channel.close(promise: nil) }
        return try await collector.futureResult.get()
    }

    /// A GET (or other method) with the given headers.
    public static func request(
        _ method: String = "GET", _ target: String, port: Int, headers: [(String, String)] = [],
        body: [UInt8] = []
    ) async throws -> Response {
        try await send(
            HTTPRequestWriter.bytes(method: method, target: target, host: "127.0.0.1:\(port)", headers: headers, body: body), port: port)
    }

    private final class Collector: ChannelInboundHandler {
        typealias InboundIn = ByteBuffer
        let promise: EventLoopPromise<Response>
        var bytes: [UInt8] = []
        var parsed: (status: Int, headers: [(String, String)], bodyStart: Int, length: Int?)?
        var done = false
        var interim: [Int] = []
        var bodyOffset = 0

        /// The request was a HEAD: the answer's head describes a body that is not sent.
        let headRequest: Bool

        init(_ p: EventLoopPromise<Response>, headRequest: Bool) {
            promise = p
            self.headRequest = headRequest
        }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            var b = unwrapInboundIn(data)
            bytes += b.readBytes(length: b.readableBytes) ?? []
            tryFinish(closed: false, context: context)
        }

        func channelInactive(context: ChannelHandlerContext) {
            tryFinish(closed: true, context: context)
            if !done {
                done = true; promise.fail(Failure(description: "connection closed before a complete response (\(bytes.count) bytes)"))
            }
        }

        func errorCaught(context: ChannelHandlerContext, error: Error) {
            if !done { done = true; promise.fail(error) }
            context.close(promise: nil)
        }

        private func tryFinish(closed: Bool, context: ChannelHandlerContext) {
            guard !done else { return }
            if parsed == nil {
                let result = bytes[bodyOffset...].withUnsafeBytes { HTTPResponseHeadParser.parse($0, collectHeaders: true) }
                switch result {
                case .needMoreData:
                    break
                case .invalid(let why):
                    done = true
                    promise.fail(Failure(description: "invalid response: \(why)"))
                    return
                case .head(let h):
                    if h.status < 200 {  // interim (100 Continue): the final answer follows
                        interim.append(h.status)
                        bodyOffset += h.headerLength
                        return tryFinish(closed: closed, context: context)
                    }
                    parsed = (h.status, h.headers, bodyOffset + h.headerLength, headRequest ? 0 : h.chunked ? nil : h.contentLength)
                }
            }
            guard let p = parsed else { return }
            let available = bytes.count - p.bodyStart
            if let len = p.length, available >= len {
                done = true
                let isClose = p.headers.contains { $0.0.lowercased() == "connection" && $0.1.lowercased() == "close" }
                promise.succeed(
                    Response(
                        status: p.status, headers: p.headers, body: Array(bytes[p.bodyStart..<(p.bodyStart + len)]),
                        closed: closed || isClose, interim: interim))
            } else if p.length == nil && closed {
                done = true
                promise.succeed(
                    Response(status: p.status, headers: p.headers, body: Array(bytes[p.bodyStart...]), closed: true, interim: interim))
            }
        }
    }
}
