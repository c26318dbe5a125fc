import NIOCore

/// One load run.
public struct LoadConfiguration: Sendable {
    public enum Arrival: String, Sendable, CaseIterable { case constant, poisson }

    public var target: LoadTarget
    /// Requests per second (open loop); nil: closed loop, each connection sends when answered.
    public var rate: Double?
    public var arrival: Arrival = .constant
    public var connections: Int = 32
    public var threads: Int = 1
    public var duration: TimeAmount = .seconds(10)
    public var warmup: TimeAmount = .zero
    public var timeout: TimeAmount = .seconds(2)
    public var verify = false
    /// Cassette pacing: send request i at offsets[i] / speed (when set, `rate` is ignored).
    public var pacing: [Double]?
    public var speed: Double = 1
    public var seed: UInt64 = 1
    /// `https://` targets: a PEM/DER CA certificate to trust besides the system store (`--ca`)…
    public var tlsCAFile: String?
    /// …or no certificate verification at all (`--insecure`, for self-signed test servers).
    public var tlsInsecure = false
    /// What the run learned about its target before starting (said in the report).
    public var notes: [String] = []

    public init(target: LoadTarget) { self.target = target }
}
