import CloudSigning
import Foundation

/// Removes credentials before anything reaches disk: signature and credential headers, signature and
/// key-id query/form parameters, and secret-looking JSON fields, in requests and responses alike.
public struct Redactor: Sendable {
    public static let placeholder = "REDACTED"

    /// Lower-case header names whose values are replaced (the scheme word of `Authorization` is kept).
    public var headers: Set<String> = ["authorization", "proxy-authorization", "cookie", "set-cookie", "x-security-token",
                                       "x-acs-security-token", "x-auth-token", "x-subject-token", "x-acs-accesskey-id"]
    /// Query/form parameter names whose values are replaced.
    public var parameters: Set<String> = ["Signature", "AccessKeyId", "SecurityToken", "AccessKeySecret", "access_key_id",
                                          "access_key_secret", "password", "token"]
    /// JSON field names containing any of these (case-insensitively) have their values replaced.
    public var jsonFieldFragments: [String] = ["secret", "password", "token", "accesskey", "access_key", "private_key",
                                               "privatekey", "credential", "signature"]
    /// Exact names added with `--redact NAME` (header, parameter or JSON field).
    public var extra: Set<String> = []

    public init() {}

    public mutating func add(_ name: String) { extra.insert(name) }

    func isSecretHeader(_ name: String) -> Bool { headers.contains(name.lowercased()) || extra.contains(name) || extra.contains(name.lowercased()) }
    func isSecretParameter(_ name: String) -> Bool { parameters.contains(name) || extra.contains(name) }
    func isSecretField(_ name: String) -> Bool {
        if extra.contains(name) { return true }
        let l = name.lowercased()
        return jsonFieldFragments.contains { l.contains($0) }
    }

    public func redact(_ e: Exchange) -> Exchange {
        var r = e
        r.request.url = redactURL(e.request.url)
        r.request.headers = e.request.headers.map(redactHeader)
        r.request.body = redactBody(e.request.body, headers: e.request.headerPairs)
        r.response.headers = e.response.headers.map(redactHeader)
        r.response.body = redactBody(e.response.body, headers: e.response.headerPairs)
        return r
    }

    private func redactHeader(_ h: [String]) -> [String] {
        guard h.count == 2, isSecretHeader(h[0]) else { return h }
        let scheme = h[1].split(separator: " ", maxSplits: 1).first.map(String.init) ?? ""
        let keepScheme = h[0].lowercased() == "authorization" && (scheme.hasSuffix("HMAC-SHA256") || scheme == "Bearer" || scheme == "Basic")
        return [h[0], keepScheme ? "\(scheme) \(Redactor.placeholder)" : Redactor.placeholder]
    }

    func redactURL(_ url: String) -> String {
        guard let q = url.firstIndex(of: "?") else { return url }
        let query = String(url[url.index(after: q)...])
        guard var params = try? QueryParameters.parse(query) else { return url }
        var changed = false
        for i in params.pairs.indices where isSecretParameter(params.pairs[i].name) {
            params.pairs[i].value = Redactor.placeholder
            changed = true
        }
        return changed ? String(url[..<q]) + "?" + params.encoded : url
    }

    func redactBody(_ body: Body, headers: [(String, String)]) -> Body {
        guard body.encoding == .text, !body.data.isEmpty else { return body }
        let contentType = headers.first { $0.0.lowercased() == "content-type" }?.1.lowercased() ?? ""
        if contentType.contains("x-www-form-urlencoded"), var params = try? QueryParameters.parse(body.data) {
            var changed = false
            for i in params.pairs.indices where isSecretParameter(params.pairs[i].name) {
                params.pairs[i].value = Redactor.placeholder
                changed = true
            }
            return changed ? Body(encoding: .text, data: params.encoded) : body
        }
        let trimmed = body.data.drop { $0 == " " || $0 == "\n" || $0 == "\r" || $0 == "\t" }
        guard trimmed.first == "{" || trimmed.first == "[",
              let json = try? JSONSerialization.jsonObject(with: Data(body.data.utf8), options: [.fragmentsAllowed]) else { return body }
        var changed = false
        let cleaned = redactJSON(json, &changed)
        guard changed, let data = try? JSONSerialization.data(withJSONObject: cleaned, options: [.sortedKeys, .withoutEscapingSlashes]) else { return body }
        return Body(encoding: .text, data: String(decoding: data, as: UTF8.self))
    }

    private func redactJSON(_ v: Any, _ changed: inout Bool) -> Any {
        if let d = v as? [String: Any] {
            var out: [String: Any] = [:]
            for (k, x) in d {
                if isSecretField(k), x is String || x is NSNumber {
                    out[k] = Redactor.placeholder
                    changed = true
                } else {
                    out[k] = redactJSON(x, &changed)
                }
            }
            return out
        }
        if let a = v as? [Any] { return a.map { redactJSON($0, &changed) } }
        return v
    }
}
