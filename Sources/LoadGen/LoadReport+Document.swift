import Foundation

extension LoadReport {
    /// The `--json` schema (version `jsonVersion`). Keys are snake_case on disk (`requested_rps`,
    /// `latency_us`, …). Fields added after the first version are optional, so older reports still read.
    public struct Document: Codable, Sendable {
        public var version: Int
        /// `HOST:PORT`.
        public var target: String
        /// `open` or `closed`.
        public var mode: String
        /// 0 for closed loop.
        public var requestedRps: Double
        public var connections: Int
        public var threads: Int
        /// The time measured (a run stopped early reports less than its duration).
        public var durationS: Double
        public var requests: Requests
        public var scheduleMet: Bool?
        public var errors: [String: Int]
        public var tapedeckCodes: [String: Int]?
        public var notes: [String]?
        public var throughputRps: Double
        public var latencyUs: Latencies
        /// Answers by HTTP status code.
        public var status: [String: Int]
        public var verify: Verify
        public var perSecond: PerSecond?
        public var histograms: Histograms
        /// Seconds since 1970.
        public var startedAt: Double?

        public struct Requests: Codable, Sendable {
            public var scheduled: Int?
            public var sent: Int
            public var completed: Int
            public var errors: Int
            public var unanswered: Int?
            public var neverSent: Int?
            public var connectFailures: Int?
        }

        /// Percentiles of one latency histogram, in µs.
        public struct Latency: Codable, Sendable {
            public var p50, p75, p90, p99, p999, p9999, p99999, max: UInt64
            public var mean: Double
        }

        public struct Latencies: Codable, Sendable {
            /// From each request's intended send time (coordinated omission corrected).
            public var corrected: Latency
            /// From the time each request was actually written.
            public var uncorrected: Latency
        }

        public struct Verify: Codable, Sendable {
            public var enabled: Bool
            public var checked: Int
            public var mismatched: Int
            public var byKind: [String: Int]
        }

        public struct PerSecond: Codable, Sendable {
            public var completed: [Int]
            public var p99Us: [UInt64]
        }

        /// Exact histograms (HdrHistogram V2, compressed, base64), so reports from many workers merge exactly.
        public struct Histograms: Codable, Sendable {
            public var corrected: String
            public var uncorrected: String
            public var intervalsCorrected: [String]?
        }
    }
}
