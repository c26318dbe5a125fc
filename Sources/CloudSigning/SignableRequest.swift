/// What a signature is computed over: the request as it arrived, before any routing.
public struct SignableRequest: Sendable {
    public var method: String
    /// The path as sent, still percent-encoded, without the query.
    public var rawPath: String
    /// Decoded query-string parameters in the order sent.
    public var query: QueryParameters
    /// Decoded form-body parameters (`application/x-www-form-urlencoded`), empty otherwise.
    public var form: QueryParameters
    /// Header names as sent; lookups are case-insensitive.
    public var headers: [(name: String, value: String)]
    public var body: [UInt8]

    public init(
        method: String, rawPath: String, query: QueryParameters, form: QueryParameters = .init(),
        headers: [(name: String, value: String)], body: [UInt8] = []
    ) {
        self.method = method
        self.rawPath = rawPath
        self.query = query
        self.form = form
        self.headers = headers
        self.body = body
    }

    public func header(_ name: String) -> String? {
        for h in headers where ASCIICase.equalIgnoringCase(h.name, name) { return h.value }
        return nil
    }
}

/// The signature families the simulator verifies and the proxy knows the volatile fields of.
public enum SignatureScheme: String, Sendable, CaseIterable {
    /// Alibaba Cloud RPC signature v1: HMAC-SHA1 over the sorted parameters (aliyun-python-sdk-core).
    case aliyunRPC = "aliyun-rpc"
    /// Alibaba Cloud ACS3-HMAC-SHA256 in the `Authorization` header (the tea SDKs).
    case aliyunACS3 = "aliyun-acs3"
    /// Huawei Cloud AK/SK signatures (SDK-HMAC-SHA256, SDK-HMAC-SM3, derived V11-HMAC-SHA256) in the
    /// `Authorization` header, dated by `X-Sdk-Date`.
    case huawei = "huawei"

    /// Which scheme signed `request`, judged from its signature fields; nil when it carries none.
    public static func detect(_ request: SignableRequest) -> SignatureScheme? {
        if let auth = request.header("Authorization") {
            if auth.hasPrefix("ACS3-") { return .aliyunACS3 }  // any ACS3 algorithm; verify names unsupported ones
            if HuaweiSigner.algorithmName(auth) != nil { return .huawei }  // SDK-HMAC-SHA256, SDK-HMAC-SM3, V11-HMAC-SHA256…
        }
        if request.query["Signature"] != nil || request.form["Signature"] != nil { return .aliyunRPC }
        return nil
    }

    /// Query/form parameters that change on every call (or per user) and are therefore not part of
    /// a request's identity: the signature itself, its nonce and date, and the key id.
    public var volatileParameters: Set<String> {
        switch self {
        case .aliyunRPC: return ["Signature", "SignatureNonce", "Timestamp", "AccessKeyId", "SecurityToken", "SignatureType"]
        case .aliyunACS3, .huawei: return []
        }
    }

    /// Headers (lower-case) that change on every call: signature, nonce, date, payload hash, tokens.
    public var volatileHeaders: Set<String> {
        switch self {
        case .aliyunRPC: return ["user-agent", "x-acs-signature-nonce", "date"]
        case .aliyunACS3:
            return [
                "authorization", "x-acs-date", "x-acs-signature-nonce", "x-acs-content-sha256", "x-acs-content-sm3",
                "x-acs-security-token", "x-acs-accesskey-id", "user-agent", "date",
            ]
        case .huawei:
            return ["authorization", "x-sdk-date", "x-security-token", "user-agent", "x-sdk-content-sha256", "x-sdk-content-sm3"]
        }
    }
}

/// A signature check that failed, with the reason the cloud would give.
public enum SignatureFailure: Error, Sendable, Equatable {
    /// No signature or no key id at all.
    case missing(String)
    /// The key id is not known.
    case unknownAccessKey(String)
    /// The signature does not match; carries the string-to-sign the server computed.
    case mismatch(stringToSign: String)
    /// The signature header is not parseable.
    case malformed(String)
    /// The request names a signature algorithm this verifier does not implement.
    case unsupportedAlgorithm(String)
}

/// Access key id → secret. Verification passes when the request's signature matches its key's secret.
public struct AccessKeyStore: Sendable {
    public var secrets: [String: String]
    public init(_ secrets: [String: String] = [:]) { self.secrets = secrets }

    /// Parses `ID:SECRET`.
    public static func parsePair(_ s: String) -> (String, String)? {
        guard let i = s.firstIndex(of: ":"), i != s.startIndex, s.index(after: i) != s.endIndex else { return nil }
        return (String(s[..<i]), String(s[s.index(after: i)...]))
    }

    /// Verifies `request` under whatever scheme it carries.
    public func verify(_ request: SignableRequest) -> Result<SignatureScheme, SignatureFailure> {
        guard let scheme = SignatureScheme.detect(request) else {
            return .failure(.missing("the request carries no signature"))
        }
        let result: Result<Void, SignatureFailure>
        switch scheme {
        case .aliyunRPC: result = AliyunRPCSigner.verify(request, keys: self)
        case .aliyunACS3: result = ACS3Signer.verify(request, keys: self)
        case .huawei: result = HuaweiSigner.verify(request, keys: self)
        }
        return result.map { scheme }
    }
}
