/// A small, fast, seedable generator (splitmix64), so a seed gives the same data on every machine.
public struct SplitMix64: RandomNumberGenerator, Sendable {
    public var state: UInt64
    public init(seed: UInt64) { state = seed }
    @inline(__always)
    public mutating func next() -> UInt64 {
        state &+= 0x9E3779B97F4A7C15
        return IDCodec.mix(state)
    }
    /// Uniform in `0..<n` (n > 0), via multiply-shift.
    @inline(__always)
    public mutating func below(_ n: Int) -> Int {
        Int((UInt128(next()) * UInt128(n)) >> 64)
    }
    /// Uniform in [0, 1).
    @inline(__always)
    public mutating func unit() -> Double { Double(next() >> 11) * 0x1.0p-53 }
}
