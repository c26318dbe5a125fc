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

    public enum Scheme: String, Sendable {
        case http, https
        public var defaultPort: Int { self == .https ? 443 : 80 }
    }

    /// The first value of parameter `name` in `uri`'s query exactly as sent (not decoded), nil when absent or
    /// without `=`: for answering a request whose parameters cannot be decoded in the shape it asked for.
    public static func rawParameter(_ name: String, in uri: String) -> Substring? {
        guard let q = uri.firstIndex(of: "?") else { return nil }
        for pair in uri[uri.index(after: q)...].split(separator: "&") {
            guard let eq = pair.firstIndex(of: "="), pair[..<eq] == name else { continue }
            return pair[pair.index(after: eq)...]
        }
        return nil
    }

    /// Parses origin or absolute form; nil for anything else (a relative path, an unknown scheme, a bad port).
    public init?(_ target: String) {
        if target.utf8.first == UInt8(ascii: "/") {  // origin form, the common case: one byte scan
            (scheme, authority) = (nil, nil)
            if let q = target.utf8.firstIndex(of: UInt8(ascii: "?")) {
                path = target[..<q]
                query = target[target.utf8.index(after: q)...]
            } else {
                path = Substring(target)
                query = nil
            }
            return
        }
        // Absolute form, scanned as bytes (cassette tools re-key every stored URL through here).
        let u = target.utf8
        guard let colon = u.firstIndex(of: UInt8(ascii: ":")) else { return nil }
        let schemeLength = u.distance(from: u.startIndex, to: colon)
        guard schemeLength == 4 || schemeLength == 5 else { return nil }
        var k = u.startIndex
        for expected in "https".utf8.prefix(schemeLength) {
            guard u[k] | 0x20 == expected else { return nil }
            k = u.index(after: k)
        }
        let scheme: Scheme = schemeLength == 5 ? .https : .http
        let slash1 = u.index(after: colon)
        guard slash1 < u.endIndex, u[slash1] == UInt8(ascii: "/") else { return nil }
        let slash2 = u.index(after: slash1)
        guard slash2 < u.endIndex, u[slash2] == UInt8(ascii: "/") else { return nil }
        let authorityStart = u.index(after: slash2)
        let authorityEnd =
            u[authorityStart...].firstIndex { $0 == UInt8(ascii: "/") || $0 == UInt8(ascii: "?") || $0 == UInt8(ascii: "#") }
            ?? u.endIndex
        guard let authority = Authority(target[authorityStart..<authorityEnd], defaultPort: scheme.defaultPort) else { return nil }
        self.scheme = scheme
        self.authority = authority
        var tail = target[authorityEnd...]
        if let hash = tail.utf8.firstIndex(of: UInt8(ascii: "#")) { tail = tail[..<hash] }
        if let q = tail.utf8.firstIndex(of: UInt8(ascii: "?")) {
            path = tail[..<q]
            query = tail[tail.utf8.index(after: q)...]
        } else {
            path = tail
            query = nil
        }
        if path.isEmpty { path = "/" }
    }

    /// Origin form: `path[?query]`, what goes on the request line to an origin server.
    public var originForm: String {
        query.map { "\(path)?\($0)" } ?? String(path)
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
        if let at = host.utf8.lastIndex(of: UInt8(ascii: "@")) { host = host[host.utf8.index(after: at)...] }  // userinfo is not part of the target
        if host.utf8.first == UInt8(ascii: "[") {
            guard let close = host.utf8.firstIndex(of: UInt8(ascii: "]")) else { return nil }
            let after = host[host.utf8.index(after: close)...]
            host = host[host.utf8.index(after: host.startIndex)..<close]
            if !after.isEmpty {
                guard after.utf8.first == UInt8(ascii: ":"), let p = Authority.port(after.dropFirst()) else { return nil }
                port = p
            }
        } else if let colon = host.utf8.lastIndex(of: UInt8(ascii: ":")) {
            guard let p = Authority.port(host[host.utf8.index(after: colon)...]) else { return nil }
            host = host[..<colon]
            port = p
        }
        // No space, `/`, control byte or DEL: the host goes into a `Host` header and a request line as it is.
        guard !host.isEmpty, !host.utf8.contains(where: { $0 <= 32 || $0 == 127 || $0 == UInt8(ascii: "/") }) else { return nil }
        self.host = String(host)
        self.port = port
    }

    private static func port(_ s: Substring) -> Int? {
        guard !s.isEmpty, s.utf8.count <= 5 else { return nil }
        var p = 0
        for b in s.utf8 {
            guard b >= 48 && b <= 57 else { return nil }
            p = p * 10 + Int(b - 48)
        }
        return (1...65535).contains(p) ? p : nil
    }

    /// Whether the host is an IP literal (no SNI, no name check by DNS name).
    public var isIPAddress: Bool {
        host.utf8.contains(UInt8(ascii: ":"))
            || (host.split(separator: ".").count == 4 && host.utf8.allSatisfy { ($0 >= 48 && $0 <= 57) || $0 == 46 })
    }

    /// `host:port`, brackets around IPv6.
    public var description: String { "\(bracketedHost):\(port)" }

    /// The host as it goes into a URL or a `Host` header.
    public var bracketedHost: String { host.contains(":") ? "[\(host)]" : host }

    /// `host` when `port` is the scheme's default, else `host:port`: the `Host` header's form.
    public func hostHeader(defaultPort: Int) -> String { port == defaultPort ? bracketedHost : description }
}
