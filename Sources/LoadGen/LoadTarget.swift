/// The server under load: `http://host:port[/path]`.
public struct LoadTarget: Sendable, Equatable {
    public var host: String
    public var port: Int
    /// Path and query for plain GET load.
    public var path: String

    public init?(url: String) {
        guard url.lowercased().hasPrefix("http://") else { return nil }
        let rest = url.dropFirst(7)
        let authority = rest.prefix { $0 != "/" && $0 != "?" }
        var p = String(rest.dropFirst(authority.count))
        if p.isEmpty { p = "/" }
        guard let colon = authority.lastIndex(of: ":"), let port = Int(authority[authority.index(after: colon)...]) else {
            guard !authority.isEmpty else { return nil }
            host = String(authority); self.port = 80; path = p
            return
        }
        host = String(authority[..<colon])
        self.port = port
        path = p
        guard !host.isEmpty, (1...65535).contains(port) else { return nil }
    }

    public var authority: String { port == 80 ? host : "\(host):\(port)" }
}
