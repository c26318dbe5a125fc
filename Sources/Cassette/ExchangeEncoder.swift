/// Writes an `Exchange` as one JSON line with sorted keys — byte for byte what `JSONEncoder` with
/// `.sortedKeys` and `.withoutEscapingSlashes` produces for it — without Foundation's encoder, which
/// dominated the cost of recording large answers. A test checks the two agree.
enum ExchangeEncoder {
    static func encode(_ e: Exchange) -> [UInt8] {
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

    private static func string(_ s: String, _ o: inout [UInt8]) {
        o.append(UInt8(ascii: "\""))
        if !s.utf8.contains(where: { $0 < 0x20 || $0 == UInt8(ascii: "\"") || $0 == UInt8(ascii: "\\") }) {
            o += s.utf8  // nothing to escape: one bulk copy
            o.append(UInt8(ascii: "\""))
            return
        }
        var s = s
        s.withUTF8 { u in
            var runStart = 0
            for (i, b) in u.enumerated() where b < 0x20 || b == UInt8(ascii: "\"") || b == UInt8(ascii: "\\") {
                o += UnsafeBufferPointer(rebasing: u[runStart..<i])  // the clean run before it, in bulk
                runStart = i + 1
                escape(b, &o)
            }
            o += UnsafeBufferPointer(rebasing: u[runStart...])
        }
        o.append(UInt8(ascii: "\""))
    }

    private static func escape(_ b: UInt8, _ o: inout [UInt8]) {
        switch b {
        case UInt8(ascii: "\""): o += [92, 34]
        case UInt8(ascii: "\\"): o += [92, 92]
        case 0x0A: o += [92, UInt8(ascii: "n")]
        case 0x0D: o += [92, UInt8(ascii: "r")]
        case 0x09: o += [92, UInt8(ascii: "t")]
        case 0x08: o += [92, UInt8(ascii: "b")]
        case 0x0C: o += [92, UInt8(ascii: "f")]
        case ..<0x20: o += [92, UInt8(ascii: "u"), 48, 48, hex[Int(b >> 4)], hex[Int(b & 0xF)]]
        default: o.append(b)
        }
    }
}
