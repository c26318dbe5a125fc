import CloudSigning

/// What makes two requests "the same" for replay: the parts of a request that identify the call, minus
/// the fields a signature scheme changes on every call. Profiles are plain data; add one by value.
public struct MatchProfile: Sendable, Equatable {
    public var name: String
    /// Whether the HTTP method is part of the key (RPC-style APIs answer GET and form POST alike).
    public var includeMethod: Bool
    /// Query/form parameters left out of the key (signature, nonce, timestamp, key id…).
    public var volatileParameters: Set<String>
    /// Lower-case headers that are part of the key (e.g. ACS3 carries the action in `x-acs-action`).
    public var keyHeaders: [String]
    /// Whether a non-form body is part of the key (as a hash of its canonical JSON or bytes).
    public var includeBody: Bool
    /// What the user declared volatile on top (`--ignore`, a match config): its parameters are in
    /// `volatileParameters` and its headers out of `keyHeaders` already; its JSON fields leave the body hash.
    public var ignored = IgnoreRules()

    public init(
        name: String, includeMethod: Bool = true, volatileParameters: Set<String> = [], keyHeaders: [String] = [],
        includeBody: Bool = true
    ) {
        self.name = name
        self.includeMethod = includeMethod
        self.volatileParameters = volatileParameters
        self.keyHeaders = keyHeaders
        self.includeBody = includeBody
    }

    /// Alibaba RPC signature v1: the parameters are the call; `Signature`, `SignatureNonce`, `Timestamp`
    /// and the key id change per call or per user. GET and form POST are the same call. `ClientToken`
    /// (idempotency) is volatile too: some clients send a fresh one on every call.
    public static let aliyunRPC = MatchProfile(
        name: "aliyun-rpc", includeMethod: false,
        volatileParameters: SignatureScheme.aliyunRPC.volatileParameters.union(["ClientToken"]),
        includeBody: false)
    /// Alibaba ACS3: the action and version travel in headers; the signature, nonce, date and payload hash
    /// headers (and `Authorization`) are volatile and never part of the key; so is `ClientToken`.
    public static let aliyunACS3 = MatchProfile(
        name: "aliyun-acs3", volatileParameters: ["ClientToken"], keyHeaders: ["x-acs-action", "x-acs-version"])
    /// Huawei SDK-HMAC-SHA256: `X-Sdk-Date` and `Authorization` are volatile (and never in the key);
    /// the path, query and JSON body identify the call.
    public static let huawei = MatchProfile(name: "huawei")
    /// Anything else: method, URL and body.
    public static let generic = MatchProfile(name: "generic")

    public static let builtIn: [MatchProfile] = [.aliyunRPC, .aliyunACS3, .huawei, .generic]

    public static func named(_ name: String) -> MatchProfile? { builtIn.first { $0.name == name } }

    /// The profile for a request, from the signature fields it carries.
    public static func detect(_ request: SignableRequest) -> MatchProfile {
        switch SignatureScheme.detect(request) {
        case .aliyunRPC: return .aliyunRPC
        case .aliyunACS3: return .aliyunACS3
        case .huawei: return .huawei
        case nil:
            // Unsigned ECS RPC calls (curl, tests) still match as RPC calls.
            if request.query["Action"] != nil || request.form["Action"] != nil { return .aliyunRPC }
            if request.header("x-acs-action") != nil { return .aliyunACS3 }
            return .generic
        }
    }
}
