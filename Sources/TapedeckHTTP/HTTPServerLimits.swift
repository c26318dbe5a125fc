import NIOCore

/// What one server connection accepts before it answers with an error, and how long it waits.
public struct HTTPServerLimits: Sendable {
    /// Longest request target (path and query), in bytes: 414 past it.
    public var maxURIBytes = 16 * 1024
    /// Largest header block (names and values), in bytes: 431 past it.
    public var maxHeaderBytes = 32 * 1024
    /// Largest body, in bytes (after de-chunking): 413 past it.
    public var maxBodyBytes = 1024 * 1024
    /// A connection with no request under way, or whose request (headers or body) stalls this long, is closed.
    /// A request's headers must be complete within this time of the connection opening or the previous answer.
    public var idleTimeout: TimeAmount = .seconds(60)
    /// A body trickled in byte by byte must not hold its connection for ever (a slow-body attack takes every
    /// connection the server has): each body byte buys this long, and a request's deadline (an idle timeout
    /// from its head) moves on by what its bytes bought, at most two idle timeouts ahead of now. 2 ms a byte is
    /// Apache mod_reqtimeout's `MinRate=500`; a real upload at a few KB/s or more never meets it.
    public var timePerBodyByte: TimeAmount = .milliseconds(2)
    /// After an error answer the rest of the request is read and dropped, so the client can read the answer
    /// (closing with unread input makes the kernel send a reset), up to this many bytes…
    public var lingerBytes = 64 * 1024 * 1024
    /// …or this long, whichever comes first; then the connection is closed.
    public var lingerTime: TimeAmount = .seconds(10)

    /// On a graceful shutdown, a request still arriving has this long (at most `idleTimeout`) to be complete,
    /// however slowly it keeps trickling in; then it is answered 408 and the connection closes a second later.
    public var shutdownGrace: TimeAmount = .seconds(5)

    public init() {}
}
