import CloudSigning
import Foundation
import TapedeckHTTP

/// The demo's built-in session: the seed flows of both clouds as the official SDKs send them — signed,
/// with a fresh nonce and timestamp on every call — against whatever is listening on `port`.
struct DemoSession {
    static let accessKeyID = "LTAIdemoAccessKey"
    static let accessKeySecret = "demoSecretDoNotStore"

    struct Step: Equatable {
        var label: String
        var status: Int
        var body: [UInt8]
    }

    let port: Int
    let huaweiProject: String
    var steps: [Step] = []

    init(port: Int, huaweiProject: String) {
        self.port = port
        self.huaweiProject = huaweiProject
    }

    private var host: String { "127.0.0.1:\(port)" }

    /// Alibaba RPC, signature v1, GET.
    mutating func rpc(_ label: String, _ action: String, _ params: [(String, String)]) async throws -> [String: Any] {
        var p = QueryParameters(
            [
                ("Action", action), ("Version", "2014-05-26"), ("Format", "JSON"), ("RegionId", "cn-hangzhou"),
                ("AccessKeyId", DemoSession.accessKeyID), ("SignatureMethod", "HMAC-SHA1"), ("SignatureVersion", "1.0"),
                ("SignatureNonce", UUID().uuidString), ("Timestamp", DemoSession.now()),
            ] + params)
        AliyunRPCSigner.sign(method: "GET", parameters: &p, secret: DemoSession.accessKeySecret)
        return try await record(label, try await RawHTTPClient.request("GET", "/?" + p.encoded, port: port))
    }

    /// Alibaba ACS3-HMAC-SHA256, POST with the action in headers (the tea SDK's form).
    mutating func acs3(_ label: String, _ action: String, _ params: [(String, String)]) async throws -> [String: Any] {
        var r = SignableRequest(
            method: "POST", rawPath: "/", query: QueryParameters([("RegionId", "cn-hangzhou")] + params),
            headers: [
                ("host", host), ("x-acs-action", action), ("x-acs-version", "2014-05-26"),
                ("x-acs-date", DemoSession.now()), ("x-acs-signature-nonce", UUID().uuidString),
            ])
        ACS3Signer.sign(&r, accessKeyId: DemoSession.accessKeyID, secret: DemoSession.accessKeySecret)
        let headers = r.headers.filter { $0.name != "host" }.map { ($0.name, $0.value) }
        return try await record(label, try await RawHTTPClient.request("POST", "/?" + r.query.encoded, port: port, headers: headers))
    }

    /// Huawei SDK-HMAC-SHA256.
    mutating func huawei(
        _ label: String, _ method: String, _ path: String, query: String = "", json: String? = nil
    ) async throws -> [String: Any] {
        let full = "/v3/\(huaweiProject)/vpc/\(path)"
        let body = Array((json ?? "").utf8)
        let f = DateFormatter()
        f.locale = Locale(identifier: "en_US_POSIX")
        f.timeZone = TimeZone(identifier: "UTC")
        f.dateFormat = "yyyyMMdd'T'HHmmss'Z'"
        var r = SignableRequest(
            method: method, rawPath: full, query: (try? QueryParameters.parse(query)) ?? QueryParameters(),
            headers: [
                ("Host", host), ("Content-Type", "application/json"), ("X-Project-Id", huaweiProject),
                ("X-Sdk-Date", f.string(from: Date())),
            ], body: body)
        HuaweiSigner.sign(&r, accessKeyId: DemoSession.accessKeyID, secret: DemoSession.accessKeySecret)
        let headers = r.headers.filter { $0.name != "Host" }.map { ($0.name, $0.value) }
        return try await record(
            label,
            try await RawHTTPClient.request(
                method, query.isEmpty ? full : full + "?" + query, port: port,
                headers: headers, body: body))
    }

    private mutating func record(_ label: String, _ r: RawHTTPClient.Response) async throws -> [String: Any] {
        steps.append(Step(label: label, status: r.status, body: r.body))
        return (try? JSONSerialization.jsonObject(with: Data(r.body)) as? [String: Any]) ?? [:]
    }

    static func now() -> String {
        let f = ISO8601DateFormatter()
        f.formatOptions = [.withInternetDateTime]
        return f.string(from: Date())
    }

    /// Runs the flows; `popular` are synthetic group ids to query (Alibaba and Huawei).
    mutating func run(popularAliyun: [String], popularHuawei: [String]) async throws {
        let a =
            try await rpc("ecs CreateSecurityGroup A", "CreateSecurityGroup", [("SecurityGroupName", "demo-a")])["SecurityGroupId"]
            as? String ?? ""
        let b =
            try await rpc("ecs CreateSecurityGroup B", "CreateSecurityGroup", [("SecurityGroupName", "demo-b")])["SecurityGroupId"]
            as? String ?? ""
        _ = try await rpc(
            "ecs AuthorizeSecurityGroup B from A", "AuthorizeSecurityGroup",
            [("SecurityGroupId", b), ("IpProtocol", "tcp"), ("PortRange", "22/22"), ("SourceGroupId", a)])
        _ = try await rpc("ecs DescribeSecurityGroupReferences A", "DescribeSecurityGroupReferences", [("SecurityGroupId.1", a)])
        _ = try await acs3("ecs (ACS3) DescribeSecurityGroupReferences A", "DescribeSecurityGroupReferences", [("SecurityGroupId.1", a)])
        _ = try await rpc("ecs DeleteSecurityGroup A (referenced: 403)", "DeleteSecurityGroup", [("SecurityGroupId", a)])
        _ = try await rpc(
            "ecs RevokeSecurityGroup", "RevokeSecurityGroup",
            [("SecurityGroupId", b), ("IpProtocol", "tcp"), ("PortRange", "22/22"), ("SourceGroupId", a)])
        _ = try await rpc("ecs DescribeSecurityGroupReferences A (empty)", "DescribeSecurityGroupReferences", [("SecurityGroupId.1", a)])
        _ = try await rpc("ecs DeleteSecurityGroup A", "DeleteSecurityGroup", [("SecurityGroupId", a)])
        _ = try await rpc("ecs DeleteSecurityGroup B", "DeleteSecurityGroup", [("SecurityGroupId", b)])
        for (i, ids) in [Array(popularAliyun.prefix(3)), Array(popularAliyun.suffix(2))].enumerated() {
            _ = try await rpc(
                "ecs references of popular groups #\(i + 1)", "DescribeSecurityGroupReferences",
                ids.enumerated().map { ("SecurityGroupId.\($0.offset + 1)", $0.element) })
        }
        let ha =
            ((try await huawei("vpc CreateSecurityGroup A", "POST", "security-groups", json: #"{"security_group":{"name":"demo-a"}}"#))[
                "security_group"] as? [String: Any])?["id"] as? String ?? ""
        let hb =
            ((try await huawei("vpc CreateSecurityGroup B", "POST", "security-groups", json: #"{"security_group":{"name":"demo-b"}}"#))[
                "security_group"] as? [String: Any])?["id"] as? String ?? ""
        let rule =
            ((try await huawei(
                "vpc CreateSecurityGroupRule B from A", "POST", "security-group-rules",
                json:
                    #"{"security_group_rule":{"security_group_id":"\#(hb)","direction":"ingress","protocol":"tcp","multiport":"22","remote_group_id":"\#(ha)"}}"#
            ))["security_group_rule"] as? [String: Any])?["id"] as? String ?? ""
        _ = try await huawei("vpc ShowSecurityGroup B", "GET", "security-groups/\(hb)")
        _ = try await huawei("vpc ListSecurityGroupRules remote_group_id=A", "GET", "security-group-rules", query: "remote_group_id=\(ha)")
        _ = try await huawei("vpc ShowSecurityGroup unknown (404)", "GET", "security-groups/00000000-0000-4000-8000-000000000000")
        _ = try await huawei("vpc DeleteSecurityGroupRule", "DELETE", "security-group-rules/\(rule)")
        _ = try await huawei("vpc DeleteSecurityGroup A", "DELETE", "security-groups/\(ha)")
        _ = try await huawei("vpc DeleteSecurityGroup B", "DELETE", "security-groups/\(hb)")
        for id in popularHuawei.prefix(2) {
            _ = try await huawei("vpc ShowSecurityGroup (popular)", "GET", "security-groups/\(id)")
        }
    }
}
