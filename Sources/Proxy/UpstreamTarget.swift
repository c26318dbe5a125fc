/// Where a request goes: scheme, host and port, and the authority used in match keys.
public struct UpstreamTarget: Sendable, Equatable, CustomStringConvertible {
    public var tls: Bool
    public var host: String
    public var port: Int

    public init(tls: Bool, host: String, port: Int) {
        self.tls = tls
        self.host = host
        self.port = port
    }

    /// Parses `http://host[:port][/…]` or `https://…`.
    public init?(url: String) {
        let lower = url.lowercased()
        let tls: Bool
        let rest: Substring
        if lower.hasPrefix("https://") { tls = true; rest = url.dropFirst(8) } else if lower.hasPrefix("http://") { tls = false; rest = url.dropFirst(7) } else { return nil }
        let authority = rest.prefix { $0 != "/" && $0 != "?" }
        guard let t = UpstreamTarget(authority: String(authority), tls: tls) else { return nil }
        self = t
    }

    /// Parses `host[:port]` (IPv6 in brackets).
    public init?(authority: String, tls: Bool) {
        var host = authority
        var port = tls ? 443 : 80
        if authority.hasPrefix("[") {
            guard let close = authority.firstIndex(of: "]") else { return nil }
            host = String(authority[authority.index(after: authority.startIndex)..<close])
            let after = authority[authority.index(after: close)...]
            if after.hasPrefix(":") { guard let p = Int(after.dropFirst()) else { return nil }; port = p }
        } else if let colon = authority.lastIndex(of: ":") {
            guard let p = Int(authority[authority.index(after: colon)...]) else { return nil }
            host = String(authority[..<colon])
            port = p
        }
        guard !host.isEmpty, (1...65535).contains(port) else { return nil }
        self.tls = tls
        self.host = host
        self.port = port
    }

    /// `host` or `host:port` when the port is not the scheme's default: the match key's host.
    public var authority: String {
        let h = host.contains(":") ? "[\(host)]" : host
        return port == (tls ? 443 : 80) ? h : "\(h):\(port)"
    }

    public var origin: String { (tls ? "https://" : "http://") + authority }
    public var description: String { origin }
}
