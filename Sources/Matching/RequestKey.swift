import CloudSigning
import Crypto
import Foundation

/// The canonical match key of a request: its method (when the profile compares it), host and path, the
/// query and form parameters merged and sorted (order and GET-vs-form-POST do not matter) without the
/// profile's volatile ones, the profile's key headers, and a hash of a non-form body (JSON by its
/// canonical form, ignored fields removed).
///
/// Its `string` is the on-disk key: `METHOD host/path?sorted-params [header=value…] [body=hash]`. Keys read
/// from a cassette are parsed back with `init(parsing:)`; everything else uses the parts.
public struct RequestKey: Sendable, Hashable, CustomStringConvertible {
    /// Upper-case, or nil when the profile leaves the method out (RPC: GET and form POST are one call).
    public let method: String?
    /// Lower-case host and the path as sent: `ecs.aliyuncs.com/`.
    public let target: String
    /// The canonical (sorted, RFC 3986-encoded, secrets `REDACTED`) parameter string, without `?`.
    public let parameters: String
    /// The profile's key headers present, in profile order, value as sent.
    public let headers: [(name: String, value: String)]
    /// First 16 hex digits of the body's hash, when the body is part of the key.
    public let bodyHash: String?
    /// The on-disk form.
    public let string: String

    public var description: String { string }
    public static func == (a: RequestKey, b: RequestKey) -> Bool { a.string == b.string }
    public func hash(into h: inout Hasher) { h.combine(string) }

    public init(_ request: SignableRequest, host: String, profile: MatchProfile) {
        var params = request.query
        params.append(contentsOf: request.form)
        method = profile.includeMethod ? request.method.uppercased() : nil
        target = ASCIICase.lowercased(host) + (request.rawPath.isEmpty ? "/" : request.rawPath)
        parameters = params.canonicalString(excluding: profile.volatileParameters, redactingSecrets: true)
        headers = profile.keyHeaders.compactMap { h in request.header(h).map { (h, $0) } }
        bodyHash =
            profile.includeBody && request.form.isEmpty && !request.body.isEmpty
            ? RequestKey.bodyHash(request.body, ignoring: profile.ignored) : nil
        var s = ""
        s.reserveCapacity((method?.utf8.count ?? 0) + target.utf8.count + parameters.utf8.count + 8)
        if let method {
            s += method
            s += " "
        }
        s += target
        if !parameters.isEmpty {
            s += "?"
            s += parameters
        }
        for (name, value) in headers { s += " \(name)=\(PercentEncoding.encode(value))" }
        if let bodyHash { s += " body=" + bodyHash }
        string = s
    }

    /// A key as stored in a cassette.
    public init(parsing key: String) {
        var parts = key.split(separator: " ").map(String.init)
        var method: String? = nil
        if let first = parts.first, first.allSatisfy({ $0.isUppercase }), parts.count > 1 {
            method = first
            parts.removeFirst()
        }
        self.method = method
        let url = parts.first ?? ""
        if !parts.isEmpty { parts.removeFirst() }
        if let q = url.firstIndex(of: "?") {
            target = String(url[..<q])
            parameters = String(url[url.index(after: q)...])
        } else {
            target = url
            parameters = ""
        }
        var headers: [(String, String)] = []
        var body: String? = nil
        for p in parts {
            let kv = p.split(separator: "=", maxSplits: 1)
            let name = String(kv[0]), value = kv.count > 1 ? String(kv[1]) : ""
            if name == "body" { body = value } else { headers.append((name, PercentEncoding.decode(Array(value.utf8)) ?? value)) }
        }
        self.headers = headers
        bodyHash = body
        string = key
    }

    /// The host part of `target`.
    public var host: String { String(target.prefix { $0 != "/" }) }

    /// Every comparable field: `method`, `target`, each parameter (decoded), each key header and `body`.
    public var fields: [String: String] {
        var out: [String: String] = [:]
        if let method { out["method"] = method }
        out["target"] = target
        for pair in parameters.split(separator: "&") {
            let kv = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            let name = PercentEncoding.decode(Array(kv[0].utf8)) ?? String(kv[0])
            out[name] = kv.count > 1 ? (PercentEncoding.decode(Array(kv[1].utf8)) ?? String(kv[1])) : ""
        }
        for (name, value) in headers { out[name] = value }
        if let bodyHash { out["body"] = bodyHash }
        return out
    }

    /// The fields in which this key and `other` differ, as `name: this ≠ other` (missing shown as ∅).
    public func differences(from other: RequestKey) -> [String] {
        let fa = fields, fb = other.fields
        return Set(fa.keys).union(fb.keys).sorted().compactMap { k in
            fa[k] == fb[k] ? nil : "\(k): \(fa[k] ?? "∅") ≠ \(fb[k] ?? "∅")"
        }
    }

    /// First 16 hex digits of SHA-256 over the body, JSON canonicalised (sorted keys, ignored fields
    /// removed) when it parses.
    public static func bodyHash(_ body: [UInt8], ignoring ignored: IgnoreRules = IgnoreRules()) -> String {
        var bytes = body
        if let first = body.first(where: { $0 != 0x20 && $0 != 0x0A && $0 != 0x0D && $0 != 0x09 }),
            first == UInt8(ascii: "{") || first == UInt8(ascii: "["),
            let json = try? JSONSerialization.jsonObject(with: Data(body)),
            let canonical = try? JSONSerialization.data(
                withJSONObject: ignored.touchesJSON ? ignored.strip(json) : json,
                options: [.sortedKeys, .withoutEscapingSlashes])
        {
            bytes = Array(canonical)
        }
        return SHA256.hash(data: bytes).prefix(8).map { String(format: "%02x", $0) }.joined()
    }
}
