import CloudSigning
import Foundation

/// Removes credentials before anything reaches disk, wherever they sit in an exchange:
///
/// - query and form parameters, request and response headers and JSON fields at any depth (inside arrays,
///   and every value under a secret-named object such as `auth.identity.token`) whose names
///   `SecretNames` calls secret, case-insensitively (`password`, `token`, `signature`, `X-Api-Key`,
///   `Set-Cookie`, `WWW-Authenticate`, `private_key`, `client_secret`, …), plus the names given with `--redact`;
/// - XML elements and `name=value` text of such names in bodies that are not JSON;
/// - and every credential value seen in the request wherever else it appears — echoed in a response body,
///   an error's string-to-sign, a response header — plain, percent-encoded or JSON-escaped.
///
/// Match keys treat the same names as redacted (`RequestKey`), so replay still matches.
public struct Redactor: Sendable {
    public static let placeholder = "REDACTED"

    /// Exact names added with `--redact NAME` (header, parameter or JSON field).
    public var extra: Set<String> = []

    public init() {}

    public mutating func add(_ name: String) { extra.insert(name.lowercased()) }

    func isSecret(_ name: String) -> Bool { SecretNames.isSecret(name) || (!extra.isEmpty && extra.contains(name.lowercased())) }

    public func redact(_ e: Exchange) -> Exchange {
        var seen = Set<String>()  // credential values found in the request, scrubbed everywhere afterwards
        var r = e
        r.request.url = redactURL(e.request.url, &seen)
        r.request.headers = e.request.headers.map { redactHeader($0, &seen) }
        r.request.body = redactBody(e.request.body, headers: e.request.headerPairs, &seen)
        r.response.headers = e.response.headers.map { redactHeader($0, &seen) }
        r.response.body = redactBody(e.response.body, headers: e.response.headerPairs, &seen)
        let needles = Redactor.needles(seen)
        guard !needles.isEmpty else { return r }
        r.request.url = scrub(r.request.url, needles)
        r.request.headers = r.request.headers.map { $0.count == 2 ? [$0[0], scrub($0[1], needles)] : $0 }
        r.response.headers = r.response.headers.map { $0.count == 2 ? [$0[0], scrub($0[1], needles)] : $0 }
        for keyPath in [\Exchange.request.body, \Exchange.response.body] where r[keyPath: keyPath].encoding == .text {
            r[keyPath: keyPath] = Body(encoding: .text, data: scrub(r[keyPath: keyPath].data, needles))
        }
        return r
    }

    // MARK: by name

    private func redactHeader(_ h: [String], _ seen: inout Set<String>) -> [String] {
        guard h.count == 2, isSecret(h[0]) else { return h }
        Redactor.collectCredentials(h[1], &seen)
        let scheme = h[1].split(separator: " ", maxSplits: 1).first.map(String.init) ?? ""
        let keepScheme =
            h[0].lowercased() == "authorization"
            && (scheme.hasSuffix("HMAC-SHA256") || scheme.hasSuffix("HMAC-SM3")
                || scheme == "Bearer" || scheme == "Basic" || scheme == "Digest")
        return [h[0], keepScheme ? "\(scheme) \(Redactor.placeholder)" : Redactor.placeholder]
    }

    func redactURL(_ url: String, _ seen: inout Set<String>) -> String {
        guard let q = url.firstIndex(of: "?") else { return url }
        guard var params = try? QueryParameters.parse(String(url[url.index(after: q)...])) else { return url }
        guard redactParameters(&params, &seen) else { return url }
        return String(url[..<q]) + "?" + params.encoded
    }

    private func redactParameters(_ params: inout QueryParameters, _ seen: inout Set<String>) -> Bool {
        var changed = false
        for i in params.pairs.indices where isSecret(params.pairs[i].name) && params.pairs[i].value != Redactor.placeholder {
            Redactor.collect(params.pairs[i].value, &seen)
            params.pairs[i].value = Redactor.placeholder
            changed = true
        }
        return changed
    }

    func redactBody(_ body: Body, headers: [(String, String)], _ seen: inout Set<String>) -> Body {
        guard body.encoding == .text, !body.data.isEmpty, mightHoldSecretNames(body.data) else { return body }
        let contentType = headers.first { $0.0.lowercased() == "content-type" }?.1.lowercased() ?? ""
        let trimmed = body.data.drop { $0 == " " || $0 == "\n" || $0 == "\r" || $0 == "\t" }
        if trimmed.first == "{" || trimmed.first == "[" {
            guard let json = try? JSONSerialization.jsonObject(with: Data(body.data.utf8), options: [.fragmentsAllowed]) else {
                return body
            }
            var changed = false
            let cleaned = redactJSON(json, under: false, &changed, &seen)
            guard changed, let data = try? JSONSerialization.data(withJSONObject: cleaned, options: [.sortedKeys, .withoutEscapingSlashes])
            else {
                return body
            }
            return Body(encoding: .text, data: String(decoding: data, as: UTF8.self))
        }
        if trimmed.first == "<" { return Body(encoding: .text, data: redactXML(body.data, &seen)) }
        if contentType.contains("x-www-form-urlencoded") || body.data.contains("="), !body.data.contains(" "),
            var params = try? QueryParameters.parse(body.data)
        {
            return redactParameters(&params, &seen) ? Body(encoding: .text, data: params.encoded) : body
        }
        return body
    }

    /// Secret-named fields become the placeholder; under a secret-named object or array every value does.
    private func redactJSON(_ v: Any, under secret: Bool, _ changed: inout Bool, _ seen: inout Set<String>) -> Any {
        if let d = v as? [String: Any] {
            var out: [String: Any] = [:]
            for (k, x) in d {
                let normalized = k.lowercased().filter { $0 != "_" && $0 != "-" }
                let keyIsSecret = isSecret(k)
                let keep = secret && !keyIsSecret && Redactor.harmlessLeaves.contains(normalized) && !(x is [String: Any])
                out[k] = keep ? x : redactJSON(x, under: secret || keyIsSecret, &changed, &seen)
            }
            return out
        }
        if let a = v as? [Any] { return a.map { redactJSON($0, under: secret, &changed, &seen) } }
        guard secret, !(v is NSNull) else { return v }
        // A true or false carries no credential (`"signatures_required": true` stays a boolean on replay).
        if let n = v as? NSNumber, String(cString: n.objCType) == "c" { return v }
        if let s = v as? String {
            if s == Redactor.placeholder { return s }
            Redactor.collect(s, &seen)
        } else if let n = v as? NSNumber {
            Redactor.collect(n.stringValue, &seen)
        }
        changed = true
        return Redactor.placeholder
    }

    /// `<Name>value</Name>` for secret names (Alibaba's XML answers, SOAP-ish bodies).
    private func redactXML(_ text: String, _ seen: inout Set<String>) -> String {
        var out = ""
        var rest = Substring(text)
        while let open = rest.firstIndex(of: "<") {
            out += rest[..<open]
            rest = rest[open...]
            guard let close = rest.firstIndex(of: ">") else { break }
            let tag = rest[rest.index(after: rest.startIndex)..<close]
            out += rest[...close]
            rest = rest[rest.index(after: close)...]
            guard !tag.hasPrefix("/"), !tag.hasPrefix("?"), !tag.hasPrefix("!"), !tag.contains(" "), isSecret(String(tag)),
                let end = rest.range(of: "</\(tag)>")
            else { continue }
            let value = String(rest[..<end.lowerBound])
            if !value.contains("<") {
                Redactor.collect(value, &seen)
                out += Redactor.placeholder
                rest = rest[end.lowerBound...]
            }
        }
        return out + rest
    }

    /// Whether `text` contains a secret-name fragment (or an extra name) at all, judged on its lower-cased
    /// bytes without `_`, `-` and `.` as names are: clean bodies (most answers) are never parsed.
    func mightHoldSecretNames(_ text: String) -> Bool {
        SecretNames.mentionsSecretName(
            in: text,
            orAnyOf: extra.map { Array($0.utf8.filter { $0 != UInt8(ascii: "_") && $0 != UInt8(ascii: "-") && $0 != UInt8(ascii: ".") }) })
    }

    // MARK: by value

    /// Adds a credential value to `seen`.
    static func collect(_ value: String, _ seen: inout Set<String>) {
        guard value != placeholder, value.count >= 6 else { return }
        seen.insert(value)
    }

    /// An `Authorization`-style value: `Scheme k=v, k=v` or `Scheme token`; the values (not the scheme, not
    /// the signed-header list) are the credentials that may be echoed.
    static func collectCredentials(_ value: String, _ seen: inout Set<String>) {
        collect(value, &seen)
        let parts = value.split(whereSeparator: { $0 == " " || $0 == "," })
        for (i, part) in parts.enumerated() {
            if let eq = part.firstIndex(of: "=") {
                let name = part[..<eq].lowercased()
                if name != "signedheaders" && name != "realm" {
                    let value = part[part.index(after: eq)...]
                    collect(String(value), &seen)
                    // `Credential=AK/date/region/service` (Huawei's derived V11 signatures): the key id alone too.
                    if let slash = value.firstIndex(of: "/") { collect(String(value[..<slash]), &seen) }
                }
            } else if i > 0 {
                collect(String(part), &seen)
            }
            if let colon = part.firstIndex(of: ":"), i > 0 { collect(String(part[part.index(after: colon)...]), &seen) }
        }
    }

    /// Leaves kept under a secret-named object: metadata, not credentials (`Credentials.Expiration`, a user's name).
    static let harmlessLeaves: Set<String> = [
        "expiration", "expiresat", "expiresin", "expires", "issuedat", "name", "type", "methods",
        "region", "domain", "catalog", "roles", "project",
    ]

    /// Each value as it may be echoed: plain, percent-encoded (once and twice, as in a string-to-sign), JSON-escaped.
    static func needles(_ seen: Set<String>) -> [String] {
        var out = Set<String>()
        for v in seen {
            out.insert(v)
            let once = PercentEncoding.encode(v)
            out.insert(once)
            out.insert(PercentEncoding.encode(once))
            if let data = try? JSONSerialization.data(withJSONObject: v, options: [.fragmentsAllowed]) {
                out.insert(String(decoding: data.dropFirst().dropLast(), as: UTF8.self))
            }
        }
        return out.sorted { $0.count > $1.count }  // longest first, so a value's encodings are not cut by a shorter one
    }

    private func scrub(_ text: String, _ needles: [String]) -> String {
        let bytes = Array(text.utf8)
        var t = text
        for n in needles where SecretScanner.contains(bytes, Array(n.utf8)) {  // memchr-fast; replace only on a hit
            t = t.replacingOccurrences(of: n, with: Redactor.placeholder)
        }
        return t
    }
}
