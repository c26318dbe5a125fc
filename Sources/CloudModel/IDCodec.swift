/// Turns dense internal handles into cloud-looking ids and back, without any map.
///
/// A group's id is a keyed bijection of its handle (`mix(handle ^ salt)`), printed in the cloud's format
/// (`sg-bp…` base36 for Alibaba, a UUID for Huawei). Parsing inverts the bijection, so resolving an id to
/// its record is arithmetic plus one array index: no dictionary of millions of strings, no hashing of
/// strings on the lookup path, and ids still look random and differ between seeds.
public struct IDCodec: Sendable {
    public enum Style: Sendable { case aliyun, huawei }
    public let style: Style
    @usableFromInline let salt: UInt64

    public init(style: Style, seed: UInt64) {
        self.style = style
        self.salt = IDCodec.mix(seed &+ (style == .aliyun ? 0x51ED : 0x4A3B))
    }

    // MARK: bijective 64-bit mixer (splitmix64 finaliser) and its inverse

    @inlinable @inline(__always)
    public static func mix(_ v: UInt64) -> UInt64 {
        var x = v
        x = (x ^ (x >> 30)) &* 0xBF58476D1CE4E5B9
        x = (x ^ (x >> 27)) &* 0x94D049BB133111EB
        return x ^ (x >> 31)
    }

    @usableFromInline static let inv1: UInt64 = modInverse(0xBF58476D1CE4E5B9)
    @usableFromInline static let inv2: UInt64 = modInverse(0x94D049BB133111EB)

    @inlinable @inline(__always)
    static func unmix(_ v: UInt64) -> UInt64 {
        var x = unshift(v, 31)
        x = unshift(x &* inv2, 27)
        return unshift(x &* inv1, 30)
    }

    @inlinable @inline(__always)
    static func unshift(_ v: UInt64, _ s: UInt64) -> UInt64 {
        var x = v
        var shift = s
        while shift < 64 { x = v ^ (x >> s); shift += s }
        return x
    }

    /// Inverse of an odd number modulo 2^64 (Newton's iteration).
    private static func modInverse(_ a: UInt64) -> UInt64 {
        var x = a
        for _ in 0..<6 { x = x &* (2 &- a &* x) }
        return x
    }

    // MARK: ids

    /// The id of the entity with key `key` (a group handle, or a rule key) of the given kind.
    public func format(_ key: UInt64, kind: Kind) -> String {
        let v = IDCodec.mix(key ^ salt ^ kind.rawValue)
        switch style {
        case .aliyun: return kind.aliyunPrefix + IDCodec.base36(v)
        case .huawei: return IDCodec.uuid(v, IDCodec.mix(v ^ 0x9E3779B97F4A7C15))
        }
    }

    /// Bytes `writeRaw` writes for one id.
    public var idLength: Int { style == .aliyun ? 18 : 36 }

    /// Writes a group id at `out[at...]` (room for `idLength` bytes) and returns the bytes written: the
    /// rendering hot path, with no String, no allocation and no table lookups.
    @inlinable @inline(__always)
    public func writeRaw(_ key: UInt64, kind: Kind, _ out: UnsafeMutableRawBufferPointer, _ at: Int) -> Int {
        let v = IDCodec.mix(key ^ salt ^ kind.rawValue)
        switch style {
        case .aliyun:
            var p = at
            for c in kind == .group ? "sg-bp".utf8 : "sgr-bp".utf8 { out[p] = c; p += 1 }
            IDCodec.writeBase36(v, to: out.baseAddress! + p, pairs: IDCodec.base36Pairs)
            return p + 13 - at
        case .huawei:
            let lo = IDCodec.mix(v ^ 0x9E3779B97F4A7C15)
            var p = at
            for n in 0..<32 {
                if n == 8 || n == 12 || n == 16 || n == 20 { out[p] = UInt8(ascii: "-"); p += 1 }
                let word = n < 16 ? v : lo
                let d = UInt8(truncatingIfNeeded: (word >> UInt64(60 - 4 * (n & 15))) & 0xF)
                out[p] = d < 10 ? 48 &+ d : 87 &+ d
                p += 1
            }
            return 36
        }
    }

    /// Alibaba style only: the 13 digits that follow `sg-bp` in group `handle`'s id.
    @inlinable @inline(__always)
    public func writeAliyunGroupDigits(_ handle: UInt32, to out: UnsafeMutableRawPointer, pairs: UnsafePointer<UInt16>) {
        IDCodec.writeBase36(IDCodec.mix(UInt64(handle) ^ salt ^ Kind.group.rawValue), to: out, pairs: pairs)
    }

    /// The key for an id printed by `format`, or nil if it is not one of ours.
    @inlinable
    public func parse<S: StringProtocol>(_ id: S, kind: Kind) -> UInt64? {
        if let r = id.utf8.withContiguousStorageIfAvailable({ parse(utf8: $0, kind: kind) }) { return r }
        return Array(id.utf8).withUnsafeBufferPointer { parse(utf8: $0, kind: kind) }
    }

    /// `parse` over raw UTF-8 (the lookup path's concrete form; inlinable into the API front ends).
    @inlinable
    public func parse(utf8 id: UnsafeBufferPointer<UInt8>, kind: Kind) -> UInt64? {
        let v: UInt64
        switch style {
        case .aliyun:
            let plen = kind == .group ? 5 : 6
            guard id.count == plen + 13, id[0] == UInt8(ascii: "s"), id[1] == UInt8(ascii: "g"),
                kind == .group || id[2] == UInt8(ascii: "r"), id[plen - 3] == UInt8(ascii: "-"),
                id[plen - 2] == UInt8(ascii: "b"), id[plen - 1] == UInt8(ascii: "p"),
                let n = IDCodec.parseBase36(UnsafeBufferPointer(rebasing: id[plen...]))
            else { return nil }
            v = n
        case .huawei:
            guard let (hi, lo) = IDCodec.parseUUID(id), lo == IDCodec.mix(hi ^ 0x9E3779B97F4A7C15) else { return nil }
            v = hi
        }
        return IDCodec.unmix(v) ^ salt ^ kind.rawValue
    }

    public enum Kind: UInt64, Sendable {
        case group = 0
        case rule = 0x5555_0000_0000_0000
        var aliyunPrefix: String { self == .group ? "sg-bp" : "sgr-bp" }
    }

    /// The 13 base36 digits of `v`, most significant first, at `to[0..<13]`: two 64-bit divisions split
    /// `v` into 1 + 6 + 6 digits, and each 6-digit part is three two-digit table reads (`pairs`, from
    /// `base36Pairs`), instead of thirteen 64-bit divisions (a third of a rendered answer's time).
    @inlinable @inline(__always)
    public static func writeBase36(_ v: UInt64, to out: UnsafeMutableRawPointer, pairs: UnsafePointer<UInt16>) {
        let six: UInt64 = 2_176_782_336  // 36^6
        let q = v / six
        let low = UInt32(truncatingIfNeeded: v &- q &* six)
        let top = q / six
        let mid = UInt32(truncatingIfNeeded: q &- top &* six)
        let d = UInt8(truncatingIfNeeded: top)  // < 36^13 / 2^64 ... at most 3
        out.storeBytes(of: d < 10 ? 48 &+ d : 87 &+ d, as: UInt8.self)
        write6(mid, out + 1, pairs)
        write6(low, out + 7, pairs)
    }

    @inlinable @inline(__always)
    static func write6(_ x: UInt32, _ out: UnsafeMutableRawPointer, _ pairs: UnsafePointer<UInt16>) {
        let a = x / 1296
        let b = a / 1296
        out.storeBytes(of: pairs[Int(b)], toByteOffset: 0, as: UInt16.self)
        out.storeBytes(of: pairs[Int(a &- b &* 1296)], toByteOffset: 2, as: UInt16.self)
        out.storeBytes(of: pairs[Int(x &- a &* 1296)], toByteOffset: 4, as: UInt16.self)
    }

    /// Two base36 digits per entry, 0…1295, as the UInt16 that stores them in memory order. Written once
    /// when first used, then only read; never freed.
    nonisolated(unsafe) public static let base36Pairs: UnsafePointer<UInt16> = {
        let table = UnsafeMutablePointer<UInt16>.allocate(capacity: 1296)
        for i in 0..<1296 {
            let hi = b36[i / 36], lo = b36[i % 36]
            withUnsafeMutableBytes(of: &table[i]) {
                $0[0] = hi; $0[1] = lo
            }
        }
        return UnsafePointer(table)
    }()

    static let b36: [UInt8] = Array("0123456789abcdefghijklmnopqrstuvwxyz".utf8)

    /// Exactly 13 base36 digits (36^13 > 2^64).
    public static func base36(_ v: UInt64) -> String {
        var out = [UInt8](repeating: UInt8(ascii: "0"), count: 13)
        var x = v
        var i = 12
        while x > 0 { out[i] = b36[Int(x % 36)]; x /= 36; i -= 1 }
        return String(decoding: out, as: UTF8.self)
    }

    /// An id's 13 base-36 digits (0-9, a-z) as a number; nil for another length, any other byte, or above
    /// 2^64 - 1. Read as 1 + 6 + 6: each six is its own 32-bit chain of multiply-adds (36^6 < 2^32), so the two run side by side
    /// instead of one 13-step chain of checked 64-bit multiplies, and a digit is classified without branches
    /// (it was most of an in-process reference lookup).
    @inlinable
    static func parseBase36(_ s: UnsafeBufferPointer<UInt8>) -> UInt64? {
        guard s.count == 13, let p = s.baseAddress else { return nil }
        var bad: UInt32 = 0
        @inline(__always) func digit(_ c: UInt8) -> UInt32 {
            let n = UInt32(c) &- 48, l = UInt32(c) &- 97
            bad |= (n < 10 || l < 26) ? 0 : 1
            return n < 10 ? n : l &+ 10
        }
        var mid: UInt32 = 0, low: UInt32 = 0
        for i in 1...6 {
            mid = mid &* 36 &+ digit(p[i])
            low = low &* 36 &+ digit(p[i + 6])
        }
        let top = UInt64(digit(p[0]))
        // 36^12 * 4 > 2^64: a top digit above 3 overflows, and with 3 the sum may.
        guard bad == 0, top <= 3 else { return nil }
        let (v, o) = (top &* 4_738_381_338_321_616_896).addingReportingOverflow(UInt64(mid) &* 2_176_782_336 &+ UInt64(low))
        return o ? nil : v
    }

    static func uuid(_ hi: UInt64, _ lo: UInt64) -> String { hexID(hi, lo, dashes: true, uppercase: false) }

    /// 32 hex digits of `hi` then `lo`, as a UUID (8-4-4-4-12) with `dashes`: one allocation, no
    /// intermediate strings (request ids are made for every answer).
    public static func hexID(_ hi: UInt64, _ lo: UInt64, dashes: Bool, uppercase: Bool) -> String {
        String(unsafeUninitializedCapacity: dashes ? 36 : 32) { out in
            let letters = uppercase ? UInt8(ascii: "A") - 10 : UInt8(ascii: "a") - 10
            var at = 0
            for pos in 0..<32 {
                if dashes && (pos == 8 || pos == 12 || pos == 16 || pos == 20) {
                    out[at] = UInt8(ascii: "-")
                    at += 1
                }
                let word = pos < 16 ? hi : lo
                let d = UInt8(truncatingIfNeeded: (word >> UInt64(60 - 4 * (pos & 15))) & 0xF)
                out[at] = d < 10 ? UInt8(ascii: "0") + d : letters + d
                at += 1
            }
            return at
        }
    }

    @inlinable
    static func parseUUID(_ s: UnsafeBufferPointer<UInt8>) -> (UInt64, UInt64)? {
        guard s.count == 36 else { return nil }
        var words: (UInt64, UInt64) = (0, 0)
        var n = 0
        for (pos, c) in s.enumerated() {
            if pos == 8 || pos == 13 || pos == 18 || pos == 23 {
                guard c == UInt8(ascii: "-") else { return nil }
                continue
            }
            let d: UInt64
            switch c {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): d = UInt64(c - UInt8(ascii: "0"))
            case UInt8(ascii: "a")...UInt8(ascii: "f"): d = UInt64(c - UInt8(ascii: "a")) + 10
            default: return nil
            }
            if n < 16 { words.0 = words.0 << 4 | d } else { words.1 = words.1 << 4 | d }
            n += 1
        }
        return words
    }
}
