import Crypto

/// Alibaba Cloud ACS3-HMAC-SHA256 (the tea SDKs, e.g. alibabacloud-ecs20140526).
///
/// Canonical request: `METHOD\nURI\nsortedEncodedQuery\nname:value\n…\n\nsignedHeaders\nhexSHA256(body)`;
/// string to sign: `ACS3-HMAC-SHA256\nhexSHA256(canonicalRequest)`; signature: hex HMAC-SHA256 with the
/// secret. `Authorization: ACS3-HMAC-SHA256 Credential=AK,SignedHeaders=a;b,Signature=hex`.
public enum ACS3Signer {
    public static let algorithm = "ACS3-HMAC-SHA256"

    /// Parses the `Authorization` header value.
    public static func parseAuthorization(_ value: String) -> SignatureAuthorization? {
        SignatureAuthorization.parse(value, algorithm: algorithm, keyField: "Credential")
    }

    public static func canonicalRequest(_ r: SignableRequest, signedHeaders: [String]) -> String {
        let payloadHash = r.header("x-acs-content-sha256") ?? SHA256.hex(r.body)
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

    public static func stringToSign(_ r: SignableRequest, signedHeaders: [String]) -> String {
        "\(algorithm)\n\(SHA256.hex(Array(canonicalRequest(r, signedHeaders: signedHeaders).utf8)))"
    }

    public static func signature(_ r: SignableRequest, signedHeaders: [String], secret: String) -> String {
        let mac = HMAC<SHA256>.authenticationCode(for: Array(stringToSign(r, signedHeaders: signedHeaders).utf8),
                                                  using: SymmetricKey(data: Array(secret.utf8)))
        return Hex.encode(mac)
    }

    /// Signs `r` in place: adds the `x-acs-content-sha256` and `Authorization` headers, signing `host`
    /// and every `x-acs-*` header present.
    public static func sign(_ r: inout SignableRequest, accessKeyId: String, secret: String) {
        if r.header("x-acs-content-sha256") == nil { r.headers.append(("x-acs-content-sha256", SHA256.hex(r.body))) }
        let names = Set(r.headers.map { $0.name.lowercased() }.filter { $0 == "host" || $0 == "content-type" || $0.hasPrefix("x-acs-") }).sorted()
        let sig = signature(r, signedHeaders: names, secret: secret)
        r.headers.append(("Authorization", "\(algorithm) Credential=\(accessKeyId),SignedHeaders=\(names.joined(separator: ";")),Signature=\(sig)"))
    }

    static func verify(_ r: SignableRequest, keys: AccessKeyStore) -> Result<Void, SignatureFailure> {
        guard let header = r.header("Authorization"), let auth = parseAuthorization(header) else {
            return .failure(.malformed("Authorization"))
        }
        guard let secret = keys.secrets[auth.accessKeyId] else { return .failure(.unknownAccessKey(auth.accessKeyId)) }
        let expected = signature(r, signedHeaders: auth.signedHeaders, secret: secret)
        if constantTimeEquals(expected, auth.signature) { return .success(()) }
        return .failure(.mismatch(stringToSign: stringToSign(r, signedHeaders: auth.signedHeaders)))
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
