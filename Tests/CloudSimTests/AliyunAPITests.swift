import CloudModel
import CloudSim
import Foundation
import TapedeckHTTP
import TapedeckTesting
import Testing

@Suite struct AliyunAPITests {
    @Test func referencesMatchGroundTruthInJSONAndXML() async throws {
        try await TestSimulator.with(groups: 2000) { sim in
            let store = sim.simulator.aliyun.store
            let snap = store.snapshot()
            let ids = [0, 1, 5, 1999].map { store.generatedID(of: UInt32($0)) }
            let r = try await ecs(
                sim, "DescribeSecurityGroupReferences", ids.enumerated().map { ("SecurityGroupId.\($0.offset + 1)", $0.element) })
            #expect(r.status == 200)
            let body = try json(r)
            #expect((body["RequestId"] as? String)?.count == 36)
            let got = referencing(body)
            #expect(Set(got.keys) == Set(ids))
            let total = got.values.map(\.count).reduce(0, +)
            #expect(total <= 100, "at most 100 referencing records per response")
            for (i, id) in ids.enumerated() where total < 100 {
                let truth = Set(referrersByScan(snap, UInt32([0, 1, 5, 1999][i])).map { store.generatedID(of: $0) })
                #expect(Set(got[id]!) == truth)
            }
            let first = try #require(
                ((body["SecurityGroupReferences"] as? [String: Any])?["SecurityGroupReference"] as? [[String: Any]])?.first)
            let rec = try #require(
                ((first["ReferencingSecurityGroups"] as? [String: Any])?["ReferencingSecurityGroup"] as? [[String: Any]])?.first)
            #expect(rec["AliUid"] is String)

            let xml = try await RawHTTPClient.request(
                "GET", "/?Action=DescribeSecurityGroupReferences&RegionId=cn-hangzhou&Format=XML&SecurityGroupId.1=\(ids[3])",
                port: sim.port)
            #expect(xml.status == 200 && xml.header("Content-Type")!.hasPrefix("text/xml"))
            #expect(xml.bodyString.contains("<DescribeSecurityGroupReferencesResponse><RequestId>"))
            #expect(
                xml.bodyString.contains("<SecurityGroupReference><SecurityGroupId>\(ids[3])</SecurityGroupId><ReferencingSecurityGroups>"))
        }
    }

    @Test func popularGroupIsCappedAtOneHundredRecords() async throws {
        try await TestSimulator.with(groups: 20000) { sim in
            let id = sim.simulator.aliyun.store.generatedID(of: 0)
            let got = referencing(try json(try await ecs(sim, "DescribeSecurityGroupReferences", [("SecurityGroupId.1", id)])))
            #expect(got[id]?.count == 100)
        }
    }

    @Test func seedFlowCreateAuthorizeReferenceDeleteRevoke() async throws {
        try await TestSimulator.with(groups: 10) { sim in
            let a = try json(try await ecs(sim, "CreateSecurityGroup", [("SecurityGroupName", "group-a")]))["SecurityGroupId"] as! String
            let b =
                try json(try await ecs(sim, "CreateSecurityGroup", [("SecurityGroupName", "group-b")], method: "POST"))["SecurityGroupId"]
                as! String
            #expect(
                try json(try await ecs(sim, "DescribeSecurityGroups"))["TotalCount"] as? Int == 12, "the region count follows creations")
            let auth = try await ecs(
                sim, "AuthorizeSecurityGroup",
                [("SecurityGroupId", b), ("IpProtocol", "tcp"), ("PortRange", "22/22"), ("SourceGroupId", a)])
            #expect(auth.status == 200, "\(auth.bodyString)")
            // The newer SDK's Permissions.N form, egress, from A to B: both directions count.
            let egress = try await ecs(
                sim, "AuthorizeSecurityGroupEgress",
                [
                    ("SecurityGroupId", a), ("Permissions.1.IpProtocol", "TCP"),
                    ("Permissions.1.PortRange", "80/80"), ("Permissions.1.DestGroupId", b),
                ])
            #expect(egress.status == 200, "\(egress.bodyString)")
            let refs = referencing(
                try json(
                    try await ecs(
                        sim, "DescribeSecurityGroupReferences", [("SecurityGroupId.1", a), ("SecurityGroupId.2", b)], method: "POST")))
            #expect(refs[a] == [b] && refs[b] == [a])

            let del = try await ecs(sim, "DeleteSecurityGroup", [("SecurityGroupId", a)])
            #expect(del.status == 403)
            #expect(try json(del)["Code"] as? String == "DependencyViolation")

            let attr = try json(try await ecs(sim, "DescribeSecurityGroupAttribute", [("SecurityGroupId", b)]))
            let perms = (attr["Permissions"] as! [String: Any])["Permission"] as! [[String: Any]]
            #expect(perms.count == 1 && perms[0]["SourceGroupId"] as? String == a && perms[0]["IpProtocol"] as? String == "TCP")

            #expect(
                try await ecs(
                    sim, "RevokeSecurityGroup",
                    [("SecurityGroupId", b), ("IpProtocol", "tcp"), ("PortRange", "22/22"), ("SourceGroupId", a)]
                ).status == 200)
            #expect(referencing(try json(try await ecs(sim, "DescribeSecurityGroupReferences", [("SecurityGroupId.1", a)])))[a] == [])
            #expect(try await ecs(sim, "DeleteSecurityGroup", [("SecurityGroupId", a)]).status == 200)
            #expect(try json(try await ecs(sim, "DescribeSecurityGroups"))["TotalCount"] as? Int == 11, "and deletions")
            let gone = try await ecs(sim, "DescribeSecurityGroupAttribute", [("SecurityGroupId", a)])
            #expect(try gone.status == 404 && (json(gone)["Code"] as? String) == "InvalidSecurityGroupId.NotFound")
        }
    }

    @Test func describeSecurityGroupsPagesAndFilters() async throws {
        try await TestSimulator.with(groups: 25) { sim in
            let page3 = try json(try await ecs(sim, "DescribeSecurityGroups", [("PageNumber", "3"), ("PageSize", "10")]))
            #expect(page3["TotalCount"] as? Int == 25)
            #expect(((page3["SecurityGroups"] as! [String: Any])["SecurityGroup"] as! [Any]).count == 5)
            let ids = [0, 7].map { sim.simulator.aliyun.store.generatedID(of: UInt32($0)) }
            let filtered = try json(try await ecs(sim, "DescribeSecurityGroups", [("SecurityGroupIds", "[\"\(ids[0])\",\"\(ids[1])\"]")]))
            #expect(filtered["TotalCount"] as? Int == 2)
            let elsewhere = try json(try await ecs(sim, "DescribeSecurityGroups", [], region: "cn-beijing"))
            #expect(elsewhere["TotalCount"] as? Int == 0)
        }
    }

    /// `SecurityGroupIds` in any order, with repeats: a MaxResults/NextToken loop lists each group once and ends
    /// (it listed the same group with the same token for ever); more than 100 ids are refused.
    @Test func tokenPagingOverGivenIdsEnds() async throws {
        try await TestSimulator.with(groups: 25) { sim in
            let listed = try json(try await ecs(sim, "DescribeSecurityGroups", [("PageSize", "4")]))
            let ids = ((listed["SecurityGroups"] as! [String: Any])["SecurityGroup"] as! [[String: Any]]).compactMap { $0["SecurityGroupId"] as? String }
            #expect(ids.count == 4)
            let given = [ids[3], ids[0], ids[2], ids[0], ids[1]]
            let list = "[" + given.map { "\"\($0)\"" }.joined(separator: ",") + "]"
            var seen: [String] = [], token = "", pages = 0
            repeat {
                var params = [("SecurityGroupIds", list), ("MaxResults", "1")]
                if !token.isEmpty { params.append(("NextToken", token)) }
                let page = try json(try await ecs(sim, "DescribeSecurityGroups", params))
                seen += ((page["SecurityGroups"] as! [String: Any])["SecurityGroup"] as! [[String: Any]]).compactMap { $0["SecurityGroupId"] as? String }
                token = page["NextToken"] as? String ?? ""
                pages += 1
            } while !token.isEmpty && pages < 10
            #expect(seen == ids, "\(pages) pages: \(seen)")
            let many = "[" + (0..<101).map { _ in "\"\(ids[0])\"" }.joined(separator: ",") + "]"
            let refused = try await ecs(sim, "DescribeSecurityGroups", [("SecurityGroupIds", many)])
            #expect(try refused.status == 400 && json(refused)["Code"] as? String == "InvalidSecurityGroupIds.Malformed")
        }
    }

    /// (parameters, expected status, expected Code)
    static let badInputs: [([(String, String)], String, Int, String)] = [
        ([], "DescribeSecurityGroupReferences", 400, "InvalidSecurityGroupId.Malformed"),
        (
            (1...11).map { ("SecurityGroupId.\($0)", "sg-x\($0)") }, "DescribeSecurityGroupReferences", 400,
            "InvalidSecurityGroupId.Malformed"
        ),
        ([("SecurityGroupId.x", "sg-a")], "DescribeSecurityGroupReferences", 400, "InvalidSecurityGroupId.Malformed"),
        ([("SecurityGroupId.1", "sg-doesnotexist")], "DescribeSecurityGroupReferences", 400, "InvalidSecurityGroupId.NotFound"),
        ([("SecurityGroupId", "sg-doesnotexist")], "DeleteSecurityGroup", 404, "InvalidSecurityGroupId.NotFound"),
        ([], "NoSuchAction", 404, "InvalidAction.NotFound"),
        ([("PageSize", "500")], "DescribeSecurityGroups", 400, "InvalidPageSize.Malformed"),
    ]

    @Test(arguments: badInputs)
    func badInputGetsTheCloudsErrorShape(params: [(String, String)], action: String, status: Int, code: String) async throws {
        try await TestSimulator.with(groups: 10) { sim in
            let r = try await ecs(sim, action, params)
            #expect(r.status == status, "\(r.bodyString)")
            let body = try json(r)
            #expect(body["Code"] as? String == code)
            for k in ["RequestId", "HostId", "Message", "Recommend"] { #expect(body[k] is String, "\(k)") }
            // Alibaba sends its request id in x-acs-request-id only; X-Request-Id is Huawei's.
            #expect(r.header("x-acs-request-id") == body["RequestId"] as? String)
            #expect(r.header("X-Request-Id") == nil)
        }
    }

    @Test func regionErrors() async throws {
        try await TestSimulator.with(groups: 10) { sim in
            let missing = try await ecs(sim, "DescribeSecurityGroups", [], region: "")
            #expect(try missing.status == 400 && (json(missing)["Code"] as? String) == "MissingRegionId")
            let unknown = try await ecs(sim, "DescribeSecurityGroups", [], region: "mars-1")
            #expect(try unknown.status == 404 && (json(unknown)["Code"] as? String) == "InvalidRegionId.NotFound")
        }
    }

    @Test func authorizeValidation() async throws {
        try await TestSimulator.with(groups: 10) { sim in
            let g = sim.simulator.aliyun.store.generatedID(of: 1)
            let noSource = try await ecs(
                sim, "AuthorizeSecurityGroup", [("SecurityGroupId", g), ("IpProtocol", "tcp"), ("PortRange", "22/22")])
            #expect(try json(noSource)["Code"] as? String == "MissingParameter.Source")
            let badSource = try await ecs(
                sim, "AuthorizeSecurityGroup",
                [("SecurityGroupId", g), ("IpProtocol", "tcp"), ("PortRange", "22/22"), ("SourceGroupId", "sg-nope")])
            #expect(try badSource.status == 404 && (json(badSource)["Code"] as? String) == "InvalidSourceGroupId.NotFound")
            let badPorts = try await ecs(
                sim, "AuthorizeSecurityGroup",
                [("SecurityGroupId", g), ("IpProtocol", "tcp"), ("PortRange", "99/1"), ("SourceCidrIp", "10.0.0.0/8")])
            #expect(try json(badPorts)["Code"] as? String == "InvalidPortRange.Malformed")
        }
    }

    @Test func sameCallsSameBytesWithAFixedClock() async throws {
        func session() async throws -> [String] {
            try await TestSimulator.with(groups: 300, seed: 5) { sim in
                var out: [String] = []
                let a = try json(try await ecs(sim, "CreateSecurityGroup", [("SecurityGroupName", "det")]))["SecurityGroupId"] as! String
                out.append(a)
                out.append(
                    try await ecs(
                        sim, "DescribeSecurityGroupReferences", [("SecurityGroupId.1", sim.simulator.aliyun.store.generatedID(of: 3))]
                    ).bodyString)
                out.append(try await ecs(sim, "DescribeSecurityGroupAttribute", [("SecurityGroupId", a)]).bodyString)
                return out
            }
        }
        let first = try await session(), second = try await session()
        #expect(first == second)
    }

    @Test func fixtureDataServesTheSeedExample() async throws {
        let path = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Fixtures/simulator-data.json").path
        let stores = try FixtureData.load(path: path).makeStores(seed: 1, file: path)
        let sim = Simulator(aliyun: stores.aliyun, huawei: stores.huawei, clock: SimulatorClock(fixedTime: 0, seed: 1))
        try await TestSimulator.with(simulator: sim) { sim in
            let refs = referencing(try json(try await ecs(sim, "DescribeSecurityGroupReferences", [("SecurityGroupId.1", "sg-1133aa")])))
            #expect(refs["sg-1133aa"] == ["sg-2255cc", "sg-2255dd"])
        }
    }

    @Test func brokenFixtureNamesFileAndRule() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("bad-\(UInt32.random(in: 0...UInt32.max)).json").path
        try #"{"format":1,"aliyun":{"groups":[{"id":"sg-a","name":"a","rules":[{"direction":"ingress","group":"sg-missing"}]}]}}"#
            .write(toFile: path, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: path) }
        #expect { try FixtureData.load(path: path).makeStores(seed: 1, file: path) } throws: { error in
            "\(error)".contains(path) && "\(error)".contains("rule 0") && "\(error)".contains("sg-missing")
        }
    }

    /// Values the simulator would serve as impossible data (a port past 65535, a /99 block, a protocol no cloud
    /// has) or ids no URL can name are refused at start, naming the file, group, rule and field.
    @Test(arguments: [
        (#"{"format":1,"aliyun":{"groups":[{"id":"sg-a","name":"a","rules":[{"direction":"ingress","ports":"99999/-5"}]}]}}"#, "ports 99999/-5"),
        (#"{"format":1,"aliyun":{"groups":[{"id":"sg-a","name":"a","rules":[{"direction":"ingress","protocol":"bogus"}]}]}}"#, "protocol \"bogus\""),
        (#"{"format":1,"aliyun":{"groups":[{"id":"sg-a","name":"a","rules":[{"direction":"ingress","cidr":"1.2.3.4/99"}]}]}}"#, "cidr \"1.2.3.4/99\""),
        (#"{"format":1,"aliyun":{"groups":[{"id":"sg-a","name":"a","rules":[{"direction":"ingress","priority":1000}]}]}}"#, "priority 1000"),
        (#"{"format":1,"aliyun":{"groups":[{"id":"sg-a","name":"a","rules":[{"direction":"ingress","priority":99999999999999999999999}]}]}}"#, "too large for its field"),
        (#"{"format":1,"aliyun":{"groups":[{"id":"sg-a","name":"a","region":"Mars 1"}]}}"#, "region \"Mars 1\""),
        (#"{"format":1,"huawei":{"project_id":"../../x","groups":[]}}"#, "huawei.project_id"),
        (#"{"format":1,"huawei":{"groups":[{"id":"x/y","name":"n"}]}}"#, "id \"x/y\""),
        (#"{"format":0}"#, "format 0"),
    ])
    func impossibleFixtureValuesAreRefused(_ c: (String, String)) throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("bad-\(UInt32.random(in: 0...UInt32.max)).json").path
        try c.0.write(toFile: path, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: path) }
        #expect { try FixtureData.load(path: path).makeStores(seed: 1, file: path) } throws: { error in
            "\(error)".contains(path) && "\(error)".contains(c.1)
        }
        // The cases that are fine: a port range, -1/-1, an IPv6 block, a protocol number.
        try #"{"format":1,"aliyun":{"groups":[{"id":"sg-a","name":"a","rules":[{"direction":"ingress","ports":"-1/-1","protocol":"6","cidr":"::/0"},{"direction":"egress","ports":"1/65535","cidr":"10.0.0.0/8"}]}]}}"#
            .write(toFile: path, atomically: true, encoding: .utf8)
        _ = try FixtureData.load(path: path).makeStores(seed: 1, file: path)
    }
}
