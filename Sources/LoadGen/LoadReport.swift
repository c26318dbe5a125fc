import Foundation
import Histogram

/// A run's results: the text report, `--json`, `--hgrm`.
public struct LoadReport: Sendable {
    public let configuration: LoadConfiguration
    public let result: WorkerResult
    public let seconds: Double
    /// Ended before its duration (Ctrl-C, SIGTERM): said in the report.
    public var stoppedEarly = false
    /// Stopped before the warm-up ended: nothing was measured, and that is why (not the target).
    public var stoppedInWarmup = false

    public static let jsonVersion = 1
    static let percentiles: [(String, Double)] = [
        ("p50", 50), ("p75", 75), ("p90", 90), ("p99", 99), ("p999", 99.9), ("p9999", 99.99), ("p99999", 99.999),
    ]

    public var throughput: Double { Double(result.completed) / seconds }
    public var errorCount: Int { result.errors.values.reduce(0, +) }

    /// A percentile of the corrected (`corrected: true`) or uncorrected latency, in µs.
    public func latency(_ p: Double, corrected: Bool = true) -> UInt64 {
        let h = corrected ? result.corrected : result.uncorrected
        return h.totalCount == 0 ? 0 : h.valueAtPercentile(p)
    }

    /// Said above the table when an open-loop schedule was not met, so nobody reads its percentiles as the target's.
    public var scheduleWarning: String? {
        guard configuration.rate != nil || configuration.pacing != nil, result.scheduled > 0 else { return nil }
        let sentShare = Double(result.sent) / Double(result.scheduled)
        // A handful due in the final tick are no sign of trouble; 1% unsent is.
        guard result.neverSent * 100 > result.scheduled || sentShare < 0.98 else { return nil }
        // The cause, where the run shows it: connections refused (a target that stopped) are no capacity question.
        let cause =
            result.connectFailures > 0
            ? "connections to the target failed (\(result.connectFailures) attempts refused or timed out, \((result.errors["closed"] ?? 0) + (result.errors["io"] ?? 0)) closed or broken): is it still running? "
                + "Corrected latency counts the unsent ones as waiting until the end."
            : "the client or the target could not keep up. Corrected latency counts the unsent ones as waiting until the end; add --connections or --threads, or lower --rate."
        return String(
            format: "  ⚠ SCHEDULE NOT MET: %d of %d scheduled requests were never sent (%.1f%% sent); ",
            result.neverSent, result.scheduled, sentShare * 100) + cause
    }

    /// Why no request completed, from what the run saw, with what to do.
    public var nothingCompletedHint: String {
        if stoppedInWarmup {
            return "the run was stopped (a signal) during its --warmup, before any request was measured; let the warm-up finish, or shorten it"
        }
        let errors = result.errors
        if (errors["tls"] ?? 0) > 0 {
            // The diagnosis names the problem and its fix (expired, another name, unknown CA, not TLS).
            if let detail = result.errorDetails["tls"] {
                // --insecure skips verification; it does not make a plain-HTTP server speak TLS.
                let plain = detail.lowercased().contains("does not speak tls")
                return "the TLS handshake failed: \(detail)\(plain ? "" : " (or --insecure to measure anyway)")"
            }
            return "the TLS handshake failed: for a self-signed certificate or your own CA pass --ca FILE (or --insecure); for a plain-HTTP server use an http:// --target"
        }
        let answered = result.statuses.values.reduce(0, +)
        if (result.statuses[401] ?? 0) > 0 || (result.statuses[403] ?? 0) > 0 {
            return "the target refused the requests' credentials (401/403): a simulator started with --access-key verifies "
                + "signatures; sign --synthetic requests with a key it knows (tapedeck load --access-key ID:SECRET; the default is "
                + "\(SyntheticSource.accessKeyID):\(SyntheticSource.accessKeySecret)), or start it with that key"
        }
        if answered > 0 {
            let codes = result.statuses.sorted { $0.key < $1.key }.map { "\($0.key) ×\($0.value)" }.joined(separator: ", ")
            return "the target answered, but only with errors (\(codes)); see its log, or the answer a single request gets (curl -i URL)"
        }
        if (errors["protocol"] ?? 0) > 0 {
            return "the target's answers could not be read as HTTP/1.1 (is it an HTTP server, or does it speak TLS: an https:// --target?)"
        }
        if (errors["closed"] ?? 0) > 0 && result.connectFailures == 0 {
            return "the target closed every connection before a whole answer (does it speak TLS? then use an https:// --target; else see its log)"
        }
        if (errors["io"] ?? 0) > 0 {
            return "the target broke the connections (\(result.errorDetails["io"] ?? "I/O errors")): is it an HTTP server, and does it stay up?"
        }
        if (errors["timeout"] ?? 0) > 0 || result.unanswered > 0 {
            if stoppedEarly && (errors["timeout"] ?? 0) == 0 {
                return "the run was stopped (a signal) before the target answered any request (\(result.unanswered) still waiting)"
            }
            return "the target accepted connections but did not answer in time (raise --timeout, or check that it is not stalled)"
        }
        if let why = result.errorDetails["connect"] {
            return "no connection could be made (\(why)): is it listening, and is --target right?"
        }
        return "is it listening, and is --target right?"
    }

    /// One sentence per kind of tapedeck-proxy error among the answers (said once, however many there were).
    public var tapedeckExplanations: [String] {
        result.tapedeckCodes.sorted { $0.key < $1.key }.map { code, n in
            switch code {
            case "Tapedeck.ExchangesExhausted":
                return
                    "\(n) answers were Tapedeck.ExchangesExhausted: the replaying proxy ran out of recorded answers (it answers each recorded "
                    + "request as often as it was recorded, with --on-exhausted error). For load runs start it with --on-exhausted cycle (or last)."
            case "Tapedeck.NoMatchingExchange":
                return "\(n) answers were Tapedeck.NoMatchingExchange: the proxy's cassette holds no recording of these requests. "
                    + "Load the cassette the proxy replays (--cassette FILE), or record these requests first."
            default:
                return "\(n) answers were \(code) from a tapedeck proxy (its message says why; see its log)."
            }
        }
    }

    public var text: String {
        var s = ""
        let mode =
            configuration.rate.map { "open loop, \(String(format: "%g", $0)) req/s requested (\(configuration.arrival.rawValue))" }
            ?? (configuration.pacing != nil ? "open loop, cassette pacing ×\(configuration.speed)" : "closed loop")
        s +=
            "tapedeck load → \(configuration.target.host):\(configuration.target.port)  [\(mode), \(configuration.connections) connections, \(configuration.threads) thread(s), \(String(format: "%.1f", seconds)) s]\n"
        if stoppedInWarmup {
            s += "  stopped (Ctrl-C or SIGTERM) during the warm-up: nothing was measured\n"
        } else if stoppedEarly {
            s += String(
                format: "  stopped early (Ctrl-C or SIGTERM) after %.1f s of %.1f s; the figures cover the time measured\n",
                seconds, Double(configuration.duration.nanoseconds) / 1e9)
        }
        if let warning = scheduleWarning { s += warning + "\n" }
        s += String(
            format:
                "  requests: %d scheduled, %d sent, %d completed, %d errors, %d unanswered at the end, %d never sent; achieved %@ req/s\n",
            result.scheduled, result.sent, result.completed, errorCount, result.unanswered, result.neverSent,
            // A slow rate (--rate 0.5) is not "0 req/s".
            String(format: throughput < 10 ? "%.2f" : "%.0f", throughput))
        if result.connectFailures > 0 { s += "  connection attempts failed (retried): \(result.connectFailures)\n" }
        s += "  latency (µs)      corrected   uncorrected\n"
        // A histogram with no sample has no percentiles: "-", not a latency of 0.
        let hasCorrected = result.corrected.totalCount > 0, hasUncorrected = result.uncorrected.totalCount > 0
        func cell(_ value: some BinaryInteger, _ has: Bool) -> String { (has ? String(value) : "-").leftPad(12) }
        for (name, p) in LoadReport.percentiles {
            s +=
                "    \(name.padding(toLength: 8, withPad: " ", startingAt: 0))  \(cell(latency(p), hasCorrected))  \(cell(latency(p, corrected: false), hasUncorrected))\n"
        }
        s += "    max       \(cell(result.corrected.max, hasCorrected))  \(cell(result.uncorrected.max, hasUncorrected))\n"
        if !result.statuses.isEmpty {
            s += "  status: " + result.statuses.keys.sorted().map { "\($0)=\(result.statuses[$0]!)" }.joined(separator: " ") + "\n"
        }
        if !result.errors.isEmpty {
            s += "  errors: " + result.errors.keys.sorted().map { "\($0)=\(result.errors[$0]!)" }.joined(separator: " ") + "\n"
            for (kind, detail) in result.errorDetails.sorted(by: { $0.key < $1.key }) where result.errors[kind] != nil && kind != "protocol" {
                s += "  (\(kind), first: \(detail))\n"
            }
            if result.errors["protocol"] != nil {
                s += "  (protocol: an answer the load generator cannot read: malformed, an answer nobody asked for, or a body over 64 MiB)\n"
            }
        }
        for line in tapedeckExplanations { s += "  ⚠ " + line + "\n" }
        for note in configuration.notes { s += "  note: " + note + "\n" }
        if configuration.verify {
            let bad = result.verifyMismatched.values.reduce(0, +)
            s +=
                "  verify: \(result.verifyChecked) checked, \(bad) mismatched"
                + (bad > 0 ? " (" + result.verifyMismatched.map { "\($0.key)=\($0.value)" }.sorted().joined(separator: " ") + ")" : "")
                + "\n"
            for m in result.mismatchSamples { s += "    ✗ \(m)\n" }
        }
        return s
    }

    /// The versioned machine-readable summary (`--json`): the one schema, written and read back by `Codable`.
    public var document: Document {
        func lat(_ h: Histogram<UInt64>) -> Document.Latency {
            func at(_ p: Double) -> UInt64 { h.totalCount == 0 ? 0 : h.valueAtPercentile(p) }
            return .init(
                p50: at(50), p75: at(75), p90: at(90), p99: at(99), p999: at(99.9), p9999: at(99.99), p99999: at(99.999), max: h.max,
                mean: h.totalCount == 0 ? 0 : h.mean)
        }
        return Document(
            version: LoadReport.jsonVersion,
            target: "\(configuration.target.host):\(configuration.target.port)",
            mode: configuration.rate == nil && configuration.pacing == nil ? "closed" : "open",
            requestedRps: configuration.rate ?? 0,
            connections: configuration.connections,
            threads: configuration.threads,
            durationS: seconds,
            requests: .init(
                scheduled: result.scheduled, sent: result.sent, completed: result.completed, errors: errorCount,
                unanswered: result.unanswered, neverSent: result.neverSent, connectFailures: result.connectFailures),
            scheduleMet: scheduleWarning == nil,
            errors: result.errors,
            tapedeckCodes: result.tapedeckCodes,
            notes: configuration.notes,
            throughputRps: throughput,
            latencyUs: .init(corrected: lat(result.corrected), uncorrected: lat(result.uncorrected)),
            status: Dictionary(uniqueKeysWithValues: result.statuses.map { (String($0.key), $0.value) }),
            verify: .init(
                enabled: configuration.verify, checked: result.verifyChecked,
                mismatched: result.verifyMismatched.values.reduce(0, +), byKind: result.verifyMismatched),
            perSecond: .init(completed: result.perSecond, p99Us: result.perSecondP99),
            histograms: .init(
                corrected: encoded(result.corrected), uncorrected: encoded(result.uncorrected),
                intervalsCorrected: result.intervals.map(encoded)),
            startedAt: result.startedAt.timeIntervalSince1970)
    }

    /// The summary as a JSON object (for embedding in other documents, and for tests).
    public var json: [String: Any] {
        (try? jsonData()).flatMap { try? JSONSerialization.jsonObject(with: $0) as? [String: Any] } ?? [:]
    }

    static let encoder: JSONEncoder = {
        let e = JSONEncoder()
        e.keyEncodingStrategy = .convertToSnakeCase
        e.outputFormatting = [.prettyPrinted, .sortedKeys]
        return e
    }()

    static let decoder: JSONDecoder = {
        let d = JSONDecoder()
        d.keyDecodingStrategy = .convertFromSnakeCase
        return d
    }()

    private func encoded(_ h: Histogram<UInt64>) -> String {
        ((try? HistogramCodec.encodeCompressed(h)).map { Data($0).base64EncodedString() }) ?? ""
    }

    /// HdrHistogram interval log (format 1.3): one compressed corrected-latency histogram per second,
    /// values in µs, `Interval_Max` in ms. Existing tools (HistogramLogProcessor, hdrh for Python) read it.
    public var hlog: String {
        var s = "#[Histogram log format version 1.3]\n"
        s += String(format: "#[StartTime: %.3f (seconds since epoch)]\n", result.startedAt.timeIntervalSince1970)
        s += "\"StartTimestamp\",\"Interval_Length\",\"Interval_Max\",\"Interval_Compressed_Histogram\"\n"
        for (i, h) in result.intervals.enumerated() {
            s += String(format: "%.3f,%.3f,%.3f,", Double(i), 1.0, Double(h.totalCount > 0 ? h.max : 0) / 1000) + encoded(h) + "\n"
        }
        return s
    }

    public func jsonData() throws -> Data { try LoadReport.encoder.encode(document) }

    /// HdrHistogram percentile distribution text of the corrected latency, in milliseconds (`.hgrm`).
    public var hgrm: String {
        var out = ""
        result.corrected.outputPercentileDistribution(to: &out, outputValueUnitScalingRatio: 1000)
        return out
    }
}

extension String {
    func leftPad(_ n: Int) -> String { count >= n ? self : String(repeating: " ", count: n - count) + self }
}
