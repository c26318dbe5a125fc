import NIOCore
import NIOHTTP1

/// Reads the request line of a connection's first request before NIO's decoder does (across reads when
/// it arrives in pieces), and tells the `HTTPServerHandler` after it (`Sniffed`), then leaves the pipeline.
/// The fast lane puts a new one in when it steps out, for the request it could not take. When the decoder refuses that
/// request as malformed (a bare LF, a NUL in a header, two Content-Lengths), its error answer can still
/// take the shape of the cloud the request was for (`/v3/…` is Huawei's); so do later malformed
/// requests on the same connection.
public final class RequestLineSniffer: ChannelInboundHandler, RemovableChannelHandler {
    public typealias InboundIn = ByteBuffer
    public typealias InboundOut = ByteBuffer

    /// The first request's target, as far as its first bytes tell (no headers).
    public struct Sniffed: Sendable {
        public var uri: String
    }

    public init() {}

    /// The line's first bytes while it is cut across reads (a client may send it in pieces).
    private var start: [UInt8] = []
    static let maxLine = 2048

    public func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let buffer = unwrapInboundIn(data)
        let take = buffer.readableBytesView.prefix(Self.maxLine - start.count)
        let ends = take.contains(UInt8(ascii: "\n")) || take.contains(UInt8(ascii: "\r"))
        guard ends || start.count + take.count >= Self.maxLine else {
            // The line goes on in a later read: tell the handler once it is whole, before those bytes arrive.
            start.append(contentsOf: take)
            return context.fireChannelRead(data)
        }
        start.append(contentsOf: take)
        if let uri = RequestLineSniffer.target(start) {
            context.fireUserInboundEventTriggered(Sniffed(uri: uri))
        }
        start = []
        context.fireChannelRead(data)
        context.pipeline.syncOperations.removeHandler(context: context, promise: nil)
    }

    /// The second word of the first line, when the line has one.
    static func target(_ bytes: some Collection<UInt8>) -> String? {
        let line = bytes.prefix { $0 != UInt8(ascii: "\n") && $0 != UInt8(ascii: "\r") }
        let words = line.split(separator: UInt8(ascii: " "), omittingEmptySubsequences: true)
        guard words.count >= 2 else { return nil }
        return String(decoding: words[words.startIndex + 1], as: UTF8.self)
    }
}
