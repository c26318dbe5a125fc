import TapedeckHTTP

/// The server under load: `http://host:port[/path]` or `https://…`.
public struct LoadTarget: Sendable, Equatable {
    public var tls: Bool
    public var host: String
    public var port: Int
    /// Path and query for plain GET load.
    public var path: String

    public init?(url: String) {
        guard let t = RequestTarget(url), let scheme = t.scheme, let authority = t.authority else { return nil }
        tls = scheme == .https
        host = authority.host
        port = authority.port
        path = t.originForm
    }

    /// The `Host` header's value.
    public var authority: String {
        Authority(host: host, port: port).hostHeader(defaultPort: tls ? 443 : 80)
    }

    public var url: String { (tls ? "https://" : "http://") + authority + path }
}
