import Foundation
import NIOHTTP1

/// What a request's headers say about a web browser having sent it. A page the user opens can send requests
/// to loopback servers (the simulator, the proxy): a foreign `Origin`, a cross-site `Sec-Fetch-Site`, or a
/// browser's request (it says `Sec-Fetch-*`; SDKs, curl and test clients never do) that names the server by a
/// DNS name (DNS rebinding: a page's own name pointed at 127.0.0.1) came from a page. Every value of each header
/// counts, so a second one cannot hide behind a first that passes.
public enum BrowserRequest {
    /// Why `headers` look like a web page's request to a server addressed on loopback, or nil. `namedByAnyHost`:
    /// also refuse a DNS-name `Host` from a non-browser (the proxy with `--resign`).
    public static func refusal(_ headers: HTTPHeaders, namedByAnyHost: Bool = false) -> String? {
        let origins = headers["origin"]
        if !origins.isEmpty {
            if let origin = origins.first(where: { !isLoopbackHost(authority(ofOrigin: $0)) }) {
                return "a request from a web page (Origin: \(origin))"
            }
        } else if let site = headers["sec-fetch-site"].first(where: { $0.lowercased() != "same-origin" && $0.lowercased() != "none" }) {
            return "a browser's cross-site request (Sec-Fetch-Site: \(site))"
        }
        let browser = headers.contains(name: "sec-fetch-site") || headers.contains(name: "sec-fetch-mode")
        if browser || namedByAnyHost, let host = headers["host"].first(where: { !isLoopbackHost($0) && !isAddressLiteral($0) }) {
            return "a request that names this server \(host), not localhost or an IP address (a web page can point a name at 127.0.0.1)"
        }
        return nil
    }

    /// The host and port of an `Origin` (`scheme://host[:port]`). An origin has no user part or path: with
    /// one (`http://evil.example@127.0.0.1`) it is no origin, and the answer is empty (no loopback host).
    public static func authority(ofOrigin origin: String) -> String {
        guard let r = origin.range(of: "://") else { return origin }
        let authority = origin[r.upperBound...]
        return authority.contains(where: { $0 == "@" || $0 == "/" || $0 == "\\" }) ? "" : String(authority)
    }

    /// `localhost`, an IPv4 address literal in 127.0.0.0/8 or `[::1]`, with any port. Only literals: a name
    /// such as `127.0.0.1.rebind.example` is a DNS name a web page can point at 127.0.0.1 (DNS rebinding).
    public static func isLoopbackHost(_ hostHeader: String) -> Bool {
        guard let a = Authority(hostHeader, defaultPort: 80) else { return false }
        let h = a.host.lowercased()
        if h == "localhost" { return true }
        var v4 = in_addr()
        if inet_pton(AF_INET, h, &v4) == 1 { return UInt32(bigEndian: v4.s_addr) >> 24 == 127 }
        var v6 = in6_addr()
        if inet_pton(AF_INET6, h, &v6) == 1 {
            var loopback = in6_addr()
            _ = inet_pton(AF_INET6, "::1", &loopback)
            return withUnsafeBytes(of: &v6) { a in withUnsafeBytes(of: &loopback) { b in a.elementsEqual(b) } }
        }
        return false
    }

    /// An IPv4 or bracketed IPv6 address with an optional port: no DNS name, so no rebinding.
    public static func isAddressLiteral(_ hostHeader: String) -> Bool {
        Authority(hostHeader, defaultPort: 80)?.isIPAddress ?? false
    }
}
