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

    private static let hex: [UInt8] = Array("0123456789ABCDEF".utf8)

    /// Encodes `s`; `keepSlash` leaves `/` literal (for canonical URIs).
    public static func encode(_ s: String, keepSlash: Bool = false) -> String {
        if s.utf8.allSatisfy({ isUnreserved($0) || (keepSlash && $0 == UInt8(ascii: "/")) }) { return s }  // nothing to escape
        var out = [UInt8]()
        out.reserveCapacity(s.utf8.count)
        for b in s.utf8 {
            if isUnreserved(b) || (keepSlash && b == UInt8(ascii: "/")) {
                out.append(b)
            } else {
                out.append(UInt8(ascii: "%"))
                out.append(hex[Int(b >> 4)])
                out.append(hex[Int(b & 0xF)])
            }
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// Decodes `%XX` escapes (and `+` as space when `plusAsSpace`). Returns nil for a malformed escape
    /// or for bytes that are not valid UTF-8, so callers can answer with the cloud's error.
    public static func decode(_ bytes: UnsafeBufferPointer<UInt8>, plusAsSpace: Bool = true) -> String? {
        var needs = false
        for b in bytes where b == UInt8(ascii: "%") || (b == UInt8(ascii: "+") && plusAsSpace) { needs = true; break }
        if !needs { return String(validating: bytes, as: UTF8.self) }  // nothing to decode: one copy, validated
        var out = [UInt8]()
        out.reserveCapacity(bytes.count)
        var i = 0
        while i < bytes.count {
            let b = bytes[i]
            if b == UInt8(ascii: "%") {
                guard i + 2 < bytes.count, let hi = hexValue(bytes[i + 1]), let lo = hexValue(bytes[i + 2]) else { return nil }
                out.append(hi << 4 | lo)
                i += 3
                continue
            }
            out.append(b == UInt8(ascii: "+") && plusAsSpace ? UInt8(ascii: " ") : b)
            i += 1
        }
        return String(validating: out, as: UTF8.self)
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
