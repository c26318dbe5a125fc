import CloudModel
import Foundation
import CloudSigning
import Logging
import NIOCore
import NIOEmbedded
import NIOHTTP1
import TapedeckHTTP
import Testing

@testable import CloudSim

/// Counts the reads that get past the fast lane to NIO's decoder.
private final class PassedOn: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    var reads = 0
    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        reads += 1
        context.fireChannelRead(data)
    }
}

/// The simulator's connection with and without the fast lane, on the same requests: the same bytes on the
/// wire, answer for answer (two simulators from one data set and clock seed hand out the same request ids).
@Suite struct SimulatorFastLaneTests {
    /// One request on a fresh connection: what was written back, and whether the request got past the lane.
    static func exchange(_ sim: Simulator, lane: Bool, _ request: String) throws -> (String, passedOn: Bool) {
        try exchange(sim, lane: lane, parts: [request])
    }

    /// Requests written in `parts` (one read each) on a fresh connection: what was written back, and whether
    /// anything got past the lane.
    static func exchange(_ sim: Simulator, lane: Bool, parts: [String]) throws -> (String, passedOn: Bool) {
        let channel = EmbeddedChannel()
        let limits = HTTPServerLimits()
        let server = HTTPServerHandler(responder: SimulatorResponder(simulator: sim, logger: Logger(label: "test")), limits: limits)
        let passed = PassedOn()
        let sync = channel.pipeline.syncOperations
        try sync.addHandler(RequestLineSniffer())
        if lane { try sync.addHandler(HTTPFastLane(server: server, limits: limits)) }
        try sync.addHandler(passed)
        try sync.addHandler(ByteToMessageHandler(HTTPRequestDecoder(leftOverBytesStrategy: .dropBytes)))
        try sync.addHandler(server)
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1)).wait()
        for part in parts { try channel.writeInbound(ByteBuffer(string: part)) }
        var out = ""
        while var b = try channel.readOutbound(as: ByteBuffer.self) { out += b.readString(length: b.readableBytes) ?? "" }
        _ = try? channel.finish()
        return (out, passed.reads > 0)
    }

    @Test func theLaneWritesTheBytesTheFullPathWrites() async throws {
        let (laneSim, fullSim) = await ReferenceAnswerTests.pair()
        let store = laneSim.aliyun.store
        let snap = store.snapshot()
        let inRegion = (0..<UInt32(ReferenceAnswerTests.groups)).filter { snap.partition(of: $0) == snap.partitionIndex("cn-hangzhou") }
        var rng = SplitMix64(seed: 5)
        var taken = 0
        for round in 0..<300 {
            var params = (1...(1 + Int(rng.next() % 10))).map {
                "SecurityGroupId.\($0)=\(store.generatedID(of: inRegion[Int(rng.next() % UInt64(inRegion.count))]))"
            }
            params += ["Action=DescribeSecurityGroupReferences", "RegionId=cn-hangzhou"]
            if round % 3 == 0 { params.append("Format=XML") }
            if round % 4 == 0 { params.append("Version=2014-05-26") }
            // Requests the lane must leave: an unknown id, another action, a version header without the
            // parameter, a body, HEAD, HTTP/1.0.
            if round % 7 == 0 { params.append("SecurityGroupId.10=sg-bp0000000000000") }
            if round % 11 == 0 { params[params.count - 2] = "Action=DescribeSecurityGroups" }
            params.shuffle(using: &rng)
            let method = round % 13 == 0 ? "HEAD" : round % 5 == 0 ? "POST" : "GET"
            var head = "\(method) /?\(params.joined(separator: "&")) HTTP/1.\(round % 17 == 0 ? 0 : 1)\r\nHost: ecs.aliyuncs.com\r\n"
            if round % 6 == 0 { head += "x-acs-version: 2014-05-26\r\n" }
            let request = head + (round % 10 == 0 ? "Content-Length: 2\r\n\r\nab" : method == "POST" ? "Content-Length: 0\r\n\r\n" : "\r\n")
            let (viaLane, passedOn) = try Self.exchange(laneSim, lane: true, request)
            let (viaFull, _) = try Self.exchange(fullSim, lane: false, request)
            #expect(viaLane == viaFull, "\(request)")
            if !passedOn {
                taken += 1
                #expect(viaLane.hasPrefix("HTTP/1.1 200 OK\r\n"), "\(request)")
            }
        }
        #expect(taken > 100, "the lane took \(taken) of 300")
    }

    /// Reference queries pipelined in one read: each answer is rendered while the one before it still waits to be
    /// written, and none overwrites another (the same bytes as the full path, in order).
    @Test func pipelinedAnswersKeepTheirOwnBytes() async throws {
        let (laneSim, fullSim) = await ReferenceAnswerTests.pair()
        let store = laneSim.aliyun.store
        let snap = store.snapshot()
        let ids = (0..<UInt32(ReferenceAnswerTests.groups)).filter { snap.partition(of: $0) == snap.partitionIndex("cn-hangzhou") }
            .prefix(6).map { store.generatedID(of: $0) }
        let requests = ids.enumerated().map { k, id in
            "GET /?Action=DescribeSecurityGroupReferences&RegionId=cn-hangzhou&SecurityGroupId.1=\(id)\(k % 2 == 0 ? "&Format=XML" : "") HTTP/1.1\r\nHost: h\r\n\r\n"
        }.joined()
        let (viaLane, passedOn) = try Self.exchange(laneSim, lane: true, requests)
        let (viaFull, _) = try Self.exchange(fullSim, lane: false, requests)
        #expect(!passedOn)
        #expect(viaLane.components(separatedBy: "HTTP/1.1 200 OK").count == 7)
        #expect(viaLane == viaFull)
    }

    /// A malformed request is refused in the shape of the cloud its own target names (Huawei's for `/v3/…`),
    /// however it is cut into reads and whatever the lane answered before it on the connection.
    @Test func aMalformedRequestTakesItsOwnCloudsShape() async throws {
        let (sim, _) = await ReferenceAnswerTests.pair()
        let project = sim.huawei.store.ownerID
        let huawei = "GET /v3/\(project)/vpc/security-groups?limit=1 HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\nContent-Length: 0\r\n\r\n"
        let snap = sim.aliyun.store.snapshot()
        let handle = try #require((0..<UInt32(ReferenceAnswerTests.groups)).first { snap.partition(of: $0) == snap.partitionIndex("cn-hangzhou") })
        let plain = "GET /?Action=DescribeSecurityGroupReferences&RegionId=cn-hangzhou&SecurityGroupId.1=\(sim.aliyun.store.generatedID(of: handle)) HTTP/1.1\r\nHost: h\r\n\r\n"
        // (Without the lane, the connection's first request still decides: the last two cases are the lane's.)
        let cases: [([String], [Bool])] = [
            ([huawei], [true, false]), ([String(huawei.prefix(5)), String(huawei.dropFirst(5))], [true, false]),
            ([plain + huawei], [true]), ([plain + huawei.prefix(9), String(huawei.dropFirst(9))], [true]),
        ]
        for (parts, lanes) in cases {
            for lane in lanes {
                let (out, _) = try Self.exchange(sim, lane: lane, parts: parts)
                let last = String(out[(out.range(of: "HTTP/1.1 400", options: .backwards)?.lowerBound ?? out.startIndex)...])
                #expect(last.hasPrefix("HTTP/1.1 400") && last.contains("\"error_code\""), "lane \(lane), parts \(parts.map(\.count)): \(last)")
            }
        }
    }

    @Test func signaturesOrAThrottleKeepEveryRequestOnTheFullPath() async throws {
        let data = SyntheticDataSet(groups: 500, seed: 7)
        let clock = SimulatorClock(fixedTime: SyntheticDataSet.epoch, seed: 7)
        let signed = await Simulator.synthetic(data, clock: clock, accessKeys: AccessKeyStore(["AK": "secret"]))
        let throttled = await Simulator.synthetic(data, clock: clock, maxRequestsPerSecond: 1000)
        let snap = signed.aliyun.store.snapshot()
        let handle = try #require((0..<UInt32(500)).first { snap.partition(of: $0) == snap.partitionIndex("cn-hangzhou") })
        let id = signed.aliyun.store.generatedID(of: handle)
        let request = "GET /?Action=DescribeSecurityGroupReferences&RegionId=cn-hangzhou&SecurityGroupId.1=\(id) HTTP/1.1\r\nHost: h\r\n\r\n"
        let open = await Simulator.synthetic(data, clock: clock)
        #expect(try Self.exchange(open, lane: true, request).passedOn == false)
        let (refused, passedOn) = try Self.exchange(signed, lane: true, request)
        #expect(passedOn && refused.hasPrefix("HTTP/1.1 400") && refused.contains("\"Code\":\"Missing"), "\(refused)")
        #expect(try Self.exchange(throttled, lane: true, request).passedOn)
    }
}
