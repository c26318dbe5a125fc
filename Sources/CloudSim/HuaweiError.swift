import NIOHTTP1

/// A Huawei Cloud error: HTTP status, `error_code`, `error_msg`.
public struct HuaweiError: Error, Sendable, Equatable {
    public var status: HTTPResponseStatus
    public var code: String
    public var message: String

    public init(_ status: HTTPResponseStatus, _ code: String, _ message: String) {
        self.status = status
        self.code = code
        self.message = message
    }

    static let apiNotFound = HuaweiError(
        .notFound, "APIGW.0101",
        "The API does not exist or has not been published in the environment (tapedeck simulate covers Huawei Cloud VPC v3 security groups and the ECS security-group actions only)"
    )
    static let badSignature = HuaweiError(
        .unauthorized, "APIGW.0301", "Incorrect IAM authentication information: verify aksk signature fail")
    static let throttled = HuaweiError(
        .tooManyRequests, "APIGW.0308", "The throttling threshold has been reached: policy user over ratelimit,limit:100,time:1 second")
    static func groupNotFound(_ id: String) -> HuaweiError {
        HuaweiError(.notFound, "VPC.0603", "Securitygroup \(id) is not exist.")
    }
    static func ruleNotFound(_ id: String) -> HuaweiError {
        HuaweiError(.notFound, "VPC.0603", "Security group rule \(id) could not be found.")
    }
    /// `dry_run: true` passed its checks: 202 with the result in the error fields; nothing changed.
    static let dryRunPassed = HuaweiError(.accepted, "DryRunOperation", "Request validation has been passed with dry run.")
    static func invalid(_ message: String) -> HuaweiError { HuaweiError(.badRequest, "VPC.0601", message) }
    static func inUse(_ id: String) -> HuaweiError { HuaweiError(.conflict, "VPC.0602", "Security Group \(id) in use.") }
    static let duplicateRule = HuaweiError(.conflict, "VPC.0602", "Security group rule already exists.")
    static let badEncoding = HuaweiError(.badRequest, "VPC.0601", "The request contains malformed percent-encoding or invalid UTF-8.")
}
