import Foundation
import CloudModel
import CloudSigning
import NIOCore
import NIOHTTP1
import Testing

@testable import CloudSim

/// The reference query's own path (`AliyunAPI.answerReferences`) against the general one
/// (`AliyunAPI.handle`): the same bytes for every request it takes, and nil for every request it must
/// leave to the general path. Two simulators built from the same data set and clock seed hand out the
/// same request ids in the same order, so whole bodies compare byte for byte.
@Suite struct ReferenceAnswerTests {
    static let groups = 3000

    static func pair() async -> (fast: Simulator, general: Simulator) {
        let data = SyntheticDataSet(groups: groups, seed: 7)
        let a = await Simulator.synthetic(data, clock: SimulatorClock(fixedTime: SyntheticDataSet.epoch, seed: 7))
        let b = await Simulator.synthetic(data, clock: SimulatorClock(fixedTime: SyntheticDataSet.epoch, seed: 7))
        return (a, b)
    }

    static func general(_ sim: Simulator, _ uri: String, headers: HTTPHeaders = [:]) throws -> APIResponse {
        var snap = sim.aliyun.store.snapshot()
        let req = try APIRequest(method: .GET, uri: uri, headers: headers, body: nil)
        return sim.aliyun.handle(req, form: QueryParameters(), snapshot: &snap, allocator: ByteBufferAllocator())
    }

    static func fast(_ sim: Simulator, _ uri: String, versionHeader: Bool = false) -> APIResponse? {
        var snap = sim.aliyun.store.snapshot()
        var scratch = ByteBuffer()
        return sim.aliyun.answerReferences(uri: uri, hasVersionHeader: versionHeader, snapshot: &snap, buffer: &scratch)
    }

    /// A group with more referrers than one answer carries, and one that references itself.
    static func interestingGroups(_ sim: Simulator) -> (hub: UInt32, selfReferencing: UInt32?) {
        let snap = sim.aliyun.store.snapshot()
        var hub: UInt32 = 0, most = 0
        var selfRef: UInt32?
        for h in 0..<UInt32(snap.handleCount) {
            guard let (_, refs) = snap.lookup(h) else { continue }
            if refs.count > most { (hub, most) = (h, refs.count) }
            if selfRef == nil, refs.contains(where: { $0.group == h }) { selfRef = h }
        }
        return (hub, selfRef)
    }

    @Test func theOwnPathWritesTheSameBytesAsTheGeneralOne() async throws {
        let (fastSim, generalSim) = await Self.pair()
        let (hub, selfRef) = Self.interestingGroups(fastSim)
        #expect(fastSim.aliyun.store.snapshot().lookup(hub)!.referrers.count > AliyunAPI.maxReferenceRecords)
        // (The API refuses a rule naming its own group; a fixture could hold one, and then it is skipped.)
        let selfReferencing = selfRef ?? hub
        let store = fastSim.aliyun.store
        let region = "cn-hangzhou"
        let snap = store.snapshot()
        let inRegion = (0..<UInt32(Self.groups)).filter { snap.partition(of: $0) == snap.partitionIndex(region) }
        var rng = SplitMix64(seed: 99)
        var compared = 0
        for round in 0..<400 {
            var slots = Array(1...10).shuffled(using: &rng)
            slots = Array(slots.prefix(1 + Int(rng.next() % 10)))
            var params: [String] = []
            for (k, slot) in slots.enumerated() {
                let h: UInt32 =
                    k == 0 && round % 3 == 0
                    ? hub : k == 1 && round % 4 == 0 ? selfReferencing : inRegion[Int(rng.next() % UInt64(inRegion.count))]
                params.append("SecurityGroupId.\(slot)=\(store.generatedID(of: h))")
            }
            params.append("Action=DescribeSecurityGroupReferences")
            params.append("RegionId=\(region)")
            switch round % 4 {
            case 0: params.append("Format=XML")
            case 1: params.append("Format=json")
            case 2: params.append("Format=xml")
            default: break
            }
            if round % 2 == 0 { params.append("Version=2014-05-26") }
            // What signed SDK calls add: encoded values the path passes over.
            if round % 5 == 0 { params += ["Timestamp=2026-11-24T10%3A00%3A00Z", "SignatureNonce=a+b", "Signature=x%2By%3D"] }
            params.shuffle(using: &rng)
            let uri = "/?" + params.joined(separator: "&")
            let general = try Self.general(generalSim, uri)
            let fast = try #require(Self.fast(fastSim, uri), "the own path took no plain reference query: \(uri)")
            #expect(general.status == .ok, "\(String(buffer: general.body))")
            #expect(fast.status == general.status && fast.contentType == general.contentType)
            #expect(fast.requestID == general.requestID && fast.requestIDHeader == general.requestIDHeader)
            #expect(fast.body == general.body, "\(uri)\nfast:    \(String(buffer: fast.body))\ngeneral: \(String(buffer: general.body))")
            compared += 1
        }
        #expect(compared == 400)
    }

    @Test func everythingElseIsLeftToTheGeneralPath() async throws {
        let (sim, _) = await Self.pair()
        let store = sim.aliyun.store
        let snap = store.snapshot()
        let inRegion = (0..<UInt32(Self.groups)).first { snap.partition(of: $0) == snap.partitionIndex("cn-hangzhou") }!
        let g = store.generatedID(of: inRegion)
        let made = try Self.general(sim, "/?Action=CreateSecurityGroup&RegionId=cn-beijing&SecurityGroupName=group-b")
        let elsewhere = try #require(
            String(buffer: made.body).split(separator: "\"").drop { $0 != "SecurityGroupId" }.dropFirst(2).first)
        let base = "Action=DescribeSecurityGroupReferences&RegionId=cn-hangzhou"
        #expect(Self.fast(sim, "/?\(base)&SecurityGroupId.1=\(g)") != nil, "the plain query itself is taken")
        let leftAlone: [(String, String)] = [
            ("/?\(base)&SecurityGroupId.1=sg-bp0000000000000", "an unknown id"),
            ("/?\(base)&SecurityGroupId.1=\(elsewhere)", "a group of another region"),
            ("/?\(base)&SecurityGroupId.1=\(g)x", "an id of the wrong length"),
            ("/?\(base)&SecurityGroupId.1=\(g)&SecurityGroupId.1=\(g)", "a repeated slot"),
            ("/?\(base)&SecurityGroupId.11=\(g)", "slot 11"),
            // Beside a valid id, an id parameter this path does not take must not be dropped silently.
            ("/?\(base)&SecurityGroupId.1=\(g)&SecurityGroupId.11=\(g)", "slot 11 beside slot 1"),
            ("/?\(base)&SecurityGroupId.1=\(g)&SecurityGroupId.1.5=x", "slot 1.5 beside slot 1"),
            ("/?\(base)&SecurityGroupId.1=\(g)&SecurityGroupId%2E2=\(g)", "an encoded name beside slot 1"),
            ("/?\(base)&SecurityGroupId.1=\(g)&Security%47roupId.2=\(g)", "an encoded letter beside slot 1"),
            ("/?\(base)&SecurityGroupId.0=\(g)", "slot 0"),
            ("/?\(base)&SecurityGroupId.01=\(g)", "slot 01"),
            ("/?\(base)&SecurityGroupId%2E1=\(g)", "an encoded name"),
            ("/?\(base)&SecurityGroupId.1=\(g.prefix(17))%61", "an encoded id"),
            ("/?\(base)&SecurityGroupId.1=", "an empty id"),
            ("/?\(base)", "no id"),
            ("/?Action=DescribeSecurityGroupReferences&SecurityGroupId.1=\(g)", "no region"),
            ("/?\(base.replacingOccurrences(of: "cn-hangzhou", with: "mars-1"))&SecurityGroupId.1=\(g)", "an unknown region"),
            ("/?\(base)&RegionId=cn-beijing&SecurityGroupId.1=\(g)", "a repeated region"),
            ("/?\(base)&Version=2016-01-01&SecurityGroupId.1=\(g)", "another API version"),
            ("/?Action=DescribeSecurityGroups&RegionId=cn-hangzhou&SecurityGroupId.1=\(g)", "another action"),
            ("/?\(base)&Action=DescribeSecurityGroupReferences&SecurityGroupId.1=\(g)", "a repeated action"),
            ("/?\(base)&Format=XML&Format=JSON&SecurityGroupId.1=\(g)", "a repeated format"),
            ("/?\(base)&SecurityGroupId.1=\(g)&Timestamp=%zz", "broken percent-encoding anywhere"),
            ("/?\(base)&SecurityGroupId.1=\(g)&Name=%C3%A9", "encoded non-ASCII anywhere"),
            ("/?\(base)&SecurityGroupId.1=\(g)&Name=\u{e9}", "raw non-ASCII anywhere"),
            ("/v3/?\(base)&SecurityGroupId.1=\(g)", "another path"),
            ("?\(base)&SecurityGroupId.1=\(g)", "no leading slash"),
        ]
        for (uri, what) in leftAlone {
            #expect(Self.fast(sim, uri) == nil, "\(what) must go to the general path: \(uri)")
        }
        #expect(
            Self.fast(sim, "/?\(base)&SecurityGroupId.1=\(g)", versionHeader: true) == nil,
            "an x-acs-version header without a Version parameter is the general path's to check")
        #expect(Self.fast(sim, "/?\(base)&Version=2014-05-26&SecurityGroupId.1=\(g)", versionHeader: true) != nil)

        // Through the simulator's entry point, the left-alone requests get the general path's answers.
        var cache = sim.makeReaderCache()
        func respond(_ uri: String) -> APIResponse {
            sim.respond(method: .GET, uri: uri, headers: [:], body: nil, cache: &cache, allocator: ByteBufferAllocator())
        }
        let unknown = respond("/?\(base)&SecurityGroupId.1=sg-bp0000000000000")
        #expect(unknown.status == .badRequest && String(buffer: unknown.body).contains("InvalidSecurityGroupId.NotFound"))
        let broken = respond("/?\(base)&SecurityGroupId.1=\(g)&Timestamp=%zz")
        #expect(broken.status == .badRequest, "\(String(buffer: broken.body))")
        let version = respond("/?\(base)&Version=2016-01-01&SecurityGroupId.1=\(g)")
        #expect(String(buffer: version.body).contains("InvalidVersion") || version.status != .ok)
        // A form body goes the general way too, and is still answered.
        let form = sim.respond(
            method: .POST, uri: "/", headers: HTTPHeaders([("Content-Type", "application/x-www-form-urlencoded")]),
            body: ByteBuffer(string: "\(base)&SecurityGroupId.1=\(g)"), cache: &cache, allocator: ByteBufferAllocator())
        #expect(form.status == .ok && String(buffer: form.body).contains(g))
    }

    @Test func aConnectionsAnswerBufferIsReusedOnlyOnceTheLastAnswerIsReleased() async throws {
        let (sim, _) = await Self.pair()
        var cache = sim.makeReaderCache()
        let snap = sim.aliyun.store.snapshot()
        let ids = (0..<UInt32(Self.groups)).filter { snap.partition(of: $0) == snap.partitionIndex("cn-hangzhou") }
            .prefix(2).map { sim.aliyun.store.generatedID(of: $0) }
        try #require(ids.count == 2)
        func respond(_ id: String) -> APIResponse {
            sim.respond(
                method: .GET, uri: "/?Action=DescribeSecurityGroupReferences&RegionId=cn-hangzhou&SecurityGroupId.1=\(id)",
                headers: [:], body: nil, cache: &cache, allocator: ByteBufferAllocator())
        }
        func address(_ b: ByteBuffer) -> UnsafeRawPointer? { b.withUnsafeReadableBytes { UnsafeRawPointer($0.baseAddress) } }
        // An answer still held (queued on the socket) keeps its bytes while the next one is rendered.
        let first = respond(ids[0])
        let firstText = String(buffer: first.body)
        let second = respond(ids[1])
        #expect(String(buffer: first.body) == firstText && firstText.contains(ids[0]))
        #expect(String(buffer: second.body).contains(#""SecurityGroupReference":[{"SecurityGroupId":"\#(ids[1])""#))
        #expect(address(first.body) != address(second.body))
        // Once released, the next answer is rendered into the same memory.
        let secondAddress = address(second.body)
        _ = consume second
        let third = respond(ids[0])
        #expect(address(third.body) == secondAddress)
        #expect(String(buffer: third.body).replacingOccurrences(of: #""RequestId":"[^"]*""#, with: "", options: .regularExpression)
            == firstText.replacingOccurrences(of: #""RequestId":"[^"]*""#, with: "", options: .regularExpression))
    }

    @Test func aCreatedGroupAndANewReferenceShowAtOnce() async throws {
        // The own path reads the same snapshots as the general one: a write is visible to the next query.
        let (sim, _) = await Self.pair()
        var cache = sim.makeReaderCache()
        func respond(_ uri: String) -> APIResponse {
            sim.respond(method: .GET, uri: uri, headers: [:], body: nil, cache: &cache, allocator: ByteBufferAllocator())
        }
        let snap = sim.aliyun.store.snapshot()
        // One with room in an answer for another referrer (a new one is listed last).
        let first = (0..<UInt32(Self.groups)).first {
            snap.partition(of: $0) == snap.partitionIndex("cn-hangzhou") && snap.lookup($0)!.referrers.count < 10
        }!
        let a = sim.aliyun.store.generatedID(of: first)
        let query = "/?Action=DescribeSecurityGroupReferences&RegionId=cn-hangzhou&SecurityGroupId.1="
        let created = respond("/?Action=CreateSecurityGroup&RegionId=cn-hangzhou&SecurityGroupName=group-n")
        let b = try #require(String(buffer: created.body).split(separator: "\"").drop { $0 != "SecurityGroupId" }.dropFirst(2).first)
        #expect(!String(buffer: respond(query + a).body).contains(b))
        let auth = respond(
            "/?Action=AuthorizeSecurityGroup&RegionId=cn-hangzhou&SecurityGroupId=\(b)&IpProtocol=tcp&PortRange=1/1&SourceGroupId=\(a)")
        #expect(auth.status == .ok, "\(String(buffer: auth.body))")
        let after = respond(query + a)
        #expect(after.status == .ok && String(buffer: after.body).contains("\"SecurityGroupId\":\"\(b)\""))
    }
}
