/// Case-insensitive comparison of ASCII names (HTTP header and parameter names) without lower-casing
/// copies: `String.lowercased()` allocates and goes through Unicode tables, and it ran for every header
/// of every request the proxy keyed.
public enum ASCIICase {
    /// Whether `a` and `b` are equal when ASCII letters are folded to lower case (other bytes compare exactly).
    public static func equalIgnoringCase(_ a: String, _ b: String) -> Bool {
        var a = a, b = b
        return a.withUTF8 { x in b.withUTF8 { y in equalIgnoringCase(x, y) } }
    }

    public static func equalIgnoringCase(_ x: UnsafeBufferPointer<UInt8>, _ y: UnsafeBufferPointer<UInt8>) -> Bool {
        guard x.count == y.count else { return false }
        for i in 0..<x.count where x[i] != y[i] {
            guard lower(x[i]) == lower(y[i]) else { return false }
        }
        return true
    }

    /// Whether `s` starts with `prefix`, ASCII letters folded.
    /// Whether `bytes`, ASCII letters folded to lower case, are `lowercased` (which is lower-case ASCII).
    public static func bytes(_ bytes: UnsafeRawBufferPointer, equalLowercased lowercased: StaticString) -> Bool {
        guard bytes.count == lowercased.utf8CodeUnitCount else { return false }
        let t = lowercased.utf8Start
        for k in 0..<bytes.count where lower(bytes[k]) != t[k] { return false }
        return true
    }

    public static func hasPrefixIgnoringCase(_ s: String, _ prefix: String) -> Bool {
        var s = s, prefix = prefix
        return s.withUTF8 { x in
            prefix.withUTF8 { p in
                x.count >= p.count && equalIgnoringCase(UnsafeBufferPointer(rebasing: x[0..<p.count]), p)
            }
        }
    }

    /// `s` with ASCII capitals lower-cased; `s` itself (no copy) when it has none.
    public static func lowercased(_ s: String) -> String {
        guard s.utf8.contains(where: { $0 >= 65 && $0 <= 90 }) else { return s }
        return String(decoding: s.utf8.map { lower($0) }, as: UTF8.self)
    }

    @inline(__always) static func lower(_ b: UInt8) -> UInt8 { b >= 65 && b <= 90 ? b | 0x20 : b }
}
