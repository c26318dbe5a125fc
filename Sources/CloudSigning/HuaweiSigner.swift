import Crypto

/// Huawei Cloud's AK/SK signatures as huaweicloudsdkcore makes them: `SDK-HMAC-SHA256` (the default),
/// `SDK-HMAC-SM3` (`HttpConfig.signing_algorithm = HMAC_SM3`: SM3 for both hashes and the HMAC), and the
/// derived `V11-HMAC-SHA256` (`with_derived_predicate`), whose HMAC key is derived from the secret for one
/// date, region and service.
///
/// Canonical request: `METHOD\nURI/\nsortedEncodedQuery\nname:value\n…\n\nsignedHeaders\nhexHASH(body)`
/// (the URI always ends in `/`); string to sign: `ALGORITHM\nX-Sdk-Date\nhexHASH(canonicalRequest)`, with
/// the scope `date/region/service` as a third line for V11; signature: hex HMAC with the secret (V11: with
/// the derived key).
/// `Authorization: SDK-HMAC-SHA256 Access=AK, SignedHeaders=a;b, Signature=hex`; V11 sends
/// `Credential=AK/date/region/service` for `Access=AK`.
public enum HuaweiSigner {
    public enum Algorithm: String, Sendable, CaseIterable {
        case hmacSHA256 = "SDK-HMAC-SHA256"
        case hmacSM3 = "SDK-HMAC-SM3"
        case derivedHMACSHA256 = "V11-HMAC-SHA256"

        func hex(_ bytes: [UInt8]) -> String {
            self == .hmacSM3 ? Hex.encode(SM3.hash(bytes)) : SHA256.hex(bytes)
        }

        func mac(key: [UInt8], message: [UInt8]) -> [UInt8] {
            switch self {
            case .hmacSHA256, .derivedHMACSHA256: return Array(HMAC<SHA256>.authenticationCode(for: message, using: SymmetricKey(data: key)))
            case .hmacSM3: return SM3.hmac(key: key, message: message)
            }
        }

        /// The header a client puts `UNSIGNED-PAYLOAD` in (a body that is not JSON).
        var payloadHeader: String { self == .hmacSM3 ? "x-sdk-content-sm3" : "x-sdk-content-sha256" }
        var keyField: Substring { self == .derivedHMACSHA256 ? "Credential" : "Access" }
    }

    public static let algorithm = Algorithm.hmacSHA256.rawValue

    /// The algorithm an `Authorization` value names when it is one of Huawei's (`SDK-…` or `V11-…` before the
    /// first space), supported here or not.
    public static func algorithmName(_ value: String) -> String? {
        guard value.hasPrefix("SDK-") || value.hasPrefix("V11-") else { return nil }
        return String(value.prefix { $0 != " " })
    }

    /// A parsed `Authorization` value; for V11 the access key id is the credential's part before its first
    /// `/`, and `scope` the rest (`date/region/service`).
    public struct Authorization: Sendable, Equatable {
        public var algorithm: Algorithm
        public var fields: SignatureAuthorization
        public var scope: String?
        public var accessKeyId: String { fields.accessKeyId }
    }

    /// Parses an `Authorization` value of a supported algorithm (by default SDK-HMAC-SHA256 only, for callers
    /// that sign that way themselves).
    public static func parseAuthorization(_ value: String) -> SignatureAuthorization? {
        SignatureAuthorization.parse(value, algorithm: algorithm, keyField: "Access")
    }

    public static func parse(_ value: String) -> Authorization? {
        guard let name = algorithmName(value), let algorithm = Algorithm(rawValue: name),
            var fields = SignatureAuthorization.parse(value, algorithm: name, keyField: algorithm.keyField)
        else { return nil }
        var scope: String?
        if algorithm == .derivedHMACSHA256 {
            guard let slash = fields.accessKeyId.firstIndex(of: "/") else { return nil }
            scope = String(fields.accessKeyId[fields.accessKeyId.index(after: slash)...])
            fields.accessKeyId = String(fields.accessKeyId[..<slash])
            guard !fields.accessKeyId.isEmpty, scope?.split(separator: "/").count == 3 else { return nil }
        }
        return Authorization(algorithm: algorithm, fields: fields, scope: scope)
    }

    /// Each path segment decoded then re-encoded (keeping `~`), with a trailing `/`.
    static func canonicalURI(_ rawPath: String) -> String {
        let segments = rawPath.split(separator: "/", omittingEmptySubsequences: false).map { seg -> String in
            PercentEncoding.encode(PercentEncoding.decode(Array(seg.utf8), plusAsSpace: false) ?? String(seg))
        }
        var uri = segments.joined(separator: "/")
        if !uri.hasSuffix("/") { uri += "/" }
        return uri
    }

    /// The payload hash a signer uses: `UNSIGNED-PAYLOAD` when the request says so, else the body's hash.
    /// `alternative`: the Python SDK hashes an empty body even under `UNSIGNED-PAYLOAD` (a verifier takes either).
    static func payloadHash(_ r: SignableRequest, _ algorithm: Algorithm, alternative: Bool = false) -> String {
        let unsigned = r.header(algorithm.payloadHeader) == "UNSIGNED-PAYLOAD"
        return unsigned && !(alternative && r.body.isEmpty) ? "UNSIGNED-PAYLOAD" : algorithm.hex(r.body)
    }

    public static func canonicalRequest(
        _ r: SignableRequest, signedHeaders: [String], algorithm: Algorithm = .hmacSHA256, alternativePayload: Bool = false
    ) -> String {
        var headers = ""
        for n in signedHeaders { headers += "\(n):\((r.header(n) ?? "").trimmingSpaces)\n" }
        return [
            r.method.uppercased(), canonicalURI(r.rawPath), r.query.canonicalString(sortValues: false),
            headers, signedHeaders.joined(separator: ";"), payloadHash(r, algorithm, alternative: alternativePayload),
        ].joined(separator: "\n")
    }

    public static func stringToSign(
        _ r: SignableRequest, signedHeaders: [String], algorithm: Algorithm = .hmacSHA256, scope: String? = nil,
        alternativePayload: Bool = false
    ) -> String {
        let date = r.header("X-Sdk-Date") ?? ""
        let hash = algorithm.hex(
            Array(canonicalRequest(r, signedHeaders: signedHeaders, algorithm: algorithm, alternativePayload: alternativePayload).utf8))
        if algorithm == .derivedHMACSHA256 { return "\(algorithm.rawValue)\n\(date)\n\(scope ?? "")\n\(hash)" }
        return "\(algorithm.rawValue)\n\(date)\n\(hash)"
    }

    /// The V11 signing key: HKDF-SHA256 (RFC 5869) with the access key id as salt, the secret as input key
    /// and the scope as info, 32 bytes, used as its lower-case hex text (huaweicloudsdkcore's hkdf.py).
    static func derivedKey(accessKeyId: String, secret: String, scope: String) -> [UInt8] {
        let prk = HMAC<SHA256>.authenticationCode(for: Array(secret.utf8), using: SymmetricKey(data: Array(accessKeyId.utf8)))
        let okm = HMAC<SHA256>.authenticationCode(for: Array(scope.utf8) + [1], using: SymmetricKey(data: Array(prk)))
        return Array(Hex.encode(okm).utf8)
    }

    public static func signature(
        _ r: SignableRequest, signedHeaders: [String], secret: String, algorithm: Algorithm = .hmacSHA256,
        accessKeyId: String = "", scope: String? = nil, alternativePayload: Bool = false
    ) -> String {
        let key = algorithm == .derivedHMACSHA256 ? derivedKey(accessKeyId: accessKeyId, secret: secret, scope: scope ?? "") : Array(secret.utf8)
        let message = stringToSign(r, signedHeaders: signedHeaders, algorithm: algorithm, scope: scope, alternativePayload: alternativePayload)
        return Hex.encode(algorithm.mac(key: key, message: Array(message.utf8)))
    }

    /// The `Authorization` value for a signature.
    static func authorization(_ algorithm: Algorithm, accessKeyId: String, scope: String?, signedHeaders: [String], signature: String) -> String {
        let key = algorithm == .derivedHMACSHA256 ? "Credential=\(accessKeyId)/\(scope ?? "")" : "Access=\(accessKeyId)"
        return "\(algorithm.rawValue) \(key), SignedHeaders=\(signedHeaders.joined(separator: ";")), Signature=\(signature)"
    }

    /// Signs `r` in place (it must carry `X-Sdk-Date` and `Host`): signs every header present except
    /// `authorization` and `user-agent`, as the SDK does. `scope` (`date/region/service`) for V11.
    public static func sign(
        _ r: inout SignableRequest, accessKeyId: String, secret: String, algorithm: Algorithm = .hmacSHA256, scope: String? = nil
    ) {
        let names = Set(
            r.headers.map { $0.name.lowercased() }.filter { $0 != "authorization" && $0 != "user-agent" && $0 != "content-length" }
        ).sorted()
        let sig = signature(r, signedHeaders: names, secret: secret, algorithm: algorithm, accessKeyId: accessKeyId, scope: scope)
        r.headers.append(("Authorization", authorization(algorithm, accessKeyId: accessKeyId, scope: scope, signedHeaders: names, signature: sig)))
    }

    static func verify(_ r: SignableRequest, keys: AccessKeyStore) -> Result<Void, SignatureFailure> {
        guard let header = r.header("Authorization"), let name = algorithmName(header) else { return .failure(.malformed("Authorization")) }
        guard Algorithm(rawValue: name) != nil else { return .failure(.unsupportedAlgorithm(name)) }
        guard let auth = parse(header) else { return .failure(.malformed("Authorization")) }
        guard let secret = keys.secrets[auth.accessKeyId] else { return .failure(.unknownAccessKey(auth.accessKeyId)) }
        func expected(_ alternative: Bool) -> String {
            signature(
                r, signedHeaders: auth.fields.signedHeaders, secret: secret, algorithm: auth.algorithm, accessKeyId: auth.accessKeyId,
                scope: auth.scope, alternativePayload: alternative)
        }
        if constantTimeEquals(expected(false), auth.fields.signature) { return .success(()) }
        // The two payload hashes differ only for an empty body under UNSIGNED-PAYLOAD (no body hashed again to tell).
        if r.body.isEmpty, r.header(auth.algorithm.payloadHeader) == "UNSIGNED-PAYLOAD", constantTimeEquals(expected(true), auth.fields.signature) {
            return .success(())
        }
        return .failure(
            .mismatch(stringToSign: stringToSign(r, signedHeaders: auth.fields.signedHeaders, algorithm: auth.algorithm, scope: auth.scope)))
    }
}
