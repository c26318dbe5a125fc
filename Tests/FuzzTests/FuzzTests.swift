import Cassette
import Foundation
import NIOCore
import NIOEmbedded
import NIOHTTP1
import TapedeckHTTP
import Testing

/// Bounded random-mutation fuzzing of what users and peers hand Tapedeck: cassette files and HTTP requests.
/// Nothing may crash or hang; errors are fine. `TAPEDECK_FUZZ_SECONDS` sets the time per target (CI runs a
/// longer pass); the seed is printed so a failure can be replayed with `TAPEDECK_FUZZ_SEED`.
@Suite struct FuzzTests {
    static var seconds: Double { Double(ProcessInfo.processInfo.environment["TAPEDECK_FUZZ_SECONDS"] ?? "") ?? 3 }
    static var seed: UInt64 { UInt64(ProcessInfo.processInfo.environment["TAPEDECK_FUZZ_SEED"] ?? "") ?? UInt64.random(in: 1...UInt64.max) }

    struct RNG: RandomNumberGenerator {
        var state: UInt64
        mutating func next() -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
    }

    static func mutate(_ input: [UInt8], _ rng: inout RNG) -> [UInt8] {
        var b = input
        for _ in 0..<Int.random(in: 1...4, using: &rng) {
            guard !b.isEmpty else { return [UInt8.random(in: 0...255, using: &rng)] }
            let i = Int.random(in: 0..<b.count, using: &rng)
            switch Int.random(in: 0..<6, using: &rng) {
            case 0: b[i] ^= UInt8(1) << UInt8.random(in: 0...7, using: &rng)
            case 1: b[i] = UInt8.random(in: 0...255, using: &rng)
            case 2: b.removeSubrange(i..<min(b.count, i + Int.random(in: 1...64, using: &rng)))
            case 3:
                b.insert(contentsOf: (0..<Int.random(in: 1...16, using: &rng)).map { _ in UInt8.random(in: 0...255, using: &rng) }, at: i)
            case 4: b = Array(b.prefix(i))
            default: let j = Int.random(in: 0..<b.count, using: &rng); b.insert(contentsOf: b[min(i, j)..<max(i, j)].prefix(256), at: i)
            }
        }
        return b
    }

    @Test func cassetteReaderAndRepairNeverCrash() throws {
        let seed = Self.seed
        print("cassette fuzz seed \(seed)")
        var rng = RNG(state: seed)
        let dir = NSTemporaryDirectory() + "tapedeck-fuzz-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let seedPath = dir + "/seed.jsonl.gz"
        let w = try CassetteWriter(path: seedPath)
        func exchange(_ i: Int) -> Exchange {
            Exchange(
                seq: 0, key: "h/?n=\(i)", profile: "generic",
                request: .init(method: "GET", url: "http://h/?n=\(i)", headers: [("Host", "h")], body: .empty),
                response: .init(
                    status: 200, headers: [("Content-Type", "application/json")], body: Body(bytes: Array("{\"n\":\(i)}".utf8))),
                timing: .init(started_at: "t", duration_ms: 1))
        }
        // Members of one record, then one member holding a batch of four.
        for i in 1...3 { try w.append(exchange(i)) }
        try w.append(contentsOf: (4...7).map(exchange))
        w.close()
        let original = Array(try Data(contentsOf: URL(fileURLWithPath: seedPath)))
        let path = dir + "/f.jsonl.gz"
        let deadline = Date().addingTimeInterval(Self.seconds)
        var runs = 0
        while Date() < deadline {
            let bytes = Self.mutate(original, &rng)
            try Data(bytes).write(to: URL(fileURLWithPath: path))
            if let r = try? CassetteReader(path: path) { _ = try? r.allExchanges() }
            _ = try? JSONLImport.exchanges(path: path)
            _ = try? CassetteRepair.repair(path: path)
            try? FileManager.default.removeItem(atPath: path + ".damaged")
            _ = try? CassetteRepair.salvage(path: path)
            runs += 1
        }
        #expect(runs > 0)
    }

    struct Echo: HTTPResponder {
        func respond(to request: HTTPServerRequest, context: ChannelHandlerContext) -> HTTPResponderResult {
            .response(HTTPServerResponse(status: .ok, body: ByteBuffer(string: "ok")))
        }
        func rejection(_ r: HTTPServerRejection, allocator: ByteBufferAllocator) -> HTTPServerResponse {
            HTTPServerResponse(status: r.status, body: ByteBuffer(string: r.message))
        }
    }

    @Test func httpRequestParsingNeverCrashesOrHangs() throws {
        let seed = Self.seed
        print("HTTP fuzz seed \(seed)")
        var rng = RNG(state: seed)
        let corpus = [
            "GET /?Action=DescribeSecurityGroups&RegionId=cn-hangzhou HTTP/1.1\r\nHost: x\r\n\r\n",
            "POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 8\r\nExpect: 100-continue\r\n\r\nAction=A",
            "PUT /v3/p/vpc/security-groups/1 HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
            "HEAD / HTTP/1.0\r\nConnection: keep-alive\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n",
            "CONNECT h:443 HTTP/1.1\r\nHost: h:443\r\n\r\n",
        ].map { Array($0.utf8) }
        var limits = HTTPServerLimits()
        limits.maxBodyBytes = 64
        limits.maxURIBytes = 128
        limits.maxHeaderBytes = 256
        let deadline = Date().addingTimeInterval(Self.seconds)
        var runs = 0
        while Date() < deadline {
            let channel = EmbeddedChannel()
            try channel.pipeline.syncOperations.addHandler(ByteToMessageHandler(HTTPRequestDecoder(leftOverBytesStrategy: .dropBytes)))
            try channel.pipeline.syncOperations.addHandler(HTTPServerHandler(responder: Echo(), limits: limits))
            try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1)).wait()
            let bytes = Self.mutate(corpus[Int.random(in: 0..<corpus.count, using: &rng)], &rng)
            var at = 0
            while at < bytes.count && channel.isActive {  // random chunking
                let n = Int.random(in: 1...max(1, bytes.count - at), using: &rng)
                _ = try? channel.writeInbound(ByteBuffer(bytes: bytes[at..<(at + n)]))
                at += n
            }
            channel.embeddedEventLoop.advanceTime(by: .seconds(120))  // every timer fires: nothing waits forever
            while (try? channel.readOutbound(as: ByteBuffer.self)) != nil {}
            _ = try? channel.finish()
            runs += 1
        }
        #expect(runs > 0)
    }
}
