import Cassette
import Foundation
import NIOCore

/// The requests of a recorded cassette, in order, each expecting its recorded answer.
public enum CassetteSource {
    /// Requests and the recorded start offsets (seconds from the earliest start, never negative), for `--speed`.
    /// Exchanges recorded from concurrent clients are written in the order they completed, so a later record
    /// can have started first; a record whose start time cannot be read takes the one before it.
    public static func requests(path: String, target: LoadTarget) throws -> (requests: [LoadRequest], offsets: [Double]) {
        let exchanges = try CassetteReader(path: path).allExchanges()
        var out: [LoadRequest] = []
        var offsets: [Double] = []
        let parser = ISO8601DateFormatter()
        parser.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        var first: Date?  // the first record's start (offsets are moved to the earliest at the end)
        var answersByKey: [String: [(status: Int, body: [UInt8])]] = [:]
        for e in exchanges { answersByKey[e.key, default: []].append((e.response.status, e.response.body.bytes)) }
        for e in exchanges {
            let url = e.request.url
            var target_ = "/"
            if let r = url.range(of: "://") {
                let rest = url[r.upperBound...]
                target_ = String(rest.drop { $0 != "/" && $0 != "?" })
                if target_.isEmpty || target_.hasPrefix("?") { target_ = "/" + target_ }
            }
            let headers = e.request.headerPairs.filter { !["host", "content-length", "connection"].contains($0.0.lowercased()) }
            out.append(
                LoadRequest(
                    bytes: RequestBytes.make(
                        method: e.request.method, target: target_, host: target.authority,
                        headers: headers, body: e.request.body.bytes),
                    expectation: answersByKey[e.key]!.count > 1
                        ? .anyOf(answersByKey[e.key]!) : .exact(status: e.response.status, body: e.response.body.bytes),
                    kind: e.profile))
            let t = parser.date(from: e.timing.started_at) ?? first ?? Date(timeIntervalSince1970: 0)
            if first == nil { first = t }
            offsets.append(t.timeIntervalSince(first!))
        }
        let earliest = offsets.min() ?? 0
        return (out, offsets.map { $0 - earliest })
    }
}
