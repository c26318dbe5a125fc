import ArgumentParser
import Cassette
import Foundation
import Matching

/// `tapedeck-bench cassette`: writes or loads a large synthetic cassette (used by scripts/bench-proxy).
struct BenchCassette: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cassette",
        abstract: "Write a synthetic cassette of N exchanges, or time loading one for replay (used by scripts/bench-proxy).",
    )

    @Argument(help: "write | load") var action: String
    @Argument var file: String
    @Option(help: "Exchanges to write.") var exchanges = 1_000_000

    func run() throws {
        let start = Date()
        switch action {
        case "write":
            let w = try CassetteWriter(path: file)
            for i in 0..<exchanges {
                let url =
                    "https://ecs.cn-hangzhou.aliyuncs.com/?Action=DescribeSecurityGroupReferences&Format=JSON&RegionId=cn-hangzhou&SecurityGroupId.1=sg-bp\(String(i, radix: 36))&Version=2014-05-26"
                let request = Exchange.Request(
                    method: "GET", url: url, headers: [("Host", "ecs.cn-hangzhou.aliyuncs.com"), ("User-Agent", "bench")], body: .empty)
                let body =
                    #"{"RequestId":"\#(UUID().uuidString)","SecurityGroupReferences":{"SecurityGroupReference":[{"SecurityGroupId":"sg-bp\#(String(i, radix: 36))","ReferencingSecurityGroups":{"ReferencingSecurityGroup":[{"SecurityGroupId":"sg-bp1","AliUid":"1"}]}}]}}"#
                let (key, profile) = RequestKey.of(recorded: request)
                try w.append(
                    Exchange(
                        seq: 0, key: key.string, profile: profile, request: request,
                        response: .init(
                            status: 200, headers: [("Content-Type", "application/json")], body: Body(encoding: .text, data: body)),
                        timing: .init(started_at: "2026-01-01T00:00:00.000Z", duration_ms: 1)))
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
        default:
            throw ValidationError("action must be write or load")
        }
    }

    private func peakRSSMiB() -> Int {
        guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8),
            let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmHWM:") }),
            let kb = Int(line.split(separator: " ").dropFirst().first ?? "")
        else { return -1 }
        return kb / 1024
    }
}
