import CloudModel
import CloudSim
import Foundation
import TapedeckHTTP
import TapedeckTesting
import Testing

/// Parses a JSON object body.
func json(_ r: RawHTTPClient.Response) throws -> [String: Any] {
    try #require(try JSONSerialization.jsonObject(with: Data(r.body)) as? [String: Any], "not a JSON object: \(r.bodyString)")
}

/// `GET /?Action=…&RegionId=cn-hangzhou&…` against the simulator.
func ecs(
    _ sim: TestSimulator, _ action: String, _ params: [(String, String)] = [], region: String = "cn-hangzhou",
    method: String = "GET"
) async throws -> RawHTTPClient.Response {
    var q = "Action=\(action)&Version=2014-05-26&Format=JSON"
    if !region.isEmpty { q += "&RegionId=\(region)" }
    for (k, v) in params { q += "&\(k)=\(v.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? v)" }
    if method == "POST" {
        return try await RawHTTPClient.request(
            "POST", "/", port: sim.port, headers: [("Content-Type", "application/x-www-form-urlencoded")],
            body: Array(q.utf8))
    }
    return try await RawHTTPClient.request("GET", "/?\(q)", port: sim.port)
}

/// The referencing group ids of each queried group, from a DescribeSecurityGroupReferences body.
func referencing(_ body: [String: Any]) -> [String: [String]] {
    var out: [String: [String]] = [:]
    let refs = ((body["SecurityGroupReferences"] as? [String: Any])?["SecurityGroupReference"] as? [[String: Any]]) ?? []
    for r in refs {
        let list = ((r["ReferencingSecurityGroups"] as? [String: Any])?["ReferencingSecurityGroup"] as? [[String: Any]]) ?? []
        out[r["SecurityGroupId"] as! String] = list.map { $0["SecurityGroupId"] as! String }
    }
    return out
}
