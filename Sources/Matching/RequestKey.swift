import Cassette
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
    /// The on-disk form.
    public let string: String
    /// UTF-8 offsets of its leading parts: the start and end of the method (end 0 when left out), the start and end of the
    /// target, and the end of the parameters (after the `?` that follows the target; the target's end without them).
    private let methodStart: Int, methodEnd: Int, targetStart: Int, targetEnd: Int, parametersEnd: Int
    /// The profile's key headers present, in profile order, value as sent.
    public let headers: [(name: String, value: String)]
    /// First 16 hex digits of the body's hash, when the body is part of the key.
    public let bodyHash: String?

    /// Upper-case, or nil when the profile leaves the method out (RPC: GET and form POST are one call).
    public var method: String? { methodEnd == 0 ? nil : part(methodStart, methodEnd) }
    /// Lower-case host and the path as sent: `ecs.aliyuncs.com/`.
    public var target: String { part(targetStart, targetEnd) }
    /// The canonical (sorted, RFC 3986-encoded, secrets `REDACTED`) parameter string, without `?`.
    public var parameters: String { parametersEnd == targetEnd ? "" : part(targetEnd + 1, parametersEnd) }

    private func part(_ from: Int, _ to: Int) -> String {
        let u = string.utf8
        return String(Substring(u[u.index(u.startIndex, offsetBy: from)..<u.index(u.startIndex, offsetBy: to)]))
    }

    public var description: String { string }
    public static func == (a: RequestKey, b: RequestKey) -> Bool { a.string == b.string }
    public func hash(into h: inout Hasher) { h.combine(string) }

    /// Built in one byte buffer and turned into `string` once: a replaying proxy keys every request.
    public init(_ request: SignableRequest, host: String, profile: MatchProfile) {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(host.utf8.count + request.rawPath.utf8.count + 256)
        if profile.includeMethod {
            for b in request.method.utf8 { bytes.append(b >= 0x61 && b <= 0x7A ? b - 0x20 : b) }
        }
        let methodEnd = bytes.count
        if profile.includeMethod { bytes.append(UInt8(ascii: " ")) }
        let targetStart = bytes.count
        for b in host.utf8 { bytes.append(b >= 0x41 && b <= 0x5A ? b + 0x20 : b) }
        if request.rawPath.isEmpty { bytes.append(UInt8(ascii: "/")) } else { bytes.append(contentsOf: request.rawPath.utf8) }
        let targetEnd = bytes.count
        bytes.append(UInt8(ascii: "?"))
        QueryParameters.appendCanonical(
            request.query.pairs, request.form.pairs, to: &bytes, excluding: profile.volatileParameters, redactingSecrets: true)
        if bytes.count == targetEnd + 1 { bytes.removeLast() }
        let parametersEnd = bytes.count
        headers = profile.keyHeaders.compactMap { h in request.header(h).map { (h, $0) } }
        for (name, value) in headers {
            bytes.append(UInt8(ascii: " "))
            bytes.append(contentsOf: name.utf8)
            bytes.append(UInt8(ascii: "="))
            bytes.append(contentsOf: PercentEncoding.encode(value).utf8)
        }
        bodyHash =
            profile.includeBody && request.form.isEmpty && !request.body.isEmpty
            ? RequestKey.bodyHash(Redactor().redactedByName(request.body, contentType: request.header("content-type")), ignoring: profile.ignored)
            : nil
        if let bodyHash {
            bytes.append(contentsOf: " body=".utf8)
            bytes.append(contentsOf: bodyHash.utf8)
        }
        string = String(decoding: bytes, as: UTF8.self)
        (self.methodStart, self.methodEnd, self.targetStart, self.targetEnd, self.parametersEnd) = (
            0, methodEnd, targetStart, targetEnd, parametersEnd
        )
    }

    /// A key as stored in a cassette.
    public init(parsing key: String) {
        let parts = key.split(separator: " ")
        var rest = parts[...]
        func offset(_ i: String.Index) -> Int { key.utf8.distance(from: key.startIndex, to: i) }
        var methodStart = 0, methodEnd = 0, urlStart = 0
        if let first = parts.first, first.allSatisfy({ $0.isUppercase }), parts.count > 1 {
            methodStart = offset(first.startIndex)
            methodEnd = offset(first.endIndex)
            rest = rest.dropFirst()
        }
        var targetEnd = urlStart, parametersEnd = urlStart
        if let url = rest.first {
            urlStart = offset(url.startIndex)
            if let q = url.firstIndex(of: "?") {
                targetEnd = offset(q)
                parametersEnd = offset(url.endIndex)
            } else {
                targetEnd = offset(url.endIndex)
                parametersEnd = targetEnd
            }
            rest = rest.dropFirst()
        }
        var headers: [(String, String)] = []
        var body: String? = nil
        for p in rest {
            let kv = p.split(separator: "=", maxSplits: 1)
            let name = String(kv[0]), value = kv.count > 1 ? String(kv[1]) : ""
            if name == "body" { body = value } else { headers.append((name, PercentEncoding.decode(Array(value.utf8)) ?? value)) }
        }
        self.headers = headers
        bodyHash = body
        string = key
        (self.methodStart, self.methodEnd, self.targetStart, self.targetEnd, self.parametersEnd) = (
            methodStart, methodEnd, urlStart, targetEnd, parametersEnd
        )
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
