import Cassette
import CloudSigning
import Matching
import NIOCore
import TapedeckHTTP

/// How a proxy listens, where it forwards, and how it records and replays.
public struct ProxyConfiguration: Sendable {
    public var host = "127.0.0.1"
    public var port = 8080
    public var cassettePath: String
    public var mode: ProxyMode = .auto
    /// When set, the control API switches only to cassettes under this directory.
    public var cassetteDirectory: String?
    /// Reverse-proxy target for origin-form requests (`http://host:port` or `https://…`).
    public var upstream: String?
    public var onExhausted: ExhaustedPolicy = .error
    /// A profile to use for every request instead of detecting one per request.
    public var profile: MatchProfile?
    /// Request parts to leave out of match keys (`--ignore`, `--match-config`), on top of the profiles'.
    public var matchConfig = MatchConfig()
    /// Re-signs requests forwarded in reverse mode whose signature covers `Host` (`--resign ID:SECRET`).
    public var resigner: Resigner?
    public var redactor = Redactor()
    /// Where the interception CA lives (created on first use).
    public var caDirectory: String
    /// PEM file of extra CAs to trust for upstream TLS (besides the system trust store).
    public var upstreamCAFile: String?
    public var upstreamTimeout: TimeAmount = .seconds(30)
    public var connectTimeout: TimeAmount = .seconds(10)
    public var threads: Int = System.coreCount
    /// Largest request or response body buffered, in bytes (a response's after decoding its `Content-Encoding`).
    public var maxBodyBytes: Int {
        get { limits.maxBodyBytes }
        set { limits.maxBodyBytes = newValue }
    }
    /// Client-side request limits and the idle timeout (`--idle-timeout`).
    public var limits: HTTPServerLimits = {
        var l = HTTPServerLimits()
        l.maxBodyBytes = 64 * 1024 * 1024
        return l
    }()

    public init(cassettePath: String, caDirectory: String) {
        self.cassettePath = cassettePath
        self.caDirectory = caDirectory
    }
}
