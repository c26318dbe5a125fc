import CloudSigning
import CloudModel
import Foundation
import NIOCore

/// Reference-query traffic built from the simulator's data-set library: the same `--groups/--seed` give
/// ids that exist, Zipf-popular, and the right answer for each (for `--verify`).
///
/// The mix: 60% Alibaba `DescribeSecurityGroupReferences` with 1–10 ids (half GET, half form POST),
/// 25% Huawei `ShowSecurityGroup`, 15% Huawei rules by `remote_group_id` (first page of 100); 2% of requests name an
/// unknown id. Requests carry real signatures (key `tapedeck`), as the SDKs would send them.
public enum SyntheticSource {
    public static let accessKeyID = "tapedeck"
    public static let accessKeySecret = "tapedeck-secret"

    /// Signed with `accessKey` (ID, secret): a simulator started with `--access-key` verifies signatures.
    public static func requests(
        dataSet: SyntheticDataSet, target: LoadTarget, count: Int = 4096, accessKey: (id: String, secret: String) = (accessKeyID, accessKeySecret)
    ) async -> [LoadRequest] {
        let (aliyun, huawei) = await dataSet.makeStores()
        let a = aliyun.snapshot(), h = huawei.snapshot()
        var rng = SplitMix64(seed: dataSet.seed ^ 0x10AD)
        var out: [LoadRequest] = []
        out.reserveCapacity(count)
        for i in 0..<count {
            let unknown = rng.below(100) < 2
            let roll = rng.below(100)
            if roll < 60 {
                let n = [1, 1, 1, 2, 2, 3, 3, 5, 8, 10][rng.below(10)]
                var ids: [String] = []
                var handles: [UInt32] = []
                for _ in 0..<n {
                    let hdl = dataSet.zipfHandle(&rng)
                    handles.append(hdl)
                    ids.append(aliyun.generatedID(of: hdl))
                }
                if unknown { ids[ids.count - 1] = "sg-bp" + String(repeating: "z", count: 13) }
                var params = QueryParameters([
                    ("Action", "DescribeSecurityGroupReferences"), ("Version", "2014-05-26"), ("Format", "JSON"),
                    ("RegionId", SyntheticDataSet.aliyunRegion), ("AccessKeyId", accessKey.id),
                    ("SignatureMethod", "HMAC-SHA1"), ("SignatureVersion", "1.0"), ("SignatureNonce", "n\(i)"),
                    ("Timestamp", "2026-01-01T00:00:00Z"),
                ])
                for (k, id) in ids.enumerated() { params.append("SecurityGroupId.\(k + 1)", id) }
                let post = i % 2 == 1
                AliyunRPCSigner.sign(method: post ? "POST" : "GET", parameters: &params, secret: accessKey.secret)
                let bytes =
                    post
                    ? RequestBytes.make(
                        method: "POST", target: "/", host: target.authority,
                        headers: [("Content-Type", "application/x-www-form-urlencoded")], body: Array(params.encoded.utf8))
                    : RequestBytes.make(method: "GET", target: "/?" + params.encoded, host: target.authority)
                let expectation: Expectation
                if unknown {
                    expectation = .error(status: 400, code: "InvalidSecurityGroupId.NotFound")
                } else {
                    var budget = ReferenceLimits.aliyunRecordsPerAnswer
                    var expected: [String: Set<String>] = [:]
                    for (k, hdl) in handles.enumerated() {
                        var set = expected[ids[k]] ?? []
                        for ref in a.referrers(of: hdl) where ref.group != hdl && budget > 0 {
                            set.insert(aliyun.generatedID(of: ref.group))
                            budget -= 1
                        }
                        expected[ids[k]] = set
                    }
                    expectation = .aliyunReferences(expected)
                }
                out.append(LoadRequest(bytes: bytes, expectation: expectation, kind: post ? "ecs:references:post" : "ecs:references:get"))
            } else {
                let hdl = dataSet.zipfHandle(&rng)
                let id = unknown ? "00000000-0000-4000-8000-000000000000" : huawei.generatedID(of: hdl)
                let project = huawei.ownerID
                let show = roll < 85
                let path = show ? "/v3/\(project)/vpc/security-groups/\(id)" : "/v3/\(project)/vpc/security-group-rules"
                let query = show ? "" : "limit=100&remote_group_id=\(id)"
                var signable = SignableRequest(
                    method: "GET", rawPath: path, query: (try? QueryParameters.parse(query)) ?? QueryParameters(),
                    headers: [
                        ("Host", target.authority), ("Content-Type", "application/json"),
                        ("X-Project-Id", project), ("X-Sdk-Date", "20260101T000000Z"),
                    ])
                HuaweiSigner.sign(&signable, accessKeyId: accessKey.id, secret: accessKey.secret)
                let headers = signable.headers.filter { $0.name != "Host" }.map { ($0.name, $0.value) }
                let bytes = RequestBytes.make(
                    method: "GET", target: query.isEmpty ? path : path + "?" + query, host: target.authority, headers: headers)
                let expectation: Expectation
                if show {
                    expectation = unknown ? .error(status: 404, code: "VPC.0603") : .huaweiGroup(id: id)
                } else {
                    var count = 0
                    if !unknown {
                        for ref in h.referrers(of: hdl) {
                            count += h.group(ref.group)?.rules.filter { $0.referencedGroup == hdl }.count ?? 0
                        }
                    }
                    expectation = .huaweiRules(remote: id, count: min(count, 100))
                }
                out.append(LoadRequest(bytes: bytes, expectation: expectation, kind: show ? "vpc:show-group" : "vpc:rules-by-remote"))
            }
        }
        return out
    }
}
