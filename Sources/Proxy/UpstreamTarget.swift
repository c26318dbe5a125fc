import TapedeckHTTP
/// Where a request goes: scheme, host and port, and the authority used in match keys.
public struct UpstreamTarget: Sendable, Equatable, CustomStringConvertible {
    public let tls: Bool
    public let host: String
    public let port: Int
    /// `host` or `host:port` when the port is not the scheme's default: the match key's host.
    public let authority: String

    public init(tls: Bool, host: String, port: Int) {
        self.tls = tls
        self.host = host
        self.port = port
        authority = Authority(host: host, port: port).hostHeader(defaultPort: tls ? 443 : 80)
    }

    /// Parses `http://host[:port][/…]` or `https://…`.
    public init?(url: String) {
        guard let t = RequestTarget(url), let scheme = t.scheme, let a = t.authority else { return nil }
        self.init(tls: scheme == .https, host: a.host, port: a.port)
    }

    /// Parses `host[:port]` (IPv6 in brackets), a `CONNECT` target.
    public init?(authority: String, tls: Bool) {
        guard let a = Authority(authority, defaultPort: tls ? 443 : 80) else { return nil }
        self.init(tls: tls, host: a.host, port: a.port)
    }

    public var origin: String { (tls ? "https://" : "http://") + authority }
    public var description: String { origin }
}
