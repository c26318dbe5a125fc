import Foundation
import Histogram

extension LoadReport {
    public struct ReadError: Error, CustomStringConvertible { public var description: String }

    /// A report read back from its `--json` file (histograms exact, from their V2 encodings).
    public static func read(_ path: String) throws -> LoadReport {
        guard let d = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: path))) as? [String: Any] else {
            throw ReadError(description: "\(path): not a JSON object")
        }
        guard let version = d["version"] as? Int, version <= jsonVersion else {
            throw ReadError(description: "\(path): not a tapedeck load report of version ≤ \(jsonVersion)")
        }
        guard let hs = d["histograms"] as? [String: Any], let c = hs["corrected"] as? String, let u = hs["uncorrected"] as? String else {
            throw ReadError(description: "\(path): no histograms (written by an older tapedeck?)")
        }
        func decode(_ s: String) throws -> Histogram<UInt64> {
            guard let bytes = Data(base64Encoded: s) else { throw ReadError(description: "\(path): bad base64 histogram") }
            return try HistogramCodec.decodeCompressed(Array(bytes))
        }
        var r = WorkerResult()
        r.corrected = try decode(c)
        r.uncorrected = try decode(u)
        r.intervals = try ((hs["intervals_corrected"] as? [String]) ?? []).map(decode)
        let req = d["requests"] as? [String: Any] ?? [:]
        r.sent = req["sent"] as? Int ?? 0
        r.scheduled = req["scheduled"] as? Int ?? r.sent
        r.neverSent = req["never_sent"] as? Int ?? 0
        r.unanswered = req["unanswered"] as? Int ?? 0
        r.connectFailures = req["connect_failures"] as? Int ?? 0
        r.completed = req["completed"] as? Int ?? 0
        r.errors = d["errors"] as? [String: Int] ?? [:]
        for (k, v) in d["status"] as? [String: Int] ?? [:] { if let code = Int(k) { r.statuses[code] = v } }
        let verify = d["verify"] as? [String: Any] ?? [:]
        r.verifyChecked = verify["checked"] as? Int ?? 0
        r.verifyMismatched = verify["by_kind"] as? [String: Int] ?? [:]
        r.startedAt = Date(timeIntervalSince1970: d["started_at"] as? Double ?? 0)
        let targetString = d["target"] as? String ?? "127.0.0.1:80"
        var conf = LoadConfiguration(target: LoadTarget(url: "http://" + targetString) ?? LoadTarget(url: "http://127.0.0.1:80")!)
        conf.rate = (d["requested_rps"] as? Double).flatMap { $0 > 0 ? $0 : nil }
        conf.connections = d["connections"] as? Int ?? 0
        conf.threads = d["threads"] as? Int ?? 1
        conf.verify = verify["enabled"] as? Bool ?? false
        return LoadReport(configuration: conf, result: r, seconds: d["duration_s"] as? Double ?? 0)
    }

    /// Several workers' reports as one: histograms add exactly, counts add, rates add.
    public static func merge(_ reports: [LoadReport]) -> LoadReport {
        precondition(!reports.isEmpty)
        var total = WorkerResult()
        var conf = reports[0].configuration
        conf.rate = reports.compactMap(\.configuration.rate).reduce(0, +)
        if conf.rate == 0 { conf.rate = nil }
        conf.connections = reports.map(\.configuration.connections).reduce(0, +)
        conf.threads = reports.map(\.configuration.threads).reduce(0, +)
        conf.verify = reports.contains { $0.configuration.verify }
        for r in reports { total.add(r.result) }
        total.startedAt = reports.map(\.result.startedAt).min()!
        return LoadReport(configuration: conf, result: total, seconds: reports.map(\.seconds).max()!)
    }
}
