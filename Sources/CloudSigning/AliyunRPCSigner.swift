import Crypto
import Foundation

/// Alibaba Cloud RPC signature v1 (aliyun-python-sdk-core, and the tea SDK with `signature_algorithm="v2"`):
/// `base64(HMAC-SHA1(secret + "&", METHOD + "&%2F&" + encode(canonicalQuery)))`, where the canonical
/// query holds every query and form parameter except `Signature`, sorted and RFC 3986-encoded.
public enum AliyunRPCSigner {
    public static func stringToSign(method: String, parameters: QueryParameters) -> String {
        let canonical = parameters.canonicalString(excluding: ["Signature"])
        return "\(method.uppercased())&%2F&\(PercentEncoding.encode(canonical))"
    }

    public static func signature(method: String, parameters: QueryParameters, secret: String) -> String {
        let key = SymmetricKey(data: Array((secret + "&").utf8))
        let mac = HMAC<Insecure.SHA1>.authenticationCode(for: Array(stringToSign(method: method, parameters: parameters).utf8), using: key)
        return base64(Array(mac))
    }

    /// Adds `Signature` to `parameters` (which must already hold AccessKeyId, nonce and timestamp).
    public static func sign(method: String, parameters: inout QueryParameters, secret: String) {
        let sig = signature(method: method, parameters: parameters, secret: secret)
        parameters.append("Signature", sig)
    }

    /// The parameters an SDK signs: query and form merged into one map, as every Alibaba Cloud SDK builds it
    /// (aliyun-python-sdk-core signs `dict(query)` updated with the body's parameters, the tea SDK
    /// likewise): a name in both (the SDK puts its own `RegionId` in the query of a `CommonRequest` whose
    /// body has one) counts once, with the form's value. A name repeated within the query or within the
    /// form (which no SDK sends) stays as sent.
    public static func signedParameters(_ request: SignableRequest) -> QueryParameters {
        var all = request.query
        guard !request.form.isEmpty else { return all }
        let formNames = Set(request.form.pairs.map(\.name))
        all.pairs.removeAll { formNames.contains($0.name) }
        all.append(contentsOf: request.form)
        return all
    }

    /// ECS answers a wrong signature with `SignatureDoesNotMatch` and the string to sign it computed
    /// ("… server string to sign is:GET&%2F&…"); aliyun-python-sdk-core compares that with its own and, when
    /// they agree, reports `InvalidAccessKeySecret` instead. A replayed answer carries the string of the
    /// recorded request (its nonce, its timestamp, a redacted key id): this puts `request`'s in its place, as
    /// the cloud would have answered this request. Nil when `body` echoes no string to sign.
    public static func echoingStringToSign(of request: SignableRequest, in body: String) -> String? {
        let marker = "server string to sign is:"
        guard let r = body.range(of: marker) else { return nil }
        // The echoed string is percent-encoded: it ends at the first byte that is not (a quote, `<`, a space).
        let tail = body[r.upperBound...]
        let end =
            tail.utf8.firstIndex { b in
                !((b >= 0x30 && b <= 0x39) || (b | 0x20 >= 0x61 && b | 0x20 <= 0x7A) || b == 0x25 || b == 0x26 || b == 0x3D || b == 0x2D
                    || b == 0x2E || b == 0x5F || b == 0x7E)
            } ?? tail.endIndex
        let current = stringToSign(method: request.method, parameters: signedParameters(request))
        return String(body[..<r.upperBound]) + current + String(body[end...])
    }

    static func verify(_ request: SignableRequest, keys: AccessKeyStore) -> Result<Void, SignatureFailure> {
        var all = request.query
        all.append(contentsOf: request.form)
        guard let given = all["Signature"] else { return .failure(.missing("Signature")) }
        guard let keyId = all["AccessKeyId"] else { return .failure(.missing("AccessKeyId")) }
        guard let secret = keys.secrets[keyId] else { return .failure(.unknownAccessKey(keyId)) }
        let merged = signedParameters(request)
        if constantTimeEquals(signature(method: request.method, parameters: merged, secret: secret), given) { return .success(()) }
        // A client that signs every pair as sent (query and form as one multiset), when a name is in both.
        if merged.pairs.count != all.pairs.count, constantTimeEquals(signature(method: request.method, parameters: all, secret: secret), given) {
            return .success(())
        }
        return .failure(.mismatch(stringToSign: stringToSign(method: request.method, parameters: merged)))
    }
}

/// Standard base64 with padding (Foundation's encoder).
public func base64(_ bytes: [UInt8]) -> String { Data(bytes).base64EncodedString() }
