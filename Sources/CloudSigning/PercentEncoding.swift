import Foundation

/// RFC 3986 percent-encoding as both clouds' signers use it: only the unreserved characters
/// `A-Z a-z 0-9 - _ . ~` stay literal; everything else is `%XX` of its UTF-8 bytes (space is `%20`).
public enum PercentEncoding {
    @inline(__always)
    static func isUnreserved(_ b: UInt8) -> Bool {
        switch b {
        case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"),
            UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "_"),
            UInt8(ascii: "."), UInt8(ascii: "~"):
            return true
        default:
            return false
        }
    }

    /// Encodes `s`; `keepSlash` leaves `/` literal (for canonical URIs).
    public static func encode(_ s: String, keepSlash: Bool = false) -> String {
        var probe = s
        let clean = probe.withUTF8 { buf in
            for b in buf where !(isUnreserved(b) || (keepSlash && b == UInt8(ascii: "/"))) { return false }
            return true
        }
        if clean { return s }  // nothing to escape
        return String(unsafeUninitializedCapacity: 3 * s.utf8.count) { out in encode(s, to: out.baseAddress!, keepSlash: keepSlash) }
    }

    /// Writes `s` encoded (as `encode(s)` would) at `dst`, which has room for three bytes per byte of `s`;
    /// returns how many it wrote.
    public static func encode(_ s: String, to dst: UnsafeMutablePointer<UInt8>, keepSlash: Bool = false) -> Int {
        // Borrowed, not copied (`withUTF8` is mutating: a copy, a retain and a release per string).
        if let n = s.utf8.withContiguousStorageIfAvailable({ encode(utf8: $0, to: dst, keepSlash: keepSlash) }) { return n }
        var s = s
        return s.withUTF8 { encode(utf8: $0, to: dst, keepSlash: keepSlash) }
    }

    private static func encode(utf8 buf: UnsafeBufferPointer<UInt8>, to dst: UnsafeMutablePointer<UInt8>, keepSlash: Bool) -> Int {
        var k = 0
        for b in buf {
            if isUnreserved(b) || (keepSlash && b == UInt8(ascii: "/")) {
                dst[k] = b
                k += 1
            } else {
                dst[k] = UInt8(ascii: "%")
                dst[k + 1] = hexDigit(b >> 4)
                dst[k + 2] = hexDigit(b & 0xF)
                k += 3
            }
        }
        return k
    }

    /// The upper-case hex digit of `v` (0...15), computed: a global table costs an initialisation check per read.
    @inline(__always)
    private static func hexDigit(_ v: UInt8) -> UInt8 { v < 10 ? UInt8(ascii: "0") + v : UInt8(ascii: "A") - 10 + v }

    /// Decodes `%XX` escapes (and `+` as space when `plusAsSpace`). Returns nil for a malformed escape
    /// or for bytes that are not valid UTF-8, so callers can answer with the cloud's error.
    public static func decode(_ bytes: UnsafeBufferPointer<UInt8>, plusAsSpace: Bool = true) -> String? {
        guard let base = bytes.baseAddress else { return "" }
        let needs =
            memchr(base, Int32(UInt8(ascii: "%")), bytes.count) != nil
            || (plusAsSpace && memchr(base, Int32(UInt8(ascii: "+")), bytes.count) != nil)
        if !needs { return validated(bytes) }  // nothing to decode: one copy, validated
        // Decoded straight into the new String; its bytes are validated as UTF-8 only when one is non-ASCII.
        var valid = true
        let s = String(unsafeUninitializedCapacity: bytes.count) { out -> Int in
            var i = 0, k = 0
            var high: UInt8 = 0
            let n = bytes.count
            while i < n {
                var b = bytes[i]
                if b == UInt8(ascii: "%") {
                    guard i + 2 < n, let hi = hexValue(bytes[i + 1]), let lo = hexValue(bytes[i + 2]) else {
                        valid = false
                        return 0
                    }
                    b = hi << 4 | lo
                    i += 3
                } else {
                    if b == UInt8(ascii: "+") && plusAsSpace { b = UInt8(ascii: " ") }
                    i += 1
                }
                out[k] = b
                high |= b
                k += 1
            }
            if high >= 0x80, String(validating: UnsafeBufferPointer(UnsafeMutableBufferPointer(rebasing: out[0..<k])), as: UTF8.self) == nil
            {
                valid = false
                return 0
            }
            return k
        }
        return valid ? s : nil
    }

    /// The bytes as a `String` if they are valid UTF-8. ASCII (nearly every parameter) is checked eight
    /// bytes at a time and copied without the generic validator, whose metadata lookup showed in profiles.
    @usableFromInline
    static func validated(_ bytes: UnsafeBufferPointer<UInt8>) -> String? {
        guard let base = bytes.baseAddress else { return "" }
        let n = bytes.count
        var i = 0
        var high: UInt64 = 0
        while i + 8 <= n {
            high |= UnsafeRawPointer(base + i).loadUnaligned(as: UInt64.self)
            i += 8
        }
        while i < n {
            high |= UInt64(base[i])
            i += 1
        }
        if high & 0x8080_8080_8080_8080 == 0 { return String(decoding: bytes, as: UTF8.self) }
        return String(validating: bytes, as: UTF8.self)
    }

    public static func decode<C: Collection>(_ bytes: C, plusAsSpace: Bool = true) -> String? where C.Element == UInt8 {
        if let r = bytes.withContiguousStorageIfAvailable({ decode($0, plusAsSpace: plusAsSpace) }) { return r }
        return Array(bytes).withUnsafeBufferPointer { decode($0, plusAsSpace: plusAsSpace) }
    }

    /// The value of one hex digit, either case.
    @inlinable @inline(__always)
    public static func hexValue(_ b: UInt8) -> UInt8? {
        switch b {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return b - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): return b - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): return b - UInt8(ascii: "A") + 10
        default: return nil
        }
    }
}
