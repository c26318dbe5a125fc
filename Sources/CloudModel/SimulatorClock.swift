import Foundation
import Synchronization

/// Time and ids for responses. With a fixed clock and a seed, the same calls give byte-identical bodies.
public final class SimulatorClock: Sendable {
    /// Seconds since 1970; nil means the system clock.
    public let fixedTime: Int64?
    private let seed: UInt64
    private let counter = Atomic<UInt64>(0)

    public init(fixedTime: Int64?, seed: UInt64) {
        self.fixedTime = fixedTime
        self.seed = seed
    }

    public var now: Int64 { fixedTime ?? Int64(Date().timeIntervalSince1970) }

    /// The next request id's 128 bits, from the seed and a counter.
    @inline(__always)
    public func nextRequestBits() -> (UInt64, UInt64) {
        let n = counter.add(1, ordering: .relaxed).newValue
        let hi = IDCodec.mix(seed ^ 0x5245_5155 &+ n)
        return (hi, IDCodec.mix(hi ^ n))
    }

    /// Alibaba style: upper-case UUID.
    public func aliyunRequestID() -> String {
        let (a, b) = nextRequestBits()
        return IDCodec.hexID(a, b, dashes: true, uppercase: true)
    }

    /// Huawei style: 32 lower-case hex digits.
    public func huaweiRequestID() -> String {
        let (a, b) = nextRequestBits()
        return IDCodec.hexID(a, b, dashes: false, uppercase: false)
    }

    private static func isoFormats(_ t: Int64) -> (Int, Int, Int, Int, Int, Int) {
        // Civil-from-days (Howard Hinnant), UTC.
        let days = Int(t >= 0 ? t / 86400 : (t - 86399) / 86400)
        let secs = Int(t - Int64(days) * 86400)
        let z = days + 719468
        let era = (z >= 0 ? z : z - 146096) / 146097
        let doe = z - era * 146097
        let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let d = doy - (153 * mp + 2) / 5 + 1
        let m = mp < 10 ? mp + 3 : mp - 9
        let y = yoe + era * 400 + (m <= 2 ? 1 : 0)
        return (y, m, d, secs / 3600, secs % 3600 / 60, secs % 60)
    }

    /// `2026-01-01T00:00:00Z`
    public static func iso8601(_ t: Int64) -> String {
        let (y, m, d, hh, mm, ss) = isoFormats(t)
        return String(format: "%04d-%02d-%02dT%02d:%02d:%02dZ", y, m, d, hh, mm, ss)
    }

    /// Parses `yyyy-MM-ddTHH:mm:ssZ` (for `--fixed-clock`).
    public static func parseISO8601(_ s: String) -> Int64? {
        let f = ISO8601DateFormatter()
        return f.date(from: s).map { Int64($0.timeIntervalSince1970) }
    }
}
