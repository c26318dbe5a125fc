/// A request target split once, the way RFC 9112 §3.2 names its forms: origin form (`/path?query`),
/// absolute form (`http://host:port/path?query`, what clients send to a forward proxy) and authority
/// form (`host:port`, `CONNECT`'s). Every part of Tapedeck that splits a URL uses this type.
public struct RequestTarget: Sendable, Equatable {
    /// `http` or `https` for absolute form; nil otherwise.
    public var scheme: Scheme?
    /// Host and port for absolute and authority form; nil for origin form.
    public var authority: Authority?
    /// The path as sent (percent-encoded), `/` when absent.
    public var path: Substring
    /// The query as sent, without `?`; nil when there is no `?`.
    public var query: Substring?

    public enum Scheme: String, Sendable { case http, https
        public var defaultPort: Int { self == .https ? 443 : 80 }
    }

    /// Parses origin or absolute form; nil for anything else (a relative path, an unknown scheme, a bad port).
    public init?(_ target: String) {
        let s = Substring(target)
        if s.first == "/" || s == "*" {
            (scheme, authority) = (nil, nil)
            (path, query) = RequestTarget.splitQuery(s)
            return
        }
        guard let colon = s.firstIndex(of: ":"), s[colon...].hasPrefix("://") else { return nil }
        guard let scheme = Scheme(rawValue: s[..<colon].lowercased()) else { return nil }
        let rest = s[s.index(colon, offsetBy: 3)...]
        let authorityEnd: Substring.Index = rest.firstIndex(where: { (c: Character) in c == "/" || c == "?" || c == "#" }) ?? rest.endIndex
        guard let authority = Authority(rest[..<authorityEnd], defaultPort: scheme.defaultPort) else { return nil }
        self.scheme = scheme
        self.authority = authority
        var tail = rest[authorityEnd...]
        if let hash = tail.firstIndex(of: "#") { tail = tail[..<hash] }
        (path, query) = RequestTarget.splitQuery(tail)
        if path.isEmpty { path = "/" }
    }

    /// Origin form: `path[?query]`, what goes on the request line to an origin server.
    public var originForm: String {
        query.map { "\(path)?\($0)" } ?? String(path)
    }

    static func splitQuery(_ s: Substring) -> (Substring, Substring?) {
        guard let q = s.firstIndex(of: "?") else { return (s, nil) }
        return (s[..<q], s[s.index(after: q)...])
    }
}

/// `host[:port]`, with IPv6 literals in brackets; the port must be 1…65535.
public struct Authority: Sendable, Hashable, CustomStringConvertible {
    /// The host without brackets.
    public var host: String
    public var port: Int

    public init(host: String, port: Int) {
        self.host = host
        self.port = port
    }

    /// Parses `host[:port]`; nil for an empty host, a non-numeric port or one outside 1…65535.
    public init?<S: StringProtocol>(_ text: S, defaultPort: Int) {
        var host = Substring(text)
        var port = defaultPort
        if let at = host.lastIndex(of: "@") { host = host[host.index(after: at)...] }  // userinfo is not part of the target
        if host.hasPrefix("[") {
            guard let close = host.firstIndex(of: "]") else { return nil }
            let after = host[host.index(after: close)...]
            host = host[host.index(after: host.startIndex)..<close]
            if !after.isEmpty {
                guard after.hasPrefix(":"), let p = Authority.port(after.dropFirst()) else { return nil }
                port = p
            }
        } else if let colon = host.lastIndex(of: ":") {
            guard let p = Authority.port(host[host.index(after: colon)...]) else { return nil }
            host = host[..<colon]
            port = p
        }
        guard !host.isEmpty, !host.contains(where: { $0 == " " || $0 == "/" }) else { return nil }
        self.host = String(host)
        self.port = port
    }

    private static func port(_ s: Substring) -> Int? {
        guard !s.isEmpty, s.count <= 5, s.allSatisfy(\.isASCIIDigit), let p = Int(s), (1...65535).contains(p) else { return nil }
        return p
    }

    /// Whether the host is an IP literal (no SNI, no name check by DNS name).
    public var isIPAddress: Bool {
        host.contains(":") || (host.split(separator: ".").count == 4 && host.allSatisfy { $0.isASCIIDigit || $0 == "." })
    }

    /// `host:port`, brackets around IPv6.
    public var description: String { "\(bracketedHost):\(port)" }

    /// The host as it goes into a URL or a `Host` header.
    public var bracketedHost: String { host.contains(":") ? "[\(host)]" : host }

    /// `host` when `port` is the scheme's default, else `host:port`: the `Host` header's form.
    public func hostHeader(defaultPort: Int) -> String { port == defaultPort ? bracketedHost : description }
}

extension Character {
    var isASCIIDigit: Bool { ("0"..."9").contains(self) }
}
