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
    public static func decode<C: Collection>(_ bytes: C, plusAsSpace: Bool = true) -> String? where C.Element == UInt8 {
        var out = [UInt8]()
        out.reserveCapacity(bytes.count)
        var i = bytes.startIndex
        var plain = true
        while i != bytes.endIndex {
            let b = bytes[i]
            if b == UInt8(ascii: "%") {
                plain = false
                let h1 = bytes.index(after: i)
                guard h1 != bytes.endIndex else { return nil }
                let h2 = bytes.index(after: h1)
                guard h2 != bytes.endIndex, let hi = hexValue(bytes[h1]), let lo = hexValue(bytes[h2]) else { return nil }
                out.append(hi << 4 | lo)
                i = bytes.index(after: h2)
                continue
            }
            if b == UInt8(ascii: "+") && plusAsSpace {
                plain = false
                out.append(UInt8(ascii: " "))
            } else {
                out.append(b)
            }
            i = bytes.index(after: i)
        }
        _ = plain
        return String(validating: out, as: UTF8.self)
    }

    @inline(__always)
    static func hexValue(_ b: UInt8) -> UInt8? {
        switch b {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return b - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): return b - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): return b - UInt8(ascii: "A") + 10
        default: return nil
        }
    }
}
