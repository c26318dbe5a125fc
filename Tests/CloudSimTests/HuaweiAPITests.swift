import CloudSim
import Foundation
import TapedeckHTTP
import TapedeckTesting
import Testing

private func vpc(_ sim: TestSimulator, _ method: String, _ path: String, _ body: String? = nil) async throws -> RawHTTPClient.Response {
    let project = sim.simulator.huawei.store.ownerID
    return try await RawHTTPClient.request(
        method, "/v3/\(project)/vpc/\(path)", port: sim.port,
        headers: [("Content-Type", "application/json")], body: Array((body ?? "").utf8))
}

@Suite struct HuaweiAPITests {
    @Test func showSecurityGroupHasEverySeedField() async throws {
        try await TestSimulator.with(groups: 50) { sim in
            let id = sim.simulator.huawei.store.generatedID(of: 3)
            let r = try await vpc(sim, "GET", "security-groups/\(id)")
            #expect(r.status == 200)
            let body = try json(r)
            #expect(r.header("X-Request-Id") == body["request_id"] as? String)
            #expect(r.header("x-acs-request-id") == nil, "Huawei answers carry no Alibaba headers")
            let sg = try #require(body["security_group"] as? [String: Any])
            for k in [
                "id", "name", "description", "project_id", "created_at", "updated_at", "enterprise_project_id", "tags",
                "security_group_rules",
            ] {
                #expect(sg[k] != nil, "missing \(k)")
            }
            let rules = try #require(sg["security_group_rules"] as? [[String: Any]])
            #expect(!rules.isEmpty)
            for rule in rules {
                for k in [
                    "id", "description", "security_group_id", "direction", "protocol", "ethertype", "multiport", "action", "priority",
                    "remote_group_id", "remote_ip_prefix", "remote_address_group_id", "created_at", "updated_at", "project_id",
                ] {
                    #expect(rule.keys.contains(k), "rule missing \(k)")
                }
            }
        }
    }

    /// HEAD on a read call answers as GET does, with the headers alone (it was 404 APIGW.0101).
    @Test func headOfAShowIsItsGetWithoutTheBody() async throws {
        try await TestSimulator.with(groups: 5) { sim in
            let id = sim.simulator.huawei.store.generatedID(of: 1)
            let project = sim.simulator.huawei.store.ownerID
            let get = try await vpc(sim, "GET", "security-groups/\(id)")
            let c = try await RawHTTPConnection.connect(port: sim.port)
            defer { Task { await c.close() } }
            try await c.send("HEAD /v3/\(project)/vpc/security-groups/\(id) HTTP/1.1\r\nHost: x\r\n\r\n")
            let head = try await c.received { $0.contains("\r\n\r\n") }
            #expect(head.hasPrefix("HTTP/1.1 200 OK\r\n"), "\(head)")
            #expect(head.contains("Content-Length: \(get.body.count)\r\n"), "\(head) vs \(get.body.count) bytes")
            #expect(head.hasSuffix("\r\n\r\n"), "no body: \(head)")
        }
    }

    @Test func ruleFlowAndReverseLookup() async throws {
        try await TestSimulator.with(groups: 20) { sim in
            let a = try json(try await vpc(sim, "POST", "security-groups", #"{"security_group":{"name":"a"}}"#))
            let aID = (a["security_group"] as! [String: Any])["id"] as! String
            #expect(((a["security_group"] as! [String: Any])["security_group_rules"] as! [Any]).count == 4, "default rules")
            let b = try await vpc(sim, "POST", "security-groups", #"{"security_group":{"name":"b","tags":[{"key":"env","value":"ci"}]}}"#)
            #expect(b.status == 201)
            let bID = (try json(b)["security_group"] as! [String: Any])["id"] as! String
            let rule = try await vpc(
                sim, "POST", "security-group-rules",
                #"{"security_group_rule":{"security_group_id":"\#(bID)","direction":"ingress","protocol":"tcp","multiport":"22","remote_group_id":"\#(aID)","priority":1}}"#
            )
            #expect(rule.status == 201, "\(rule.bodyString)")
            let ruleID = (try json(rule)["security_group_rule"] as! [String: Any])["id"] as! String

            let dup = try await vpc(
                sim, "POST", "security-group-rules",
                #"{"security_group_rule":{"security_group_id":"\#(bID)","direction":"ingress","protocol":"tcp","multiport":"22","remote_group_id":"\#(aID)"}}"#
            )
            #expect(dup.status == 409)

            let listed = try json(try await vpc(sim, "GET", "security-group-rules?remote_group_id=\(aID)"))
            let found = (listed["security_group_rules"] as! [[String: Any]]).map { $0["id"] as! String }
            // A's own default ingress rules reference A too.
            #expect(found.contains(ruleID) && found.count == 3)

            let inUse = try await vpc(sim, "DELETE", "security-groups/\(aID)")
            #expect(try inUse.status == 409 && (json(inUse)["error_code"] as? String) != nil)
            #expect(try await vpc(sim, "GET", "security-group-rules/\(ruleID)").status == 200)
            #expect(try await vpc(sim, "DELETE", "security-group-rules/\(ruleID)").status == 204)
            #expect(try await vpc(sim, "GET", "security-group-rules/\(ruleID)").status == 404)
            #expect(try await vpc(sim, "DELETE", "security-groups/\(aID)").status == 204)
            #expect(try await vpc(sim, "GET", "security-groups/\(aID)").status == 404)
        }
    }

    @Test func listPagesWithMarkers() async throws {
        try await TestSimulator.with(groups: 25) { sim in
            var marker = ""
            var seen: [String] = []
            for _ in 0..<5 {
                let page = try json(try await vpc(sim, "GET", "security-groups?limit=10\(marker.isEmpty ? "" : "&marker=\(marker)")"))
                seen += (page["security_groups"] as! [[String: Any]]).map { $0["id"] as! String }
                guard let next = (page["page_info"] as! [String: Any])["next_marker"] as? String else { break }
                marker = next
            }
            #expect(seen.count == 25 && Set(seen).count == 25)
        }
    }

    @Test func errorsCarryErrorCodeMessageAndRequestIdHeader() async throws {
        try await TestSimulator.with(groups: 5) { sim in
            for (method, path, status) in [
                ("GET", "security-groups/00000000-0000-0000-0000-000000000000", 404),
                ("GET", "no-such-collection", 404), ("PUT", "security-groups", 404),
                ("POST", "security-groups", 400),
            ] {
                let r = try await vpc(sim, method, path, method == "POST" ? "{not json" : nil)
                #expect(r.status == status, "\(method) \(path): \(r.bodyString)")
                let body = try json(r)
                #expect(body["error_code"] is String && body["error_msg"] is String)
                #expect(r.header("X-Request-Id")?.count == 32)
            }
        }
    }
}
