import Crypto

/// Huawei Cloud SDK-HMAC-SHA256 (huaweicloudsdkcore's signer).
///
/// Canonical request: `METHOD\nURI/\nsortedEncodedQuery\nname:value\n…\n\nsignedHeaders\nhexSHA256(body)`
/// (the URI always ends in `/`); string to sign: `SDK-HMAC-SHA256\nX-Sdk-Date\nhexSHA256(canonicalRequest)`;
/// signature: hex HMAC-SHA256 with the secret.
/// `Authorization: SDK-HMAC-SHA256 Access=AK, SignedHeaders=a;b, Signature=hex`.
public enum HuaweiSigner {
    public static let algorithm = "SDK-HMAC-SHA256"

    public static func parseAuthorization(_ value: String) -> SignatureAuthorization? {
        SignatureAuthorization.parse(value, algorithm: algorithm, keyField: "Access")
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

    public static func canonicalRequest(_ r: SignableRequest, signedHeaders: [String]) -> String {
        let payloadHash = r.header("x-sdk-content-sha256") == "UNSIGNED-PAYLOAD" ? "UNSIGNED-PAYLOAD" : SHA256.hex(r.body)
        var headers = ""
        for n in signedHeaders { headers += "\(n):\((r.header(n) ?? "").trimmingSpaces)\n" }
        return [
            r.method.uppercased(), canonicalURI(r.rawPath), r.query.canonicalString(sortValues: false),
            headers, signedHeaders.joined(separator: ";"), payloadHash,
        ].joined(separator: "\n")
    }

    public static func stringToSign(_ r: SignableRequest, signedHeaders: [String]) -> String {
        let date = r.header("X-Sdk-Date") ?? ""
        return "\(algorithm)\n\(date)\n\(SHA256.hex(Array(canonicalRequest(r, signedHeaders: signedHeaders).utf8)))"
    }

    public static func signature(_ r: SignableRequest, signedHeaders: [String], secret: String) -> String {
        let mac = HMAC<SHA256>.authenticationCode(
            for: Array(stringToSign(r, signedHeaders: signedHeaders).utf8),
            using: SymmetricKey(data: Array(secret.utf8)))
        return Hex.encode(mac)
    }

    /// Signs `r` in place (it must carry `X-Sdk-Date` and `Host`): signs every header present except
    /// `authorization` and `user-agent`, as the SDK does.
    public static func sign(_ r: inout SignableRequest, accessKeyId: String, secret: String) {
        let names = Set(
            r.headers.map { $0.name.lowercased() }.filter { $0 != "authorization" && $0 != "user-agent" && $0 != "content-length" }
        ).sorted()
        let sig = signature(r, signedHeaders: names, secret: secret)
        r.headers.append(
            ("Authorization", "\(algorithm) Access=\(accessKeyId), SignedHeaders=\(names.joined(separator: ";")), Signature=\(sig)"))
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
