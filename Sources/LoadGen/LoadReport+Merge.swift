import Foundation
import Histogram

extension LoadReport {
    public struct ReadError: Error, CustomStringConvertible { public var description: String }

    /// A report read back from its `--json` file (histograms exact, from their V2 encodings).
    public static func read(_ path: String) throws -> LoadReport {
        let data: Data
        var st = stat()
        guard stat(path, &st) == 0 else {
            throw ReadError(description: "\(path): \(String(cString: strerror(errno))); pass a report written by tapedeck load --json FILE")
        }
        if st.st_mode & S_IFMT != S_IFREG {
            let kind = st.st_mode & S_IFMT == S_IFDIR ? "a folder" : st.st_mode & S_IFMT == S_IFIFO ? "a FIFO" : "not a regular file"
            throw ReadError(description: "\(path) is \(kind); pass a report written by tapedeck load --json FILE")
        }
        do { data = try Data(contentsOf: URL(fileURLWithPath: path)) } catch {
            throw ReadError(description: "\(path): cannot read (\((error as NSError).localizedDescription))")
        }
        struct Version: Decodable { var version: Int? }
        guard let header = try? decoder.decode(Version.self, from: data) else {
            throw ReadError(description: "\(path): not a JSON object (pass a report written by tapedeck load --json FILE)")
        }
        guard let version = header.version, version <= jsonVersion else {
            throw ReadError(description: "\(path): not a tapedeck load report of version ≤ \(jsonVersion)")
        }
        let d: Document
        do { d = try decoder.decode(Document.self, from: data) } catch let error as DecodingError {
            throw ReadError(description: "\(path): \(LoadReport.explain(error))")
        }
        return try LoadReport(d, path: path)
    }

    /// A decoding error as one sentence naming the field.
    static func explain(_ error: DecodingError) -> String {
        func path(_ c: DecodingError.Context) -> String {
            c.codingPath.map { $0.intValue.map { "[\($0)]" } ?? $0.stringValue }.joined(separator: ".")
                .replacingOccurrences(of: ".[", with: "[")
        }
        switch error {
        case .keyNotFound(let key, let c):
            let at = path(c)
            return "field \(at.isEmpty ? "" : at + ".")\(key.stringValue) is missing"
        case .typeMismatch(_, let c), .valueNotFound(_, let c): return "field \(path(c)) has the wrong type (\(c.debugDescription))"
        case .dataCorrupted(let c): return "\(path(c).isEmpty ? "not valid JSON" : "field " + path(c)): \(c.debugDescription)"
        @unknown default: return "\(error)"
        }
    }

    /// Rebuilds a report from its document; the histograms are decoded exactly.
    init(_ d: Document, path: String) throws {
        func decode(_ s: String, _ field: String) throws -> Histogram<UInt64> {
            guard let bytes = Data(base64Encoded: s) else { throw ReadError(description: "\(path): histograms.\(field) is not base64") }
            do { return try HistogramCodec.decodeCompressed(Array(bytes)) } catch {
                throw ReadError(description: "\(path): histograms.\(field) is not an HdrHistogram V2 encoding (\(error))")
            }
        }
        // The counts of a report `load` wrote add up; an edited or damaged one is refused, not merged into nonsense.
        let counts: [(String, Int?)] = [
            ("requests.sent", d.requests.sent), ("requests.scheduled", d.requests.scheduled), ("requests.never_sent", d.requests.neverSent),
            ("requests.unanswered", d.requests.unanswered), ("requests.connect_failures", d.requests.connectFailures),
            ("requests.completed", d.requests.completed), ("requests.errors", d.requests.errors),
        ] + d.errors.map { ("errors.\($0.key)", $0.value) } + d.status.map { ("status.\($0.key)", $0.value) }
        if let (field, value) = counts.first(where: { ($0.1 ?? 0) < 0 }) {
            throw ReadError(description: "\(path): \(field) is \(value ?? 0); counts are never negative (was the report edited?)")
        }
        let errorCount = d.errors.values.reduce(0, +)
        let unanswered = d.requests.unanswered ?? 0, neverSent = d.requests.neverSent ?? 0
        if d.requests.completed + errorCount + unanswered != d.requests.sent
            || (d.requests.scheduled.map { $0 != d.requests.sent + neverSent } ?? false)
        {
            throw ReadError(
                description: "\(path): its counts do not add up (completed \(d.requests.completed) + errors \(errorCount) + unanswered \(unanswered) "
                    + "should be sent \(d.requests.sent), and sent + never sent \(neverSent) should be scheduled \(d.requests.scheduled ?? d.requests.sent)); "
                    + "pass the report tapedeck load wrote, unedited")
        }
        var r = WorkerResult()
        r.corrected = try decode(d.histograms.corrected, "corrected")
        r.uncorrected = try decode(d.histograms.uncorrected, "uncorrected")
        r.intervals = try (d.histograms.intervalsCorrected ?? []).map { try decode($0, "intervals_corrected") }
        r.sent = d.requests.sent
        r.scheduled = d.requests.scheduled ?? d.requests.sent
        r.neverSent = d.requests.neverSent ?? 0
        r.unanswered = d.requests.unanswered ?? 0
        r.connectFailures = d.requests.connectFailures ?? 0
        r.completed = d.requests.completed
        r.errors = d.errors
        r.tapedeckCodes = d.tapedeckCodes ?? [:]
        for (k, v) in d.status { if let code = Int(k) { r.statuses[code] = v } }
        r.verifyChecked = d.verify.checked
        r.verifyMismatched = d.verify.byKind
        r.startedAt = Date(timeIntervalSince1970: d.startedAt ?? 0)
        guard let target = LoadTarget(url: "http://" + d.target) else {
            throw ReadError(description: "\(path): target \(d.target) is not HOST:PORT")
        }
        var conf = LoadConfiguration(target: target)
        conf.rate = d.requestedRps > 0 ? d.requestedRps : nil
        conf.connections = d.connections
        conf.threads = d.threads
        conf.verify = d.verify.enabled
        conf.notes = d.notes ?? []
        self.init(configuration: conf, result: r, seconds: d.durationS)
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
