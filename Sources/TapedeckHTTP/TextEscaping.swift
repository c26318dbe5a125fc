import NIOCore

/// JSON string and XML text escaping straight into a buffer: the one implementation under the
/// simulator's documents (`DocumentWriter`, on the rendering hot path) and every cloud error document.
/// Text that needs no escaping (almost all of it) is copied in one write.
public enum TextEscaping {
    @usableFromInline static let hex: [UInt8] = Array("0123456789abcdef".utf8)

    /// `"…"` with `"`, `\\` and control bytes escaped.
    @inlinable
    public static func writeJSONString(_ s: String, into out: inout ByteBuffer) {
        out.writeInteger(UInt8(ascii: "\""))
        var clean = true
        for b in s.utf8 where b < 0x20 || b == UInt8(ascii: "\"") || b == UInt8(ascii: "\\") { clean = false; break }
        if clean {
            out.writeString(s)
        } else {
            for b in s.utf8 {
                switch b {
                case UInt8(ascii: "\""): out.writeStaticString("\\\"")
                case UInt8(ascii: "\\"): out.writeStaticString("\\\\")
                case 0x0A: out.writeStaticString("\\n")
                case 0x0D: out.writeStaticString("\\r")
                case 0x09: out.writeStaticString("\\t")
                case ..<0x20:
                    out.writeStaticString("\\u00")
                    out.writeInteger(hex[Int(b >> 4)])
                    out.writeInteger(hex[Int(b & 0xF)])
                default: out.writeInteger(b)
                }
            }
        }
        out.writeInteger(UInt8(ascii: "\""))
    }

    /// Element text with `<`, `>`, `&`, `"` and `'` as entities.
    @inlinable
    public static func writeXMLText(_ s: String, into out: inout ByteBuffer) {
        var clean = true
        for b in s.utf8
        where b == UInt8(ascii: "<") || b == UInt8(ascii: ">") || b == UInt8(ascii: "&") || b == UInt8(ascii: "\"")
            || b == UInt8(ascii: "'")
        { clean = false; break }
        if clean { out.writeString(s); return }
        for b in s.utf8 {
            switch b {
            case UInt8(ascii: "<"): out.writeStaticString("&lt;")
            case UInt8(ascii: ">"): out.writeStaticString("&gt;")
            case UInt8(ascii: "&"): out.writeStaticString("&amp;")
            case UInt8(ascii: "\""): out.writeStaticString("&quot;")
            case UInt8(ascii: "'"): out.writeStaticString("&apos;")
            default: out.writeInteger(b)
            }
        }
    }
}
