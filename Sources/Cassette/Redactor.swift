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
    /// JSON field names containing any of these, compared lower-case without `_` and `-`, have their
    /// values replaced. Pagination and idempotency tokens (`NextToken`, `ClientToken`) are not secrets.
    public var jsonFieldFragments: [String] = ["secret", "password", "passwd", "privatekey", "securitytoken", "sessiontoken",
                                               "accesstoken", "refreshtoken", "authtoken", "idtoken", "subjecttoken", "apikey",
                                               "accesskeyid", "signature"]

    private var fragmentBytes: [[UInt8]] { jsonFieldFragments.map { Array($0.utf8) } }

    /// Exact names added with `--redact NAME` (header, parameter or JSON field).
    public var extra: Set<String> = []

    public init() {}

    public mutating func add(_ name: String) { extra.insert(name) }

    func isSecretHeader(_ name: String) -> Bool { headers.contains(name.lowercased()) || extra.contains(name) || extra.contains(name.lowercased()) }
    func isSecretParameter(_ name: String) -> Bool { parameters.contains(name) || extra.contains(name) }
    func isSecretField(_ name: String) -> Bool {
        if extra.contains(name) { return true }
        var l: [UInt8] = []
        l.reserveCapacity(name.utf8.count)
        for b in name.utf8 where b != UInt8(ascii: "_") && b != UInt8(ascii: "-") { l.append(b >= 65 && b <= 90 ? b + 32 : b) }
        return jsonFieldFragments.contains { SecretScanner.contains(l, Array($0.utf8)) }
    }

    /// Whether `text` might hold a secret field (or an extra name), judged on its lower-cased text without
    /// `_` and `-` exactly as field names are: clean bodies (most answers) are never parsed.
    func mightHoldSecrets(_ text: String) -> Bool {
        var normalized: [UInt8] = []
        normalized.reserveCapacity(text.utf8.count)
        for b in text.utf8 where b != UInt8(ascii: "_") && b != UInt8(ascii: "-") { normalized.append(b >= 65 && b <= 90 ? b + 32 : b) }
        if fragmentBytes.contains(where: { SecretScanner.contains(normalized, $0) }) { return true }
        return extra.contains { SecretScanner.contains(Array(text.utf8), Array($0.utf8)) }
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
        guard trimmed.first == "{" || trimmed.first == "[", mightHoldSecrets(body.data),
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
