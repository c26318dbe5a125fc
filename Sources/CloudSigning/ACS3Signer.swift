import Crypto

/// Alibaba Cloud ACS3 signatures (the tea SDKs, e.g. alibabacloud-ecs20140526): `ACS3-HMAC-SHA256`, and
/// `ACS3-HMAC-SM3`, which current tea SDKs offer (the same with SM3 for SHA-256).
///
/// Canonical request: `METHOD\nURI\nsortedEncodedQuery\nname:value\n…\n\nsignedHeaders\nhexHASH(body)`;
/// string to sign: `ALGORITHM\nhexHASH(canonicalRequest)`; signature: hex HMAC-HASH with the
/// secret. `Authorization: ALGORITHM Credential=AK,SignedHeaders=a;b,Signature=hex`.
public enum ACS3Signer {
    public enum Algorithm: String, Sendable, CaseIterable {
        case hmacSHA256 = "ACS3-HMAC-SHA256"
        case hmacSM3 = "ACS3-HMAC-SM3"

        func hex(_ bytes: [UInt8]) -> String {
            self == .hmacSM3 ? Hex.encode(SM3.hash(bytes)) : SHA256.hex(bytes)
        }

        func mac(key: [UInt8], message: [UInt8]) -> String {
            switch self {
            case .hmacSHA256: return Hex.encode(HMAC<SHA256>.authenticationCode(for: message, using: SymmetricKey(data: key)))
            case .hmacSM3: return Hex.encode(SM3.hmac(key: key, message: message))
            }
        }

        /// The header carrying the payload hash.
        var payloadHeader: String { self == .hmacSM3 ? "x-acs-content-sm3" : "x-acs-content-sha256" }
    }

    public static let algorithm = Algorithm.hmacSHA256.rawValue

    /// The ACS3 algorithm an `Authorization` value names (`ACS3-…` before the first space), supported or not.
    public static func algorithmName(_ value: String) -> String? {
        guard value.hasPrefix("ACS3-") else { return nil }
        return String(value.prefix { $0 != " " })
    }

    /// Parses the `Authorization` header value.
    public static func parseAuthorization(_ value: String, algorithm: Algorithm = .hmacSHA256) -> SignatureAuthorization? {
        SignatureAuthorization.parse(value, algorithm: algorithm.rawValue, keyField: "Credential")
    }

    public static func canonicalRequest(_ r: SignableRequest, signedHeaders: [String], algorithm: Algorithm = .hmacSHA256) -> String {
        let payloadHash = r.header(algorithm.payloadHeader) ?? algorithm.hex(r.body)
        let uri = r.rawPath.isEmpty ? "/" : r.rawPath
        return [
            r.method.uppercased(), uri, r.query.canonicalString(),
            canonicalHeaders(r, signedHeaders), signedHeaders.joined(separator: ";"), payloadHash,
        ].joined(separator: "\n")
    }

    static func canonicalHeaders(_ r: SignableRequest, _ names: [String]) -> String {
        var s = ""
        for n in names { s += "\(n):\((r.header(n) ?? "").trimmingSpaces)\n" }
        return s  // the trailing newline leaves an empty line before the signed-header list, as the SDK does
    }

    public static func stringToSign(_ r: SignableRequest, signedHeaders: [String], algorithm: Algorithm = .hmacSHA256) -> String {
        "\(algorithm.rawValue)\n\(algorithm.hex(Array(canonicalRequest(r, signedHeaders: signedHeaders, algorithm: algorithm).utf8)))"
    }

    public static func signature(
        _ r: SignableRequest, signedHeaders: [String], secret: String, algorithm: Algorithm = .hmacSHA256
    ) -> String {
        algorithm.mac(key: Array(secret.utf8), message: Array(stringToSign(r, signedHeaders: signedHeaders, algorithm: algorithm).utf8))
    }

    /// Signs `r` in place: adds the payload-hash and `Authorization` headers, signing `host`, `content-type`
    /// and every `x-acs-*` header present.
    public static func sign(_ r: inout SignableRequest, accessKeyId: String, secret: String, algorithm: Algorithm = .hmacSHA256) {
        if r.header(algorithm.payloadHeader) == nil { r.headers.append((algorithm.payloadHeader, algorithm.hex(r.body))) }
        let names = Set(r.headers.map { $0.name.lowercased() }.filter { $0 == "host" || $0 == "content-type" || $0.hasPrefix("x-acs-") })
            .sorted()
        let sig = signature(r, signedHeaders: names, secret: secret, algorithm: algorithm)
        r.headers.append(
            (
                "Authorization",
                "\(algorithm.rawValue) Credential=\(accessKeyId),SignedHeaders=\(names.joined(separator: ";")),Signature=\(sig)"
            ))
    }

    static func verify(_ r: SignableRequest, keys: AccessKeyStore) -> Result<Void, SignatureFailure> {
        guard let header = r.header("Authorization"), let name = algorithmName(header) else { return .failure(.malformed("Authorization")) }
        guard let algorithm = Algorithm(rawValue: name) else { return .failure(.unsupportedAlgorithm(name)) }
        guard let auth = parseAuthorization(header, algorithm: algorithm) else { return .failure(.malformed("Authorization")) }
        guard let secret = keys.secrets[auth.accessKeyId] else { return .failure(.unknownAccessKey(auth.accessKeyId)) }
        let expected = signature(r, signedHeaders: auth.signedHeaders, secret: secret, algorithm: algorithm)
        if constantTimeEquals(expected, auth.signature) { return .success(()) }
        return .failure(.mismatch(stringToSign: stringToSign(r, signedHeaders: auth.signedHeaders, algorithm: algorithm)))
    }
}

extension StringProtocol {
    /// Without leading and trailing spaces and tabs.
    var trimmingSpaces: Substring {
        var s = Substring(self)
        while let f = s.first, f == " " || f == "\t" { s.removeFirst() }
        while let l = s.last, l == " " || l == "\t" { s.removeLast() }
        return s
    }
}
