import Cassette
import CloudSigning
import TapedeckHTTP

extension RequestKey {
    /// The key and profile of a stored request (for imported HAR files and re-keying).
    /// With `config`, a detected profile gets its ignore rules (an `override` is used as given).
    public static func of(
        recorded r: Exchange.Request, profile override: MatchProfile? = nil,
        config: MatchConfig = MatchConfig()
    ) -> (key: RequestKey, profile: String) {
        let signable = signable(r)
        let profile = override ?? config.applied(to: MatchProfile.detect(signable))
        var host = ""
        if let target = RequestTarget(r.url), let scheme = target.scheme, let authority = target.authority {
            host = authority.hostHeader(defaultPort: scheme.defaultPort)
        }
        return (RequestKey(signable, host: host, profile: profile), profile.name)
    }

    /// A stored request in the form the signature schemes and key builder read.
    public static func signable(_ r: Exchange.Request) -> SignableRequest {
        let target = RequestTarget(r.url)
        let path = target.map { String($0.path) } ?? "/"
        // As the proxy keyed it when recording: a query that does not decode is kept as sent, a form body
        // that does not is an opaque body (hashed).
        let query = target?.query.map { QueryParameters.parseLeniently(String($0)) } ?? QueryParameters()
        let headers = r.headerPairs.map { (name: $0.0, value: $0.1) }
        let body = r.body.bytes
        let isForm = headers.contains {
            $0.name.lowercased() == "content-type" && $0.value.lowercased().hasPrefix("application/x-www-form-urlencoded")
        }
        let form = isForm && !body.isEmpty ? ((try? QueryParameters.parse(body)) ?? QueryParameters()) : QueryParameters()
        return SignableRequest(method: r.method, rawPath: path, query: query, form: form, headers: headers, body: body)
    }
}
