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

    func isSecret<S: StringProtocol>(_ name: S) -> Bool {
        SecretNames.isSecret(name) || (!extra.isEmpty && extra.contains(name.lowercased()))
    }

    public func redact(_ e: Exchange) -> Exchange {
        var scrubbed = false
        return redact(e, answerScrubbed: &scrubbed)
    }

    /// `answerScrubbed` is set when a credential value seen elsewhere in the exchange was replaced in the answer's
    /// body: an echo, or (a stand-in key that is also ordinary data, such as `default`) a change that makes the
    /// replayed answer differ from the live one, which the caller should say.
    public func redact(_ e: Exchange, answerScrubbed: inout Bool) -> Exchange {
        var seen = Seen()  // credential values found in the request, scrubbed everywhere afterwards
        var r = e
        r.request.url = redactURL(e.request.url, &seen)
        r.request.headers = e.request.headers.map { redactHeader($0, &seen) }
        r.request.body = redactBody(e.request.body, headers: e.request.headerPairs, &seen)
        r.response.headers = e.response.headers.map { redactHeader($0, &seen) }
        r.response.body = redactBody(e.response.body, headers: e.response.headerPairs, &seen)
        // Key ids and short values are scrubbed in the answer only: the request (its path, a group named like a
        // stand-in key) stays as sent, and so does the match key made from it.
        let requestNeedles = Redactor.needles(seen.everywhere)
        let needles = Redactor.needles(seen.everywhere.union(seen.answerOnly))
        guard !needles.isEmpty else { return r }
        r.request.url = scrub(r.request.url, requestNeedles)
        r.request.headers = r.request.headers.map { $0.count == 2 ? [$0[0], scrub($0[1], requestNeedles)] : $0 }
        r.response.headers = r.response.headers.map { $0.count == 2 ? [$0[0], scrub($0[1], needles)] : $0 }
        for keyPath in [\Exchange.request.body, \Exchange.response.body] {
            let needles = keyPath == \Exchange.request.body ? requestNeedles : needles
            let body = r[keyPath: keyPath]
            switch body.encoding {
            case .text:
                let cleaned = scrub(body.data, needles)
                if keyPath == \Exchange.response.body && cleaned != body.data { answerScrubbed = true }
                r[keyPath: keyPath] = Body(encoding: .text, data: cleaned)
            case .base64:
                // Bytes that are not UTF-8 (a Latin-1 é in a JSON answer) still hold ASCII credentials.
                if let cleaned = scrub(bytes: body.bytes, needles) {
                    if keyPath == \Exchange.response.body { answerScrubbed = true }
                    r[keyPath: keyPath] = Body(encoding: .base64, data: Base64.encode(cleaned))
                }
            }
        }
        return r
    }

    // MARK: by name

    private func redactHeader(_ h: [String], _ seen: inout Seen) -> [String] {
        guard h.count == 2 else { return h }
        guard isSecret(h[0]) else {
            // Another header may carry a URL with secret-named parameters (a `Location`, a `Referer`, a `Link`),
            // names percent-encoded (`pass%77ord=`) too.
            var value = h[1]
            if value.utf8.contains(UInt8(ascii: "?")), value.utf8.contains(UInt8(ascii: "=")) {
                let start = value.utf8.firstIndex(of: UInt8(ascii: "?")).map { value.utf8.index(after: $0) } ?? value.startIndex
                let end = value.utf8[start...].firstIndex { $0 == UInt8(ascii: "#") || $0 == UInt8(ascii: ">") || $0 == UInt8(ascii: " ") || $0 == UInt8(ascii: ";") } ?? value.endIndex
                if let cleaned = redactPairs(value[start..<end], &seen) { value = String(value[..<start]) + cleaned + value[end...] }
            }
            if mightHoldSecretNames(value), let cleaned = scrubNamedValues(Array(value.utf8), structured: true, &seen) {
                value = String(decoding: cleaned, as: UTF8.self)
            }
            return value == h[1] ? h : [h[0], value]
        }
        switch h[0].lowercased() {
        case "www-authenticate", "proxy-authenticate":
            // A challenge keeps its scheme and the parameters clients act on (realm, scope, `error="invalid_token"`);
            // anything else in it (a Negotiate token, a nonce, an unknown parameter) goes.
            var words = h[1].split(separator: " ", maxSplits: 1, omittingEmptySubsequences: true)
            guard words.count == 2 else { return h }
            let items = words[1].split(separator: ",", omittingEmptySubsequences: false).map { item -> String in
                let trimmed = item.trimmingCharacters(in: .whitespaces)
                guard let eq = trimmed.firstIndex(of: "=") else {
                    Redactor.collect(trimmed, &seen)
                    return trimmed.isEmpty ? trimmed : Redactor.placeholder
                }
                let name = trimmed[..<eq].lowercased()
                if Redactor.challengeParameters.contains(name) { return trimmed }
                Redactor.collect(String(trimmed[trimmed.index(after: eq)...]).trimmingCharacters(in: ["\""]), &seen)
                return String(trimmed[...eq]) + Redactor.placeholder
            }
            words[1] = Substring(items.joined(separator: ", "))
            return [h[0], words.joined(separator: " ")]
        case "set-cookie":
            // The cookie's value goes; its name and attributes (Path, Max-Age, HttpOnly) stay, so a replayed
            // answer sets the same cookie, holding the placeholder.
            Redactor.collectCredentials(h[1], header: h[0], &seen)
            let parts = h[1].split(separator: ";", maxSplits: 1, omittingEmptySubsequences: false)
            guard let first = parts.first, let eq = first.firstIndex(of: "=") else { return [h[0], Redactor.placeholder] }
            return [h[0], String(first[...eq]) + Redactor.placeholder + (parts.count > 1 ? ";" + parts[1] : "")]
        default:
            break
        }
        Redactor.collectCredentials(h[1], header: h[0], &seen)
        let scheme = h[1].split(separator: " ", maxSplits: 1).first.map(String.init) ?? ""
        let keepScheme =
            h[0].lowercased() == "authorization"
            && (scheme.hasSuffix("HMAC-SHA256") || scheme.hasSuffix("HMAC-SM3")
                || scheme == "Bearer" || scheme == "Basic" || scheme == "Digest")
        return [h[0], keepScheme ? "\(scheme) \(Redactor.placeholder)" : Redactor.placeholder]
    }

    /// A body as a cassette stores it, redacted by name only (no values echoed from elsewhere): what a match
    /// key hashes, so a key made from a live request equals the one made again from its stored record, and no
    /// hash of a password is kept beside it.
    public func redactedByName(_ bytes: [UInt8], contentType: String?) -> [UInt8] {
        var seen = Seen()
        let redacted = redactBody(Body(bytes: bytes), headers: contentType.map { [("Content-Type", $0)] } ?? [], &seen)
        return redacted.encoding == .text && redacted.data.utf8.elementsEqual(bytes) ? bytes : redacted.bytes
    }

    /// The query's secret-named parameters, pair by pair; every other byte as sent (one that does not decode too).
    func redactURL(_ url: String, _ seen: inout Seen) -> String {
        guard let q = url.utf8.firstIndex(of: UInt8(ascii: "?")) else { return url }
        let start = url.utf8.index(after: q)
        let end = url.utf8[start...].firstIndex(of: UInt8(ascii: "#")) ?? url.endIndex
        guard let cleaned = redactPairs(url[start..<end], &seen) else { return url }
        return String(url[..<start]) + cleaned + url[end...]
    }

    /// JSON, XML and forms by their structure; then, in any text, whatever a parser could not take (see
    /// `scrubNamedValues`): a body that does not parse is redacted all the same, never stored as it came.
    func redactBody(_ body: Body, headers: [(String, String)], _ seen: inout Seen) -> Body {
        guard !body.data.isEmpty else { return body }
        if body.encoding == .base64 {
            let bytes = body.bytes
            guard mightHoldSecretNames(String(decoding: bytes, as: UTF8.self)),
                let cleaned = scrubNamedValues(bytes, structured: false, &seen)
            else { return body }
            return Body(encoding: .base64, data: Base64.encode(cleaned))
        }
        let trimmed = body.data.drop { $0 == " " || $0 == "\n" || $0 == "\r" || $0 == "\t" || $0 == "\u{FEFF}" }
        let looksJSON = trimmed.first == "{" || trimmed.first == "["
        let contentType = headers.first { $0.0.lowercased() == "content-type" }?.1.lowercased() ?? ""
        // A form's names are taken only from a form: declared, or one `name=value&…` run with no space, line or markup.
        let declaredForm = contentType.contains("x-www-form-urlencoded")
        let maybeForm = declaredForm || (!looksJSON && trimmed.first != "<")
        // A name may hide behind JSON's escapes (`"pass\u0077ord"`) or a form's (`pass%77ord=`): such bodies are
        // parsed whatever they seem to mention. (Each check a memchr-speed pass; most answers stop at the first.)
        guard mightHoldSecretNames(body.data) || (looksJSON && Redactor.hasUnicodeEscape(body.data))
            || (maybeForm && Redactor.hasByte(UInt8(ascii: "%"), body.data) && (declaredForm || Redactor.looksLikeForm(body.data)))
        else { return body }
        let isForm = declaredForm || (maybeForm && Redactor.looksLikeForm(body.data))
        var text = body.data
        var structured = false
        if looksJSON {
            if let json = try? JSONSerialization.jsonObject(with: Data(trimmed.utf8), options: [.fragmentsAllowed]) {
                structured = true
                var changed = false
                let cleaned = redactJSON(json, under: false, named: false, &changed, &seen)
                if changed, let data = try? JSONSerialization.data(withJSONObject: cleaned, options: [.sortedKeys, .withoutEscapingSlashes]) {
                    text = String(decoding: data, as: UTF8.self)
                    // A key given twice keeps only its last value in the parse: the others are collected from the text.
                    _ = scrubNamedValues(Array(body.data.utf8), structured: true, &seen)
                }
            }
        } else if trimmed.first == "<" {
            text = redactXML(text, &seen)
        } else if isForm {
            if let cleaned = redactPairs(Substring(text), &seen) { text = cleaned }
        }
        if let cleaned = scrubNamedValues(Array(text.utf8), structured: structured, &seen) {
            text = String(decoding: cleaned, as: UTF8.self)
        }
        return text == body.data ? body : Body(encoding: .text, data: text)
    }

    /// Secret-named fields become the placeholder; under a secret-named object or array every value does.
    /// `named`: `v` is (an element of) a secret-named field's own value, not a leaf further below one.
    private func redactJSON(_ v: Any, under secret: Bool, named: Bool, keyID: Bool = false, _ changed: inout Bool, _ seen: inout Seen) -> Any {
        if let d = v as? [String: Any] {
            var out: [String: Any] = [:]
            for (k, x) in d {
                let normalized = k.lowercased().filter { $0 != "_" && $0 != "-" }
                let keyIsSecret = isSecret(k)
                let keep = secret && !keyIsSecret && Redactor.harmlessLeaves.contains(normalized) && !(x is [String: Any])
                out[k] = keep ? x : redactJSON(x, under: secret || keyIsSecret, named: keyIsSecret && !Redactor.isKeyIDName(k), keyID: keyIsSecret && Redactor.isKeyIDName(k), &changed, &seen)
            }
            return out
        }
        if let a = v as? [Any] { return a.map { redactJSON($0, under: secret, named: named, keyID: keyID, &changed, &seen) } }
        guard secret, !(v is NSNull) else { return v }
        // A true or false carries no credential (`"signatures_required": true` stays a boolean on replay).
        if let n = v as? NSNumber, String(cString: n.objCType) == "c" { return v }
        if let s = v as? String {
            // An empty value holds nothing (an empty `PaginationToken` ends a listing: it stays empty).
            if s == Redactor.placeholder || s.isEmpty { return s }
            Redactor.collect(s, short: named, keyID: keyID, &seen)
        } else if let n = v as? NSNumber {
            Redactor.collect(n.stringValue, short: false, &seen)
        }
        changed = true
        return Redactor.placeholder
    }

    /// `<Name>value</Name>` for secret names (Alibaba's XML answers, SOAP-ish bodies).
    private func redactXML(_ text: String, _ seen: inout Seen) -> String {
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
                Redactor.collect(value, keyID: Redactor.isKeyIDName(tag), &seen)
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

    /// Adds a credential value to `seen`. A value that is the whole of a secret-named field (`short`) is
    /// chased from 3 bytes on, where it stands as a whole token (see `scrub`); parts of a header's value and
    /// numbers from 6 (a cookie's `Max-Age=3600` or a token document's `"ttl": 300` must not turn every `300`
    /// into the placeholder). One or two characters are too common to chase outside their named field. A key
    /// id's value (`keyID`) is chased from 6 bytes, in the answer only (see `Seen`).
    static func collect(_ value: String, short: Bool = true, keyID: Bool = false, _ seen: inout Seen) {
        guard value != placeholder, value.utf8.count >= (short && !keyID ? minimumEchoLength : minimumAnywhereLength) else { return }
        if keyID || value.utf8.count < minimumAnywhereLength { seen.answerOnly.insert(value) } else { seen.everywhere.insert(value) }
    }

    /// Credential values found in an exchange, to scrub wherever else they appear.
    struct Seen {
        var everywhere = Set<String>()
        /// Key ids and values of 3 to 5 bytes: scrubbed in the answer only (see `redact`).
        var answerOnly = Set<String>()
    }

    /// Below this many bytes a value is not chased outside its named field.
    static let minimumEchoLength = 3
    /// Below this many bytes a value is scrubbed only as a whole token: neither neighbour a letter or digit.
    static let minimumAnywhereLength = 6

    /// The credentials in a secret-named header's value, which may be echoed elsewhere: a cookie's values
    /// (not its attributes), or for an `Authorization`-style value (`Scheme k=v, k=v` or `Scheme token`) the
    /// values, not the scheme, the signed-header list or the challenge's parameters.
    static func collectCredentials(_ value: String, header: String, _ seen: inout Seen) {
        collect(value, &seen)
        let header = header.lowercased()
        switch header {
        case "cookie", "set-cookie":
            // `Cookie: a=1; b=2` carries values only; `Set-Cookie: sid=…; Path=/; Max-Age=3600` one value, then attributes.
            let pairs = value.split(separator: ";")
            for pair in header == "cookie" ? pairs[...] : pairs.prefix(1) {
                guard let eq = pair.firstIndex(of: "=") else { continue }
                // Only long values: a session id is; `theme=dark` and `lang=en` are not worth every "dark" of the answer.
                collect(String(pair[pair.index(after: eq)...]).trimmingCharacters(in: .whitespaces).trimmingCharacters(in: ["\""]), short: false, &seen)
            }
            return
        default: break
        }
        let parts = value.split(whereSeparator: { $0 == " " || $0 == "," })
        for (i, part) in parts.enumerated() {
            if let eq = part.firstIndex(of: "=") {
                let name = part[..<eq].lowercased()
                if !challengeParameters.contains(name) {
                    let value = part[part.index(after: eq)...]
                    collect(String(value), keyID: isKeyIDName(name), &seen)
                    // `Credential=AK/date/region/service` (Huawei's derived V11 signatures): the key id alone too.
                    if let slash = value.firstIndex(of: "/") { collect(String(value[..<slash]), keyID: true, &seen) }
                }
            } else if i > 0 {
                collect(String(part), &seen)
            }
            // A token68 (`Basic YWRtaW46c2VjcmV0MDE=`) ends in `=` padding: the whole token is the credential.
            if i > 0, let eq = part.firstIndex(of: "="), part[eq...].allSatisfy({ $0 == "=" }) { collect(String(part), &seen) }
            // Basic's `user:password`, decoded: the password may be echoed as it is.
            if i == 1, parts[0].lowercased() == "basic", let data = Data(base64Encoded: String(part)), let pair = String(data: data, encoding: .utf8) {
                collect(pair, &seen)
                if let colon = pair.firstIndex(of: ":") { collect(String(pair[pair.index(after: colon)...]), &seen) }
            }
            if let colon = part.firstIndex(of: ":"), i > 0 { collect(String(part[part.index(after: colon)...]), short: false, &seen) }
        }
    }

    /// A key id (`AccessKeyId`, ACS3's `Credential`, Huawei's `Access`) identifies a key; it is not the secret.
    /// Its value is chased from 6 characters only: a 4-character stand-in key (`test`) must not turn every
    /// "test" of the answers into the placeholder.
    static func isKeyIDName(_ name: some StringProtocol) -> Bool {
        let n = name.lowercased().filter { $0 != "_" && $0 != "-" && $0 != "." }
        return n.contains("keyid") || n == "access" || n == "credential" || n == "ak"
    }

    /// Parameters of an `Authorization` or `WWW-Authenticate` value that are not credentials.
    static let challengeParameters: Set<String> = [
        "signedheaders", "realm", "qop", "algorithm", "charset", "scope", "error", "error_description", "stale", "uri", "nc",
    ]

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
            // As forms encode it (`+` for a space) and with lower-case hex (`%2f`), as some encoders write it.
            out.insert(once.replacingOccurrences(of: "%20", with: "+"))
            out.insert(lowercasedHex(once))
            if let data = try? JSONSerialization.data(withJSONObject: v, options: [.fragmentsAllowed]) {
                out.insert(String(decoding: data.dropFirst().dropLast(), as: UTF8.self))
            }
            // JSON with every non-ASCII character escaped (Python's `json.dumps` default).
            if v.unicodeScalars.contains(where: { !$0.isASCII }) {
                out.insert(v.utf16.map { $0 < 0x80 ? String(UnicodeScalar(UInt8($0))) : String(format: "\\u%04x", $0) }.joined())
            }
            // Base64, padded and not, for values long enough not to match by chance.
            if v.utf8.count >= 8 {
                let b64 = Data(v.utf8).base64EncodedString()
                out.insert(b64)
                out.insert(String(b64.prefix { $0 != "=" }))
            }
        }
        out.remove("")
        return out.sorted { $0.count > $1.count }  // longest first, so a value's encodings are not cut by a shorter one
    }

    /// `%2F` as `%2f`.
    static func lowercasedHex(_ s: String) -> String {
        var out = ""
        var rest = Substring(s)
        while let p = rest.firstIndex(of: "%") {
            out += rest[...p]
            rest = rest[rest.index(after: p)...]
            let hex = rest.prefix(2)
            out += hex.lowercased()
            rest = rest.dropFirst(hex.count)
        }
        return out + rest
    }

    func scrub(_ text: String, _ needles: [String]) -> String {
        scrub(bytes: Array(text.utf8), needles).map { String(decoding: $0, as: UTF8.self) } ?? text
    }

    /// `name=value&…` and nothing else: no space, line break or markup that a form's encoding would have escaped.
    static func looksLikeForm(_ text: String) -> Bool {
        var text = text
        return text.withUTF8 { p in
            var sawEquals = false
            for b in p {
                switch b {
                case 0x20, 0x0A, 0x0D, 0x09, UInt8(ascii: "<"), UInt8(ascii: "{"), UInt8(ascii: "\""): return false
                case UInt8(ascii: "="): sawEquals = true
                default: break
                }
            }
            return sawEquals
        }
    }

    /// Whether `text` holds `byte` (`memchr`).
    static func hasByte(_ byte: UInt8, _ text: String) -> Bool {
        var text = text
        return text.withUTF8 { p in p.baseAddress.map { memchr($0, Int32(byte), p.count) != nil } ?? false }
    }

    /// Whether `text` holds a `\u` escape (`memchr` to each backslash: most bodies have none, and are not walked byte by byte).
    static func hasUnicodeEscape(_ text: String) -> Bool {
        var text = text
        return text.withUTF8 { p in
            guard let base = p.baseAddress else { return false }
            var i = 0
            while i < p.count, let hit = memchr(base + i, Int32(UInt8(ascii: "\\")), p.count - i) {
                let at = UnsafeRawPointer(hit) - UnsafeRawPointer(base)
                if at + 1 < p.count, base[at + 1] == UInt8(ascii: "u") { return true }
                i = at + 2
            }
            return false
        }
    }

    /// `bytes` with every needle replaced, or nil when none occurs.
    func scrub(bytes: [UInt8], _ needles: [String]) -> [UInt8]? {
        var bytes = bytes
        var changed = false
        for n in needles {
            let needle = Array(n.utf8)
            guard SecretScanner.contains(bytes, needle) else { continue }  // memchr-fast; replace only on a hit
            if let replaced = Redactor.replace(needle, in: bytes, wholeTokenOnly: needle.count < Redactor.minimumAnywhereLength) {
                bytes = replaced
                changed = true
            }
        }
        return changed ? bytes : nil
    }

    /// `bytes` with each occurrence of `needle` replaced by the placeholder (only those not touching a letter or
    /// digit on either side when `wholeTokenOnly`), or nil when there is none.
    static func replace(_ needle: [UInt8], in bytes: [UInt8], wholeTokenOnly: Bool) -> [UInt8]? {
        guard let first = needle.first, needle.count <= bytes.count else { return nil }
        func isWordByte(_ b: UInt8) -> Bool {
            (b >= 0x30 && b <= 0x39) || ((b | 0x20) >= 0x61 && (b | 0x20) <= 0x7A) || b >= 0x80
        }
        var out: [UInt8] = []
        var copied = 0
        var i = 0
        let last = bytes.count - needle.count
        while i <= last {
            if bytes[i] == first, bytes[i..<(i + needle.count)].elementsEqual(needle),
                !wholeTokenOnly || ((i == 0 || !isWordByte(bytes[i - 1])) && (i + needle.count == bytes.count || !isWordByte(bytes[i + needle.count])))
            {
                if out.isEmpty { out.reserveCapacity(bytes.count) }
                out += bytes[copied..<i]
                out += placeholder.utf8
                i += needle.count
                copied = i
            } else {
                i += 1
            }
        }
        guard copied > 0 else { return nil }
        out += bytes[copied...]
        return out
    }
}
