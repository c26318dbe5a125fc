/// Writes an `Exchange` as one JSON line with sorted keys — byte for byte what `JSONEncoder` with
/// `.sortedKeys` and `.withoutEscapingSlashes` produces for it — without Foundation's encoder, which
/// dominated the cost of recording large answers. A test checks the two agree.
public enum ExchangeEncoder {
    public static func encode(_ e: Exchange) -> [UInt8] {
        var o: [UInt8] = []
        o.reserveCapacity(512 + e.request.body.data.utf8.count + e.response.body.data.utf8.count)
        o += #"{"key":"#.utf8; string(e.key, &o)
        o += #","profile":"#.utf8; string(e.profile, &o)
        o += #","request":{"body":"#.utf8; body(e.request.body, &o)
        o += #","headers":"#.utf8; headers(e.request.headers, &o)
        o += #","method":"#.utf8; string(e.request.method, &o)
        o += #","url":"#.utf8; string(e.request.url, &o)
        o += #"},"response":{"body":"#.utf8; body(e.response.body, &o)
        o += #","headers":"#.utf8; headers(e.response.headers, &o)
        o += #","status":"#.utf8; o += String(e.response.status).utf8
        o += #"},"seq":"#.utf8; o += String(e.seq).utf8
        o += #","timing":{"duration_ms":"#.utf8; o += number(e.timing.duration_ms).utf8
        o += #","started_at":"#.utf8; string(e.timing.started_at, &o)
        o += "}}".utf8
        return o
    }

    private static func body(_ b: Body, _ o: inout [UInt8]) {
        o += #"{"data":"#.utf8; string(b.data, &o)
        o += #","encoding":"#.utf8; string(b.encoding.rawValue, &o)
        o.append(UInt8(ascii: "}"))
    }

    private static func headers(_ hs: [[String]], _ o: inout [UInt8]) {
        o.append(UInt8(ascii: "["))
        for (i, h) in hs.enumerated() {
            if i > 0 { o.append(UInt8(ascii: ",")) }
            o.append(UInt8(ascii: "["))
            for (j, v) in h.enumerated() {
                if j > 0 { o.append(UInt8(ascii: ",")) }
                string(v, &o)
            }
            o.append(UInt8(ascii: "]"))
        }
        o.append(UInt8(ascii: "]"))
    }

    /// Like `JSONEncoder` formats a Double: integral values without a fraction, others shortest round-trip.
    private static func number(_ d: Double) -> String {
        if d == d.rounded(), abs(d) < 1e15 { return String(Int64(d)) }
        return "\(d)"
    }

    private static let hex: [UInt8] = Array("0123456789abcdef".utf8)

    /// How a byte is written: 0 as itself, 1 after a backslash (`"`, `\\`), 2 as a control escape.
    private static let escapeKind: [UInt8] = (0..<256).map { b in b == 0x22 || b == 0x5C ? 1 : b < 0x20 ? 2 : 0 }

    /// Extra bytes each byte takes escaped: 1 for `"`, `\\` and the short control escapes, 5 for other
    /// control bytes (`\u00XX`), 0 for the rest.
    private static let escapeExtra: [UInt8] = (0..<256).map { b in
        switch b {
        case 0x22, 0x5C, 0x0A, 0x0D, 0x09, 0x08, 0x0C: return 1
        case ..<0x20: return 5
        default: return 0
        }
    }

    private static func string(_ s: String, _ o: inout [UInt8]) {
        var s = s
        s.withUTF8 { u in
            var extra = 0
            escapeExtra.withUnsafeBufferPointer { t in
                for b in u { extra &+= Int(t[Int(b)]) }
            }
            o.append(UInt8(ascii: "\""))
            if extra == 0 {
                o += u  // nothing to escape: one bulk copy
            } else {
                // Sized once, then written in place: a JSON answer stored as text has a quote every few bytes.
                let start = o.count
                o.append(contentsOf: repeatElement(0, count: u.count + extra))
                o.withUnsafeMutableBufferPointer { out in
                    escapeKind.withUnsafeBufferPointer { kinds in
                        guard let base = out.baseAddress else { return }
                        var p = base + start
                        for b in u {
                            let kind = kinds[Int(b)]
                            if kind < 2 {
                                // Plain bytes (0) and `"` `\` (1) take one path with no branch between them
                                // (a JSON answer has a quote every few bytes): a backslash, then the byte over
                                // it or after it. Only control bytes take the rarely-taken branch below.
                                p[0] = 92
                                p[Int(kind)] = b
                                p += 1 + Int(kind)
                                continue
                            }
                            switch b {
                            case 0x0A: p[0] = 92; p[1] = UInt8(ascii: "n"); p += 2
                            case 0x0D: p[0] = 92; p[1] = UInt8(ascii: "r"); p += 2
                            case 0x09: p[0] = 92; p[1] = UInt8(ascii: "t"); p += 2
                            case 0x08: p[0] = 92; p[1] = UInt8(ascii: "b"); p += 2
                            case 0x0C: p[0] = 92; p[1] = UInt8(ascii: "f"); p += 2
                            default:
                                p[0] = 92; p[1] = UInt8(ascii: "u"); p[2] = 48; p[3] = 48
                                p[4] = hex[Int(b >> 4)]; p[5] = hex[Int(b & 0xF)]; p += 6
                            }
                        }
                        precondition(p == base + out.count, "escaped string longer than counted")
                    }
                }
            }
            o.append(UInt8(ascii: "\""))
        }
    }

}
