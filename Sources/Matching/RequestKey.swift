import CloudSigning
import Crypto
import Foundation

/// The canonical match key of a request: `METHOD host/path?sorted-params [header=value…] [body=hash]`.
///
/// Query and form parameters are merged and sorted (parameter order and GET-vs-form-POST do not matter),
/// the profile's volatile fields are dropped, and JSON bodies are compared by their canonical form.
public enum RequestKey {
    public static func make(_ request: SignableRequest, host: String, profile: MatchProfile) -> String {
        var params = request.query
        params.append(contentsOf: request.form)
        var key = profile.includeMethod ? request.method.uppercased() + " " : ""
        key += host.lowercased()
        key += request.rawPath.isEmpty ? "/" : request.rawPath
        let canonical = params.canonicalString(excluding: profile.volatileParameters, redactingSecrets: true)
        if !canonical.isEmpty { key += "?" + canonical }
        for h in profile.keyHeaders {
            if let v = request.header(h) { key += " \(h)=\(PercentEncoding.encode(v))" }
        }
        if profile.includeBody, request.form.isEmpty, !request.body.isEmpty {
            key += " body=" + bodyHash(request.body, ignoring: profile.ignored)
        }
        return key
    }

    /// First 16 hex digits of SHA-256 over the body, JSON canonicalised (sorted keys, ignored fields
    /// removed) when it parses.
    public static func bodyHash(_ body: [UInt8], ignoring ignored: IgnoreRules = IgnoreRules()) -> String {
        var bytes = body
        if let first = body.first(where: { $0 != 0x20 && $0 != 0x0A && $0 != 0x0D && $0 != 0x09 }),
           first == UInt8(ascii: "{") || first == UInt8(ascii: "["),
           let json = try? JSONSerialization.jsonObject(with: Data(body)),
           let canonical = try? JSONSerialization.data(withJSONObject: ignored.touchesJSON ? ignored.strip(json) : json,
                                                       options: [.sortedKeys, .withoutEscapingSlashes]) {
            bytes = Array(canonical)
        }
        return SHA256.hash(data: bytes).prefix(8).map { String(format: "%02x", $0) }.joined()
    }

    /// A key split into comparable fields: `method`, `target` (host and path), each parameter, each key
    /// header and `body`.
    public static func fields(_ key: String) -> [String: String] {
        var out: [String: String] = [:]
        var parts = key.split(separator: " ").map(String.init)
        guard !parts.isEmpty else { return out }
        if let first = parts.first, first.allSatisfy({ $0.isUppercase }) {
            out["method"] = first
            parts.removeFirst()
        }
        guard let url = parts.first else { return out }
        parts.removeFirst()
        if let q = url.firstIndex(of: "?") {
            out["target"] = String(url[..<q])
            for pair in url[url.index(after: q)...].split(separator: "&") {
                let kv = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
                let name = PercentEncoding.decode(Array(kv[0].utf8)) ?? String(kv[0])
                let value = kv.count > 1 ? (PercentEncoding.decode(Array(kv[1].utf8)) ?? String(kv[1])) : ""
                out[name] = value
            }
        } else {
            out["target"] = url
        }
        for p in parts {
            let kv = p.split(separator: "=", maxSplits: 1)
            out[String(kv[0])] = kv.count > 1 ? String(kv[1]) : ""
        }
        return out
    }

    /// The fields in which `a` and `b` differ, as `name: a-value ≠ b-value` (missing shown as ∅).
    public static func differences(_ a: String, _ b: String) -> [String] {
        let fa = fields(a), fb = fields(b)
        return Set(fa.keys).union(fb.keys).sorted().compactMap { k in
            fa[k] == fb[k] ? nil : "\(k): \(fa[k] ?? "∅") ≠ \(fb[k] ?? "∅")"
        }
    }
}
