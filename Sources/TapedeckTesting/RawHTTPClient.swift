import NIOCore
import NIOPosix

/// A deliberately dumb HTTP/1.1 client for tests: writes bytes exactly as given (so tests can send
/// malformed or oversized requests) and reads back one response, parsed just enough to assert on.
public enum RawHTTPClient {
    public struct Response: Sendable {
        public var status: Int
        public var headers: [(String, String)]
        public var body: [UInt8]
        /// Whether the server closed the connection after the response.
        public var closed: Bool

        public func header(_ name: String) -> String? {
            headers.first { $0.0.lowercased() == name.lowercased() }?.1
        }

        public var bodyString: String { String(decoding: body, as: UTF8.self) }
    }

    public struct Failure: Error, CustomStringConvertible {
        public var description: String
    }

    /// Sends `raw` to 127.0.0.1:`port` and returns the first response.
    public static func send(_ raw: [UInt8], port: Int, timeout: TimeAmount = .seconds(10)) async throws -> Response {
        let group = MultiThreadedEventLoopGroup.singleton
        let collector = group.next().makePromise(of: Response.self)
        let channel = try await ClientBootstrap(group: group)
            .channelInitializer { ch in ch.eventLoop.makeCompletedFuture { try ch.pipeline.syncOperations.addHandler(Collector(collector)) } }
            .connect(host: "127.0.0.1", port: port).get()
        let timer = channel.eventLoop.scheduleTask(in: timeout) { collector.fail(Failure(description: "no complete response within \(timeout)")) }
        var buf = channel.allocator.buffer(capacity: raw.count)
        buf.writeBytes(raw)
        channel.writeAndFlush(buf, promise: nil)
        defer { timer.cancel(); channel.close(promise: nil) }
        return try await collector.futureResult.get()
    }

    /// A GET (or other method) with the given headers.
    public static func request(_ method: String = "GET", _ target: String, port: Int, headers: [(String, String)] = [],
                               body: [UInt8] = []) async throws -> Response {
        var head = "\(method) \(target) HTTP/1.1\r\nHost: 127.0.0.1:\(port)\r\n"
        for (k, v) in headers { head += "\(k): \(v)\r\n" }
        if !body.isEmpty || method == "POST" || method == "PUT" { head += "Content-Length: \(body.count)\r\n" }
        head += "\r\n"
        return try await send(Array(head.utf8) + body, port: port)
    }

    private final class Collector: ChannelInboundHandler, @unchecked Sendable {
        typealias InboundIn = ByteBuffer
        let promise: EventLoopPromise<Response>
        var bytes: [UInt8] = []
        var parsed: (status: Int, headers: [(String, String)], bodyStart: Int, length: Int?)?
        var done = false

        init(_ p: EventLoopPromise<Response>) { promise = p }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            var b = unwrapInboundIn(data)
            bytes += b.readBytes(length: b.readableBytes) ?? []
            tryFinish(closed: false, context: context)
        }

        func channelInactive(context: ChannelHandlerContext) {
            tryFinish(closed: true, context: context)
            if !done { done = true; promise.fail(Failure(description: "connection closed before a complete response (\(bytes.count) bytes)")) }
        }

        func errorCaught(context: ChannelHandlerContext, error: Error) {
            if !done { done = true; promise.fail(error) }
            context.close(promise: nil)
        }

        private func tryFinish(closed: Bool, context: ChannelHandlerContext) {
            guard !done else { return }
            if parsed == nil, let end = find([13, 10, 13, 10]) {
                let text = String(decoding: bytes[..<end], as: UTF8.self)
                var lines = text.components(separatedBy: "\r\n")
                let statusLine = lines.removeFirst().split(separator: " ")
                let status = statusLine.count > 1 ? Int(statusLine[1]) ?? 0 : 0
                let headers = lines.compactMap { l -> (String, String)? in
                    guard let i = l.firstIndex(of: ":") else { return nil }
                    return (String(l[..<i]), String(l[l.index(after: i)...]).trimmingCharacters(in: .whitespaces))
                }
                let noBody = status == 204 || status == 304 || (100..<200).contains(status)
                let length = noBody ? 0 : headers.first { $0.0.lowercased() == "content-length" }.flatMap { Int($0.1) }
                parsed = (status, headers, end + 4, length)
            }
            guard let p = parsed else { return }
            let available = bytes.count - p.bodyStart
            if let len = p.length, available >= len {
                done = true
                let isClose = p.headers.contains { $0.0.lowercased() == "connection" && $0.1.lowercased() == "close" }
                promise.succeed(Response(status: p.status, headers: p.headers, body: Array(bytes[p.bodyStart..<(p.bodyStart + len)]),
                                         closed: closed || isClose))
            } else if p.length == nil && closed {
                done = true
                promise.succeed(Response(status: p.status, headers: p.headers, body: Array(bytes[p.bodyStart...]), closed: true))
            }
        }

        private func find(_ pattern: [UInt8]) -> Int? {
            guard bytes.count >= pattern.count else { return nil }
            for i in 0...(bytes.count - pattern.count) where bytes[i] == pattern[0] && Array(bytes[i..<(i + pattern.count)]) == pattern { return i }
            return nil
        }
    }
}

import Foundation
