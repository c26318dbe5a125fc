import CloudModel
import Foundation
import CloudSigning
import NIOCore
import NIOHTTP1

/// Both clouds behind one entry point: routes a request by its shape, checks its signature when access
/// keys are configured, and answers in the right cloud's format.
public final class Simulator: Sendable {
    public let aliyun: AliyunAPI
    public let huawei: HuaweiAPI
    /// nil: any credentials are accepted (curl works). Otherwise every request must be signed by one of these.
    public let accessKeys: AccessKeyStore?

    /// Requests per second answered before the clouds' throttling errors (nil: no limit).
    public let throttle: Throttle?

    /// The synthetic data set the stores were built from (nil for fixtures): told by `GET /__tapedeck/status`,
    /// so `tapedeck load --synthetic --verify` can check it builds the same one.
    public let dataSet: SyntheticDataSet?

    public init(
        aliyun: SecurityGroupStore, huawei: SecurityGroupStore, clock: SimulatorClock, accessKeys: AccessKeyStore? = nil,
        maxRequestsPerSecond: Int? = nil, throttle: Throttle? = nil, dataSet: SyntheticDataSet? = nil
    ) {
        self.dataSet = dataSet
        self.aliyun = AliyunAPI(store: aliyun, clock: clock)
        self.huawei = HuaweiAPI(store: huawei, clock: clock)
        self.accessKeys = accessKeys.flatMap { $0.secrets.isEmpty ? nil : $0 }
        self.throttle = throttle ?? maxRequestsPerSecond.map { Throttle(perSecond: $0) }
    }

    /// Builds the stores from a synthetic data set.
    public static func synthetic(
        _ data: SyntheticDataSet, clock: SimulatorClock, accessKeys: AccessKeyStore? = nil,
        maxRequestsPerSecond: Int? = nil
    ) async -> Simulator {
        let (a, h) = await data.makeStores()
        return Simulator(
            aliyun: a, huawei: h, clock: clock, accessKeys: accessKeys, maxRequestsPerSecond: maxRequestsPerSecond, dataSet: data)
    }

    /// `GET /__tapedeck/status`: what this simulator serves (JSON).
    public func statusDocument() -> [String: Any] {
        var d: [String: Any] = [
            "role": "simulator", "huawei_project_id": huawei.store.ownerID,
            "signatures_required": accessKeys != nil,
        ]
        if let dataSet { d["data_set"] = ["groups": dataSet.groups, "seed": dataSet.seed] } else { d["data_set"] = NSNull() }
        return d
    }

    /// What one connection keeps between requests: the snapshots it reads from, refreshed only after a
    /// write (see `SecurityGroupStore`), and the buffer its reference answers are rendered into (its
    /// memory is reused once the last answer is written; see `AliyunAPI.answerReferences`).
    public struct ReaderCache: Sendable {
        var aliyun: GraphSnapshot
        var huawei: GraphSnapshot
        var answer = ByteBuffer()
    }

    public func makeReaderCache() -> ReaderCache { ReaderCache(aliyun: aliyun.store.snapshot(), huawei: huawei.store.snapshot()) }

    /// The largest answer buffer a connection keeps for the next answer: a 3-id answer is about 7 KiB, and an
    /// idle keep-alive connection holds its buffer (16 KiB each at most, so 10,000 idle connections hold at most
    /// 160 MiB; an answer above it is rendered into a buffer that is then let go).
    static let keptAnswerBytes = 16 * 1024

    enum Cloud { case aliyun, huawei }

    static func cloud(path: Substring, headers: HTTPHeaders, hasAction: Bool) -> Cloud {
        // Huawei's versioned paths: /v3/…, and v1, v2 and neutron-style /v2.0/… (answered in Huawei's error shape).
        let u = path.utf8
        if u.count >= 3, u.first == UInt8(ascii: "/"), u.dropFirst().first == UInt8(ascii: "v"),
            let d = u.dropFirst(2).first, d >= UInt8(ascii: "0"), d <= UInt8(ascii: "9")
        {
            return .huawei
        }
        if path == "/" || path.isEmpty || hasAction || headers.contains(name: "x-acs-action") { return .aliyun }
        return headers.contains(name: "x-sdk-date") ? .huawei : .aliyun
    }

    /// Answers one complete request.
    public func respond(
        method: HTTPMethod, uri: String, headers: HTTPHeaders, body: ByteBuffer?,
        cache: inout ReaderCache, allocator: ByteBufferAllocator
    ) -> APIResponse {
        // The performance-critical call takes a path of its own when it is plain (see AliyunAPI+ReferenceAnswer).
        if method == .GET || method == .POST, body.map({ $0.readableBytes == 0 }) ?? true {
            var uri = uri
            if let r = uri.withUTF8({
                referenceAnswer(target: $0, hasVersionHeader: headers.contains(name: "x-acs-version"), cache: &cache)
            }) {
                // One very large answer's memory is not kept for the connection's lifetime.
                if cache.answer.capacity > Simulator.keptAnswerBytes { cache.answer = ByteBuffer() }
                return r
            }
        }
        let req: APIRequest
        do {
            req = try APIRequest(method: method, uri: uri, headers: headers, body: body)
        } catch {
            let path = uri.split(separator: "?", maxSplits: 1).first ?? ""
            switch Simulator.cloud(path: path, headers: headers, hasAction: uri.contains("Action=")) {
            case .aliyun: return aliyun.errorResponse(AliyunError.badEncoding, format: AliyunAPI.rawFormat(uri), allocator: allocator)
            case .huawei: return huawei.errorResponse(HuaweiError.badEncoding, allocator: allocator)
            }
        }
        let cloud = Simulator.cloud(path: req.rawPath, headers: headers, hasAction: req.query["Action"] != nil)
        if let throttle, !throttle.admit() {
            switch cloud {
            case .aliyun:
                return aliyun.errorResponse(
                    AliyunError.throttled, format: req.query["Format"]?.lowercased() == "xml" ? .xml : .json, allocator: allocator)
            case .huawei: return huawei.errorResponse(HuaweiError.throttled, allocator: allocator)
            }
        }
        switch cloud {
        case .aliyun:
            let form: QueryParameters
            do { form = try req.formParameters() } catch {
                let format: DocumentWriter.Format = req.query["Format"]?.lowercased() == "xml" ? .xml : .json
                return aliyun.errorResponse(AliyunError.badEncoding, format: format, allocator: allocator)
            }
            guard AliyunAPI.claims(req) else {
                let format: DocumentWriter.Format = (req.query["Format"] ?? form["Format"])?.lowercased() == "xml" ? .xml : .json
                return aliyun.errorResponse(AliyunError.actionNotFound, format: format, allocator: allocator)
            }
            if let keys = accessKeys, case .failure(let f) = keys.verify(req.signable(form: form)) {
                let format: DocumentWriter.Format = (req.query["Format"] ?? form["Format"])?.lowercased() == "xml" ? .xml : .json
                return aliyun.errorResponse(
                    Simulator.aliyunSignatureError(f, acs3: req.headers.first(name: "authorization") != nil),
                    format: format, allocator: allocator)
            }
            return aliyun.handle(req, form: form, snapshot: &cache.aliyun, allocator: allocator)
        case .huawei:
            if let keys = accessKeys, case .failure(let f) = keys.verify(req.signable(form: QueryParameters())) {
                return huawei.errorResponse(Simulator.huaweiSignatureError(f), allocator: allocator)
            }
            return huawei.handle(req, snapshot: &cache.huawei, allocator: allocator)
        }
    }

    /// The answer to a plain reference query (a `GET` or a `POST` without a body) when the fast path takes it:
    /// no signatures to check, no throttle, and a query `AliyunAPI.answerReferences` fully understands.
    /// The body is rendered into `cache.answer` (see `keptAnswerBytes` for how long its memory is kept).
    func referenceAnswer(target: UnsafeBufferPointer<UInt8>, hasVersionHeader: Bool, cache: inout ReaderCache) -> APIResponse? {
        guard accessKeys == nil, throttle == nil else { return nil }
        return aliyun.answerReferences(target: target, hasVersionHeader: hasVersionHeader, snapshot: &cache.aliyun, buffer: &cache.answer)
    }

    static func huaweiSignatureError(_ f: SignatureFailure) -> HuaweiError {
        guard case .unsupportedAlgorithm(let name) = f else { return HuaweiError.badSignature }
        return HuaweiError(
            .unauthorized, "APIGW.0301",
            "Incorrect IAM authentication information: the signature algorithm \(name) is not supported; use SDK-HMAC-SHA256, SDK-HMAC-SM3 or V11-HMAC-SHA256 (tapedeck simulate verifies those three)"
        )
    }

    static func aliyunSignatureError(_ f: SignatureFailure, acs3: Bool) -> AliyunError {
        switch f {
        case .missing(let what):
            return what == "AccessKeyId" ? AliyunError.missing("AccessKeyId") : AliyunError.missing("Signature")
        case .unknownAccessKey:
            return AliyunError(.notFound, "InvalidAccessKeyId.NotFound", "Specified access key is not found.")
        case .unsupportedAlgorithm(let name):
            return AliyunError(
                .badRequest, "InvalidSignatureMethod",
                "The signature algorithm \(name) is not supported; use ACS3-HMAC-SHA256 or ACS3-HMAC-SM3 (tapedeck simulate verifies those two)."
            )
        case .malformed:
            return AliyunError(.badRequest, "IncompleteSignature", "The request signature does not conform to Aliyun standards.")
        case .mismatch(let sts):
            return acs3
                ? AliyunError(
                    .badRequest, "SignatureDoesNotMatch",
                    "Specified signature does not match our calculation. server StringToSign is [\(sts)]")
                : AliyunError(
                    .badRequest, "SignatureDoesNotMatch",
                    "Specified signature is not matched with our calculation. server string to sign is:\(sts)")
        }
    }
}
