import NIOHTTP1

/// An ECS error as the real API returns it: HTTP status, `Code`, `Message`.
public struct AliyunError: Error, Sendable, Equatable {
    public var status: HTTPResponseStatus
    public var code: String
    public var message: String

    public init(_ status: HTTPResponseStatus, _ code: String, _ message: String) {
        self.status = status
        self.code = code
        self.message = message
    }

    static func missing(_ name: String) -> AliyunError {
        AliyunError(.badRequest, "Missing\(name)", "\(name) is mandatory for this action.")
    }

    static func invalid(_ name: String, _ code: String? = nil) -> AliyunError {
        AliyunError(.badRequest, code ?? "InvalidParameter", "The specified parameter \"\(name)\" is not valid.")
    }

    static let actionNotFound = AliyunError(
        .notFound, "InvalidAction.NotFound",
        "Specified api is not found, please check your url and method. (tapedeck simulate covers the ECS security-group actions and Huawei Cloud VPC v3 security groups only.)"
    )
    static let regionNotFound = AliyunError(.notFound, "InvalidRegionId.NotFound", "The specified RegionId does not exist.")
    static let groupNotFound = AliyunError(.notFound, "InvalidSecurityGroupId.NotFound", "The specified SecurityGroupId does not exist.")
    static let referencesMalformed = AliyunError(
        .badRequest, "InvalidSecurityGroupId.Malformed",
        "The specified parameter SecurityGroupId is essential and size should less than 10")
    static let dependencyViolation = AliyunError(
        .forbidden, "DependencyViolation", "The specified security group has been authorized in another one.")
    static let badVersion = AliyunError(.badRequest, "InvalidVersion", "Specified parameter Version is not valid.")
    static let throttled = AliyunError(.badRequest, "Throttling.User", "Request was denied due to user flow control.")
    static let badEncoding = AliyunError(
        .badRequest, "InvalidParameter.Encoding",
        "The request contains malformed percent-encoding or invalid UTF-8; encode parameters as UTF-8 and percent-encode them.")
}
