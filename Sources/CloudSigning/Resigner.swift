/// Signs a client's request again for another host with another key: what a reverse proxy needs when it
/// rewrites `Host` under a signature that covers it (ACS3 and Huawei sign `host`; the upstream would
/// answer `SignatureDoesNotMatch` / `APIGW.0301`). The secret lives only in this value, in memory.
public struct Resigner: Sendable, CustomStringConvertible, CustomReflectable {
    public let accessKeyId: String
    private let secret: String

    public init(accessKeyId: String, secret: String) {
        self.accessKeyId = accessKeyId
        self.secret = secret
    }

    /// `ID:SECRET`. The id goes into `Authorization` headers and query strings as it is, so it is printable
    /// ASCII without spaces (no CR, LF or other control byte can ride into a forwarded request).
    public init?(pair: String) {
        guard let (id, secret) = AccessKeyStore.parsePair(pair), id.utf8.allSatisfy({ $0 > 32 && $0 < 127 }) else { return nil }
        self.init(accessKeyId: id, secret: secret)
    }

    /// Never the secret.
    public var description: String { "Resigner(\(accessKeyId))" }
    public var customMirror: Mirror { Mirror(self, children: ["accessKeyId": accessKeyId]) }

    /// Whether `request`'s signature covers its `Host` header (so rewriting `Host` breaks it).
    public static func signsHost(_ request: SignableRequest) -> Bool {
        guard let auth = request.header("Authorization") else { return false }
        switch SignatureScheme.detect(request) {
        case .aliyunACS3:
            guard let name = ACS3Signer.algorithmName(auth), let algorithm = ACS3Signer.Algorithm(rawValue: name) else { return true }
            return ACS3Signer.parseAuthorization(auth, algorithm: algorithm)?.signedHeaders.contains("host") ?? true
        case .huawei:
            return HuaweiSigner.parse(auth)?.fields.signedHeaders.contains("host") ?? true
        case .aliyunRPC, nil:
            return false
        }
    }

    public enum Failure: Error, CustomStringConvertible, Equatable {
        case unsupportedAlgorithm(String)
        case malformed(String)
        public var description: String {
            switch self {
            case .unsupportedAlgorithm(let a): return "cannot re-sign: signature algorithm \(a) is not supported"
            case .malformed(let h): return "cannot re-sign: the request's \(h) cannot be parsed"
            }
        }
    }

    /// Re-signs `request` in place as sent to `host` (the `Host` header value): the same scheme, algorithm
    /// and signed headers, this key id and secret. RPC (v1) requests get a new `AccessKeyId` and
    /// `Signature` in whichever of query or form carried them. Returns the scheme, nil when unsigned.
    @discardableResult
    public func resign(_ request: inout SignableRequest, host: String) throws(Failure) -> SignatureScheme? {
        guard let scheme = SignatureScheme.detect(request) else { return nil }
        setHeader(&request, "Host", host)
        switch scheme {
        case .aliyunACS3:
            let auth = request.header("Authorization") ?? ""
            guard let name = ACS3Signer.algorithmName(auth) else { throw .malformed("Authorization") }
            guard let algorithm = ACS3Signer.Algorithm(rawValue: name) else { throw .unsupportedAlgorithm(name) }
            guard let parsed = ACS3Signer.parseAuthorization(auth, algorithm: algorithm) else { throw .malformed("Authorization") }
            if request.header("x-acs-accesskey-id") != nil { setHeader(&request, "x-acs-accesskey-id", accessKeyId) }
            let sig = ACS3Signer.signature(request, signedHeaders: parsed.signedHeaders, secret: secret, algorithm: algorithm)
            setHeader(
                &request, "Authorization",
                "\(algorithm.rawValue) Credential=\(accessKeyId),SignedHeaders=\(parsed.signedHeaders.joined(separator: ";")),Signature=\(sig)"
            )
        case .huawei:
            let auth = request.header("Authorization") ?? ""
            guard let name = HuaweiSigner.algorithmName(auth) else { throw .malformed("Authorization") }
            guard HuaweiSigner.Algorithm(rawValue: name) != nil else { throw .unsupportedAlgorithm(name) }
            guard let parsed = HuaweiSigner.parse(auth) else { throw .malformed("Authorization") }
            let headers = parsed.fields.signedHeaders
            let sig = HuaweiSigner.signature(
                request, signedHeaders: headers, secret: secret, algorithm: parsed.algorithm, accessKeyId: accessKeyId, scope: parsed.scope)
            setHeader(
                &request, "Authorization",
                HuaweiSigner.authorization(parsed.algorithm, accessKeyId: accessKeyId, scope: parsed.scope, signedHeaders: headers, signature: sig))
        case .aliyunRPC:
            replace(&request, "AccessKeyId", accessKeyId)
            let sig = AliyunRPCSigner.signature(
                method: request.method, parameters: AliyunRPCSigner.signedParameters(request), secret: secret)
            replace(&request, "Signature", sig)
        }
        return scheme
    }

    private func setHeader(_ r: inout SignableRequest, _ name: String, _ value: String) {
        let lower = name.lowercased()
        if let i = r.headers.firstIndex(where: { $0.name.lowercased() == lower }) {
            r.headers[i].value = value
            r.headers.removeAll { $0.name.lowercased() == lower && $0.value != value }
        } else {
            r.headers.append((name, value))
        }
    }

    /// Sets parameter `name` where the request carries it (query first), or in the query when absent.
    private func replace(_ r: inout SignableRequest, _ name: String, _ value: String) {
        if let i = r.query.pairs.firstIndex(where: { $0.name == name }) {
            r.query.pairs[i].value = value
        } else if let i = r.form.pairs.firstIndex(where: { $0.name == name }) {
            r.form.pairs[i].value = value
        } else {
            r.query.append(name, value)
        }
    }
}
