import Cassette
import CloudSigning

extension RequestKey {
    /// The key and profile of a stored request (for imported HAR files and re-keying).
    public static func make(recorded r: Exchange.Request, profile override: MatchProfile? = nil) -> (key: String, profile: String) {
        let signable = signable(r)
        let profile = override ?? MatchProfile.detect(signable)
        var host = ""
        if let scheme = r.url.range(of: "://") {
            let rest = r.url[scheme.upperBound...]
            host = String(rest.prefix { $0 != "/" && $0 != "?" })
            let https = r.url.lowercased().hasPrefix("https")
            if https, host.hasSuffix(":443") { host.removeLast(4) }
            if !https, host.hasSuffix(":80") { host.removeLast(3) }
        }
        return (make(signable, host: host, profile: profile), profile.name)
    }

    /// A stored request in the form the signature schemes and key builder read.
    public static func signable(_ r: Exchange.Request) -> SignableRequest {
        var pathAndQuery = r.url
        if let scheme = r.url.range(of: "://") {
            let rest = r.url[scheme.upperBound...]
            pathAndQuery = String(rest.drop { $0 != "/" && $0 != "?" })
        }
        if pathAndQuery.isEmpty || pathAndQuery.hasPrefix("?") { pathAndQuery = "/" + pathAndQuery }
        let path = String(pathAndQuery.prefix { $0 != "?" })
        let query = pathAndQuery.firstIndex(of: "?").flatMap { try? QueryParameters.parse(String(pathAndQuery[pathAndQuery.index(after: $0)...])) } ?? QueryParameters()
        let headers = r.headerPairs.map { (name: $0.0, value: $0.1) }
        let body = r.body.bytes
        let isForm = headers.contains { $0.name.lowercased() == "content-type" && $0.value.lowercased().hasPrefix("application/x-www-form-urlencoded") }
        let form = isForm && !body.isEmpty ? ((try? QueryParameters.parse(body)) ?? QueryParameters()) : QueryParameters()
        return SignableRequest(method: r.method, rawPath: path, query: query, form: form, headers: headers, body: body)
    }
}
