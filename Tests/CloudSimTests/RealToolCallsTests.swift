import CloudSim
import Foundation
import TapedeckTesting
import Testing

/// The calls widely used tools make beyond the SDKs' seed flows (issue: every client a user brings).
@Suite struct RealToolCallsTests {
    @Test func modifySecurityGroupAttributeChangesNameAndDescription() async throws {
        try await TestSimulator.with(groups: 5) { sim in
            let id = try json(try await ecs(sim, "CreateSecurityGroup", [("SecurityGroupName", "before")]))["SecurityGroupId"] as! String
            let r = try await ecs(sim, "ModifySecurityGroupAttribute", [("SecurityGroupId", id), ("SecurityGroupName", "after"),
                                                                         ("Description", "changed by a tool")], method: "POST")
            #expect(r.status == 200, "\(r.bodyString)")
            #expect(try json(r).keys.sorted() == ["RequestId"])
            let a = try json(try await ecs(sim, "DescribeSecurityGroupAttribute", [("SecurityGroupId", id)]))
            #expect(a["SecurityGroupName"] as? String == "after" && a["Description"] as? String == "changed by a tool")
            let missing = try await ecs(sim, "ModifySecurityGroupAttribute", [("SecurityGroupId", "sg-doesnotexist"), ("SecurityGroupName", "x1")])
            #expect(missing.status == 404)
            #expect(try json(missing)["Code"] as? String == "InvalidSecurityGroupId.NotFound")
            let bad = try await ecs(sim, "ModifySecurityGroupAttribute", [("SecurityGroupId", id), ("SecurityGroupName", "http://x")])
            #expect(bad.status == 400)
            #expect(try json(bad)["Code"] as? String == "InvalidSecurityGroupName.Malformed")
        }
    }

    @Test func nextTokenLoopsVisitEveryGroupOnce() async throws {
        try await TestSimulator.with(groups: 57) { sim in
            var seen: [String] = []
            var token = ""
            var calls = 0
            repeat {
                var params = [("MaxResults", "10")]
                if !token.isEmpty { params.append(("NextToken", token)) }
                let body = try json(try await ecs(sim, "DescribeSecurityGroups", params))
                let groups = ((body["SecurityGroups"] as? [String: Any])?["SecurityGroup"] as? [[String: Any]]) ?? []
                seen += groups.map { $0["SecurityGroupId"] as! String }
                token = body["NextToken"] as? String ?? ""
                #expect(body["TotalCount"] as? Int == 57)
                calls += 1
            } while !token.isEmpty && calls < 20
            #expect(calls == 6)
            #expect(seen.count == 57 && Set(seen).count == 57, "every group once")
            let paged = try json(try await ecs(sim, "DescribeSecurityGroups", [("PageSize", "50"), ("PageNumber", "2")]))
            #expect(paged["PageNumber"] as? Int == 2 && paged["NextToken"] as? String == "")
            let bad = try await ecs(sim, "DescribeSecurityGroups", [("NextToken", "garbage")])
            #expect(bad.status == 400)
            #expect(try json(bad)["Code"] as? String == "InvalidNextToken.Malformed")
        }
    }

    @Test func aRepeatedClientTokenReturnsTheSameGroup() async throws {
        try await TestSimulator.with(groups: 5) { sim in
            func create(_ token: String) async throws -> String {
                try json(try await ecs(sim, "CreateSecurityGroup", [("SecurityGroupName", "idem"), ("ClientToken", token)]))["SecurityGroupId"] as! String
            }
            let a = try await create("token-1"), again = try await create("token-1"), b = try await create("token-2")
            #expect(a == again && a != b)
            let total = try json(try await ecs(sim, "DescribeSecurityGroups", []))["TotalCount"] as? Int
            #expect(total == 7, "5 synthetic groups and 2 created")
        }
    }

    @Test func huaweiUpdateSecurityGroup() async throws {
        try await TestSimulator.with(groups: 5) { sim in
            let project = sim.simulator.huawei.store.ownerID
            let created = try json(try await RawHTTPClient.request("POST", "/v3/\(project)/vpc/security-groups", port: sim.port,
                headers: [("Content-Type", "application/json")], body: Array(#"{"security_group":{"name":"before"}}"#.utf8)))
            let id = (created["security_group"] as! [String: Any])["id"] as! String
            let r = try await RawHTTPClient.request("PUT", "/v3/\(project)/vpc/security-groups/\(id)", port: sim.port,
                headers: [("Content-Type", "application/json")], body: Array(#"{"security_group":{"name":"after","description":"d2"}}"#.utf8))
            #expect(r.status == 200, "\(r.bodyString)")
            let sg = try json(r)["security_group"] as! [String: Any]
            #expect(sg["name"] as? String == "after" && sg["description"] as? String == "d2")
            let shown = try json(try await RawHTTPClient.request("GET", "/v3/\(project)/vpc/security-groups/\(id)", port: sim.port))
            #expect((shown["security_group"] as! [String: Any])["name"] as? String == "after")
            let missing = try await RawHTTPClient.request("PUT", "/v3/\(project)/vpc/security-groups/00000000-0000-4000-8000-000000000000",
                port: sim.port, headers: [("Content-Type", "application/json")], body: Array(#"{"security_group":{"name":"x"}}"#.utf8))
            #expect(missing.status == 404)
            #expect(try json(missing)["error_code"] as? String == "VPC.0603")
        }
    }

    @Test func callsOutsideTheSurfaceKeepTheCloudsShapeAndSaySo() async throws {
        try await TestSimulator.with(groups: 5) { sim in
            let ecsCall = try await ecs(sim, "DescribeInstances")
            #expect(ecsCall.status == 404)
            let a = try json(ecsCall)
            #expect(a["Code"] as? String == "InvalidAction.NotFound" && (a["Message"] as? String ?? "").contains("covers the ECS security-group actions"))
            for path in ["/v2/\(sim.simulator.huawei.store.ownerID)/vpcs", "/v2.0/security-groups", "/v1/p/vpcs"] {
                let r = try await RawHTTPClient.request("GET", path, port: sim.port)
                #expect(r.status == 404, "\(path)")
                let h = try json(r)
                #expect(h["error_code"] as? String == "APIGW.0101" && (h["error_msg"] as? String ?? "").contains("VPC v3 security groups"), "\(path): \(h)")
            }
        }
    }
}
