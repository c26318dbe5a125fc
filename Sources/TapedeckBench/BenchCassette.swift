import ArgumentParser
import Cassette
import Foundation
import Matching
import NIOCore

/// `tapedeck-bench cassette`: writes or loads a large synthetic cassette (used by scripts/bench-proxy).
struct BenchCassette: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cassette",
        abstract:
            "Write a synthetic cassette of N exchanges, time loading one for replay, or time what recording costs per exchange of one (used by scripts/bench-proxy).",
    )

    @Argument(help: "write | load | cost") var action: String
    @Argument var file: String
    @Option(help: "Exchanges to write.") var exchanges = 1_000_000
    @Option(help: "Exchanges per write (the group commit's batch).") var batchSize = 256

    func run() throws {
        let start = Date()
        switch action {
        case "write":
            // Exchanges are built from one template (the id and request id differ in each): what is timed is
            // the writer, which takes them in batches as the proxy's group commit hands them over.
            let w = try CassetteWriter(path: file)
            let marker = "sg-bpTEMPLATE"
            let templateURL =
                "https://ecs.cn-hangzhou.aliyuncs.com/?Action=DescribeSecurityGroupReferences&Format=JSON&RegionId=cn-hangzhou&SecurityGroupId.1=\(marker)&Version=2014-05-26"
            let templateRequest = Exchange.Request(
                method: "GET", url: templateURL, headers: [("Host", "ecs.cn-hangzhou.aliyuncs.com"), ("User-Agent", "bench")], body: .empty)
            let (templateKey, profile) = RequestKey.of(recorded: templateRequest)
            func filled(_ template: String) -> (String, String) {
                let parts = template.components(separatedBy: marker)
                return (parts[0], parts[1])
            }
            let (urlHead, urlTail) = filled(templateURL)
            let (keyHead, keyTail) = filled(templateKey.string)
            var batch: [Exchange] = []
            batch.reserveCapacity(batchSize)
            for i in 0..<exchanges {
                let id = "sg-bp" + String(i, radix: 36)
                var request = templateRequest
                request.url = urlHead + id + urlTail
                let body =
                    #"{"RequestId":"\#(String(UInt64(i) &* 0x9E37_79B9_7F4A_7C15, radix: 16))","SecurityGroupReferences":{"SecurityGroupReference":[{"SecurityGroupId":"\#(id)","ReferencingSecurityGroups":{"ReferencingSecurityGroup":[{"SecurityGroupId":"sg-bp1","AliUid":"1"}]}}]}}"#
                batch.append(
                    Exchange(
                        seq: 0, key: keyHead + id + keyTail, profile: profile, request: request,
                        response: .init(
                            status: 200, headers: [("Content-Type", "application/json")], body: Body(encoding: .text, data: body)),
                        timing: .init(started_at: "2026-01-01T00:00:00.000Z", duration_ms: 1)))
                if batch.count == batchSize || i == exchanges - 1 {
                    try w.append(contentsOf: batch)
                    batch.removeAll(keepingCapacity: true)
                }
            }
            w.close()
            let secs = Date().timeIntervalSince(start)
            let size = (try FileManager.default.attributesOfItem(atPath: file)[.size] as? Int) ?? 0
            print(
                "{\"action\":\"write\",\"exchanges\":\(exchanges),\"seconds\":\(secs),\"per_second\":\(Int(Double(exchanges) / secs)),\"bytes\":\(size)}"
            )
        case "load":
            let reader = try CassetteReader(path: file)
            let index = ReplayIndex(entries: reader.entries, policy: .error)
            let secs = Date().timeIntervalSince(start)
            print("{\"action\":\"load\",\"exchanges\":\(index.count),\"seconds\":\(secs),\"peak_rss_mib\":\(peakRSSMiB())}")
        case "cost":
            try cost()
        default:
            throw ValidationError("action must be write, load or cost")
        }
    }

    /// What recording adds per exchange, for the exchanges of `file` (e.g. what the recording proxy just
    /// wrote), each step alone on this thread: redaction, then the whole append of one record (encode,
    /// compress, `write(2)`) to a scratch cassette, and within it compressing the encoded line. The proxy
    /// does all of it for every exchange, so it bounds how close recording can come to passthrough on
    /// the same core.
    private func cost() throws {
        let reader = try CassetteReader(path: file)
        let sample = try reader.entries.prefix(100).map { try reader.exchange($0) }
        guard !sample.isEmpty else { throw ValidationError("\(file) holds no exchanges") }
        let rounds = max(1, 20_000 / sample.count)
        let redactor = Redactor()
        func perExchange(_ body: () throws -> Void) rethrows -> Double {
            let t = Date()
            for _ in 0..<rounds { try body() }
            return Date().timeIntervalSince(t) * 1e6 / Double(rounds * sample.count)
        }
        var sink = 0
        let redact = perExchange { for e in sample { sink &+= redactor.redact(e).seq } }
        let encode = perExchange { for e in sample { sink &+= ExchangeEncoder.encode(e).count } }
        let scratch = file + ".cost-\(getpid())"
        defer {
            try? FileManager.default.removeItem(atPath: scratch)
            try? FileManager.default.removeItem(atPath: scratch + ".idx")
        }
        let writer = try CassetteWriter(path: scratch)
        let append = try perExchange { for e in sample { sink &+= try writer.append(e).length } }
        // A recording proxy under concurrent load commits what arrived during the last write together:
        // batches of `recordsPerMember`, one member (one deflate stream) each.
        let batches = stride(from: 0, to: sample.count, by: CassetteWriter.recordsPerMember).map {
            Array(sample[$0..<min(sample.count, $0 + CassetteWriter.recordsPerMember)])
        }
        let appendBatched = try perExchange { for b in batches { sink &+= try writer.append(contentsOf: b).count } }
        writer.close()
        let lines = try sample.map {
            var b = ByteBuffer(bytes: try CassetteCoding.encode($0)); b.writeString("\n"); return b
        }
        let compressor = try GzipMember.makeCompressor(CassetteWriter.zlib)
        var out = ByteBuffer()
        let compress = try perExchange {
            for line in lines {
                out.clear()
                try GzipMember.encode(line, compressor: compressor, into: &out)
            }
        }
        let members = stride(from: 0, to: lines.count, by: CassetteWriter.recordsPerMember).map { start -> ByteBuffer in
            var member = ByteBuffer()
            for var line in lines[start..<min(lines.count, start + CassetteWriter.recordsPerMember)] { member.writeBuffer(&line) }
            return member
        }
        let compressBatched = try perExchange {
            for member in members {
                out.clear()
                try GzipMember.encode(member, compressor: compressor, into: &out)
            }
        }
        let bytes = lines.reduce(0) { $0 + $1.readableBytes } / lines.count
        print(
            "{\"action\":\"cost\",\"exchanges\":\(sample.count),\"record_bytes\":\(bytes),\"redact_us\":\(redact),\"encode_us\":\(encode),\"append_us\":\(append),\"compress_us\":\(compress),"
                + "\"append_batched_us\":\(appendBatched),\"compress_batched_us\":\(compressBatched),\"per_member\":\(CassetteWriter.recordsPerMember),\"sink\":\(sink & 1)}"
        )
    }

    private func peakRSSMiB() -> Int {
        guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8),
            let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmHWM:") }),
            let kb = Int(line.split(separator: " ").dropFirst().first ?? "")
        else { return -1 }
        return kb / 1024
    }
}
