import CloudSim
import Foundation
import TapedeckHTTP
import TapedeckTesting
import Testing

/// The calls widely used tools make beyond the SDKs' seed flows (issue: every client a user brings).
@Suite struct RealToolCallsTests {
    @Test func modifySecurityGroupAttributeChangesNameAndDescription() async throws {
        try await TestSimulator.with(groups: 5) { sim in
            let id = try json(try await ecs(sim, "CreateSecurityGroup", [("SecurityGroupName", "before")]))["SecurityGroupId"] as! String
            let r = try await ecs(
                sim, "ModifySecurityGroupAttribute",
                [
                    ("SecurityGroupId", id), ("SecurityGroupName", "after"),
                    ("Description", "changed by a tool"),
                ], method: "POST")
            #expect(r.status == 200, "\(r.bodyString)")
            #expect(try json(r).keys.sorted() == ["RequestId"])
            let a = try json(try await ecs(sim, "DescribeSecurityGroupAttribute", [("SecurityGroupId", id)]))
            #expect(a["SecurityGroupName"] as? String == "after" && a["Description"] as? String == "changed by a tool")
            let missing = try await ecs(
                sim, "ModifySecurityGroupAttribute", [("SecurityGroupId", "sg-doesnotexist"), ("SecurityGroupName", "x1")])
            #expect(missing.status == 404)
            #expect(try json(missing)["Code"] as? String == "InvalidSecurityGroupId.NotFound")
            for name in ["http://x", "1abc", "ab cd", "x"] {
                let bad = try await ecs(sim, "ModifySecurityGroupAttribute", [("SecurityGroupId", id), ("SecurityGroupName", name)])
                #expect(try bad.status == 400 && (json(bad)["Code"] as? String) == "InvalidSecurityGroupName.Malformed", "\(name)")
            }
            let badDescription = try await ecs(
                sim, "ModifySecurityGroupAttribute", [("SecurityGroupId", id), ("Description", "https://x")])
            #expect(
                try badDescription.status == 400 && (json(badDescription)["Code"] as? String) == "InvalidSecurityGroupDiscription.Malformed"
            )
            // Empty values leave the attributes alone (aliyunsdkecs sends "" for unset fields).
            let empty = try await ecs(
                sim, "ModifySecurityGroupAttribute", [("SecurityGroupId", id), ("SecurityGroupName", ""), ("Description", "")])
            #expect(empty.status == 200)
            let kept = try json(try await ecs(sim, "DescribeSecurityGroupAttribute", [("SecurityGroupId", id)]))
            #expect(kept["SecurityGroupName"] as? String == "after" && kept["Description"] as? String == "changed by a tool")
            for (field, value) in [("SecurityGroupName", "9lives"), ("Description", "x"), ("Description", "http://abc")] {
                let r = try await ecs(sim, "CreateSecurityGroup", [(field, value)])
                #expect(r.status == 400, "create with \(field)=\(value)")
            }
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
                #expect(body["TotalCount"] == nil && body["MaxResults"] == nil, "token paging answers neither (the response model)")
                calls += 1
            } while !token.isEmpty && calls < 20
            #expect(calls == 6)
            #expect(seen.count == 57 && Set(seen).count == 57, "every group once")
            let paged = try json(try await ecs(sim, "DescribeSecurityGroups", [("PageSize", "50"), ("PageNumber", "2")]))
            #expect(paged["PageNumber"] as? Int == 2 && paged["NextToken"] as? String == "")
            #expect(paged["TotalCount"] as? Int == 57)
            for garbage in ["garbage", "tdkzzzzzz"] {
                let bad = try await ecs(sim, "DescribeSecurityGroups", [("NextToken", garbage)])
                #expect(bad.status == 400)
                #expect(try json(bad)["Code"] as? String == "InvalidNextToken.Malformed")
            }
        }
    }

    @Test func aRepeatedClientTokenReturnsTheSameGroup() async throws {
        try await TestSimulator.with(groups: 5) { sim in
            func create(_ token: String) async throws -> String {
                try json(try await ecs(sim, "CreateSecurityGroup", [("SecurityGroupName", "idem"), ("ClientToken", token)]))[
                    "SecurityGroupId"] as! String
            }
            let a = try await create("token-1"), again = try await create("token-1"), b = try await create("token-2")
            #expect(a == again && a != b)
            // The same token with other parameters is refused, not answered with the first group.
            let other = try await ecs(sim, "CreateSecurityGroup", [("SecurityGroupName", "idem2"), ("ClientToken", "token-1")])
            #expect(try other.status == 400 && (json(other)["Code"] as? String) == "IdempotenceParamNotMatch", "\(other.bodyString)")
            for bad in [String(repeating: "a", count: 65), "中文"] {
                let r = try await ecs(sim, "CreateSecurityGroup", [("SecurityGroupName", "idem"), ("ClientToken", bad)])
                #expect(try r.status == 400 && (json(r)["Code"] as? String) == "InvalidClientToken.ValueNotSupported")
            }
            let total = try json(try await ecs(sim, "DescribeSecurityGroups", []))["TotalCount"] as? Int
            #expect(total == 7, "5 synthetic groups and 2 created")
        }
    }

    @Test func huaweiUpdateSecurityGroup() async throws {
        try await TestSimulator.with(groups: 5) { sim in
            let project = sim.simulator.huawei.store.ownerID
            let created = try json(
                try await RawHTTPClient.request(
                    "POST", "/v3/\(project)/vpc/security-groups", port: sim.port,
                    headers: [("Content-Type", "application/json")], body: Array(#"{"security_group":{"name":"before"}}"#.utf8)))
            let id = (created["security_group"] as! [String: Any])["id"] as! String
            let r = try await RawHTTPClient.request(
                "PUT", "/v3/\(project)/vpc/security-groups/\(id)", port: sim.port,
                headers: [("Content-Type", "application/json")],
                body: Array(#"{"security_group":{"name":"after","description":"d2"}}"#.utf8))
            #expect(r.status == 200, "\(r.bodyString)")
            let sg = try json(r)["security_group"] as! [String: Any]
            #expect(sg["name"] as? String == "after" && sg["description"] as? String == "d2")
            let shown = try json(try await RawHTTPClient.request("GET", "/v3/\(project)/vpc/security-groups/\(id)", port: sim.port))
            #expect((shown["security_group"] as! [String: Any])["name"] as? String == "after")
            let missing = try await RawHTTPClient.request(
                "PUT", "/v3/\(project)/vpc/security-groups/00000000-0000-4000-8000-000000000000",
                port: sim.port, headers: [("Content-Type", "application/json")], body: Array(#"{"security_group":{"name":"x"}}"#.utf8))
            #expect(missing.status == 404)
            #expect(try json(missing)["error_code"] as? String == "VPC.0603")
            // dry_run checks and changes nothing: 202 with the result in the error fields.
            let dry = try await RawHTTPClient.request(
                "PUT", "/v3/\(project)/vpc/security-groups/\(id)", port: sim.port,
                headers: [("Content-Type", "application/json")], body: Array(#"{"dry_run":true,"security_group":{"name":"dry"}}"#.utf8))
            #expect(try dry.status == 202 && (json(dry)["error_code"] as? String) == "DryRunOperation", "\(dry.bodyString)")
            let still = try json(try await RawHTTPClient.request("GET", "/v3/\(project)/vpc/security-groups/\(id)", port: sim.port))
            #expect((still["security_group"] as! [String: Any])["name"] as? String == "after")
            let dryCreate = try await RawHTTPClient.request(
                "POST", "/v3/\(project)/vpc/security-groups", port: sim.port,
                headers: [("Content-Type", "application/json")], body: Array(#"{"dry_run":true,"security_group":{"name":"dry"}}"#.utf8))
            #expect(dryCreate.status == 202)
            let list = try json(try await RawHTTPClient.request("GET", "/v3/\(project)/vpc/security-groups?name=dry", port: sim.port))
            #expect((list["security_groups"] as? [Any])?.isEmpty == true, "a dry-run create creates nothing")
            // A dry_run that is not a boolean is refused, not taken for false (or for true).
            for value in [#""true""#, "1", "{}"] {
                let odd = try await RawHTTPClient.request(
                    "POST", "/v3/\(project)/vpc/security-groups", port: sim.port,
                    headers: [("Content-Type", "application/json")], body: Array(#"{"dry_run":\#(value),"security_group":{"name":"dry"}}"#.utf8))
                #expect(try odd.status == 400 && (json(odd)["error_code"] as? String) == "VPC.0601", "\(value): \(odd.bodyString)")
            }
            let after = try json(try await RawHTTPClient.request("GET", "/v3/\(project)/vpc/security-groups?name=dry", port: sim.port))
            #expect((after["security_groups"] as? [Any])?.isEmpty == true, "nothing was created")
            // A rule's dry run checks and creates nothing either.
            let rulesBefore = try json(try await RawHTTPClient.request("GET", "/v3/\(project)/vpc/security-group-rules?security_group_id=\(id)", port: sim.port))
            let dryRule = try await RawHTTPClient.request(
                "POST", "/v3/\(project)/vpc/security-group-rules", port: sim.port, headers: [("Content-Type", "application/json")],
                body: Array(#"{"dry_run":true,"security_group_rule":{"security_group_id":"\#(id)","direction":"ingress","protocol":"tcp","multiport":"8443"}}"#.utf8))
            #expect(try dryRule.status == 202 && (json(dryRule)["error_code"] as? String) == "DryRunOperation", "\(dryRule.bodyString)")
            let rulesAfter = try json(try await RawHTTPClient.request("GET", "/v3/\(project)/vpc/security-group-rules?security_group_id=\(id)", port: sim.port))
            #expect((rulesAfter["security_group_rules"] as? [Any])?.count == (rulesBefore["security_group_rules"] as? [Any])?.count)
        }
    }

    @Test func callsOutsideTheSurfaceKeepTheCloudsShapeAndSaySo() async throws {
        try await TestSimulator.with(groups: 5) { sim in
            let ecsCall = try await ecs(sim, "DescribeInstances")
            #expect(ecsCall.status == 404)
            let a = try json(ecsCall)
            #expect(
                a["Code"] as? String == "InvalidAction.NotFound"
                    && (a["Message"] as? String ?? "").contains("covers the ECS security-group actions"))
            for path in ["/v2/\(sim.simulator.huawei.store.ownerID)/vpcs", "/v2.0/security-groups", "/v1/p/vpcs"] {
                let r = try await RawHTTPClient.request("GET", path, port: sim.port)
                #expect(r.status == 404, "\(path)")
                let h = try json(r)
                #expect(
                    h["error_code"] as? String == "APIGW.0101" && (h["error_msg"] as? String ?? "").contains("VPC v3 security groups"),
                    "\(path): \(h)")
            }
        }
    }
}
