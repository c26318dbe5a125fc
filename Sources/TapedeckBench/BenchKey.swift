import ArgumentParser
import CloudSigning
import Matching

/// `tapedeck-bench key`: what keying one request costs a replaying proxy, in process: parse the query,
/// detect the signature profile, build the match key. The request is the bench's 3-id reference query,
/// signed (RPC v1) like an SDK's, so the volatile parameters are dropped as they are in a real replay.
struct BenchKey: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "key",
        abstract: "Measure building the match key of a signed 3-id reference query, in process (used by scripts/bench-proxy).",
    )

    @Option(help: "Seconds to measure.") var seconds = 2.0

    func run() async throws {
        let uri =
            "/?AccessKeyId=LTAI5tBenchKey&Action=DescribeSecurityGroupReferences&Format=JSON&RegionId=cn-hangzhou"
            + "&SecurityGroupId.1=sg-bp1aaaaaaaaaaaaa&SecurityGroupId.2=sg-bp1bbbbbbbbbbbbb&SecurityGroupId.3=sg-bp1ccccccccccccc"
            + "&Signature=kRA2cwmlqHT%2BxPvgAd4p1kd0h1s%3D&SignatureMethod=HMAC-SHA1&SignatureNonce=4a6f8c3e-1d2b-4c5a-9e7f-0a1b2c3d4e5f"
            + "&SignatureVersion=1.0&Timestamp=2026-11-24T08%3A00%3A00Z&Version=2014-05-26"
        let headers = [("Host", "ecs.aliyuncs.com"), ("User-Agent", "AlibabaCloud (Linux) Python/3.13 Core/2.16"), ("Accept", "*/*")]
        let query = String(uri.dropFirst(2))
        var keys = 0
        var checksum = 0
        let clock = ContinuousClock()
        let start = clock.now
        let deadline = start + .milliseconds(Int(seconds * 1000))
        while clock.now < deadline {
            for _ in 0..<1000 {
                let params = try QueryParameters.parse(query)
                let request = SignableRequest(method: "GET", rawPath: "/", query: params, headers: headers)
                let key = RequestKey(request, host: "ecs.aliyuncs.com", profile: MatchProfile.detect(request))
                checksum &+= key.string.utf8.count
            }
            keys += 1000
        }
        let elapsed = clock.now - start
        let secs = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        print(
            "{\"keys\":\(keys),\"per_second\":\(Int(Double(keys) / secs)),\"ns_per_key\":\(Int(secs * 1e9 / Double(keys))),\"checksum\":\(checksum)}"
        )
    }
}
