import Foundation
import NIOCore
import Matching
import NIOHTTP1

/// The last parses of one event loop, for requests that arrive again byte for byte: a load run replaying a
/// cassette, wrk, a CI suite polling. Parsing and keying a request cost a replaying proxy more than
/// answering it (about two microseconds); an identical request (same method, target, headers in order,
/// no body, same tunnel, same cassette session, same mode of keying) parses the same, so its parse is
/// reused. Hoverfly keeps a request-matching cache for the same reason. The replay cursor still moves
/// per request: only the parse is reused, never an answer.
///
/// Direct-mapped and small: a slot is chosen from the target's length and three of its 8-byte words, and a
/// hit is confirmed by comparing everything the parse depends on. A freshly signed request (a new nonce and
/// signature every call) misses at the cost of that comparison, and replaces the slot.
final class ParseCache {
    static let slots = 64

    /// A class, reused in place when its slot is taken over: a miss (every freshly signed request) then costs
    /// field assignments, not copying a large struct in and out of the array.
    private final class Slot<Value> {
        /// Weak: a retired session (a switched cassette) and its cached answers are not kept alive by a slot.
        weak var session: CassetteSession?
        var keyed: Bool
        var tunnel: UpstreamTarget?
        var head: HTTPRequestHead
        var value: Value

        init(session: CassetteSession, keyed: Bool, tunnel: UpstreamTarget?, head: HTTPRequestHead, value: Value) {
            self.session = session
            self.keyed = keyed
            self.tunnel = tunnel
            self.head = head
            self.value = value
        }

        /// Whether `request` is parsed in the same setting: the same session, keying and tunnel.
        func sameSetting(_ request: ProxyEngine.ClientRequest, session: CassetteSession, keyed: Bool) -> Bool {
            self.keyed == keyed && tunnel == request.tunnel && self.session === session
        }

        static func store(
            _ value: Value, in table: inout [Slot?], at slot: Int, for request: ProxyEngine.ClientRequest, session: CassetteSession,
            keyed: Bool
        ) {
            if let e = table[slot] {
                e.session = session
                e.keyed = keyed
                e.tunnel = request.tunnel
                e.head = request.head
                e.value = value
            } else {
                table[slot] = Slot(session: session, keyed: keyed, tunnel: request.tunnel, head: request.head, value: value)
            }
        }
    }
    private var entries = [Slot<ProxyEngine.Parsed>?](repeating: nil, count: ParseCache.slots)

    /// Whether `request` can be cached at all: no body (a body is part of the key and of the signature).
    static func cacheable(_ request: ProxyEngine.ClientRequest) -> Bool { (request.body?.readableBytes ?? 0) == 0 }

    func lookup(_ request: ProxyEngine.ClientRequest, session: CassetteSession, keyed: Bool) -> ProxyEngine.Parsed? {
        guard ParseCache.cacheable(request), let e = entries[ParseCache.slot(request.head.uri)],
            ParseCache.same(e.head, request.head), e.sameSetting(request, session: session, keyed: keyed)
        else { return nil }
        return e.value
    }

    func store(_ parsed: ProxyEngine.Parsed, for request: ProxyEngine.ClientRequest, session: CassetteSession, keyed: Bool) {
        guard ParseCache.cacheable(request) else { return }
        Slot.store(parsed, in: &entries, at: ParseCache.slot(request.head.uri), for: request, session: session, keyed: keyed)
    }

    // MARK: requests that differ only in volatile values

    /// A freshly signed request (new nonce, timestamp and signature on every call) misses the table above. Its key and
    /// profile are still those of the last request of its *shape*: same method, version, headers byte for byte (so the
    /// same signature scheme is detected), same path, and the same query parameters in the same order with the
    /// same values, except the values of parameters the profile leaves out of the key. Those are exactly what the
    /// key and the detection never read, so the key is reused and only the request itself is parsed again.
    private struct Shape {
        /// Bit i: the i-th query parameter (counted from 0, up to 63) is volatile; its value need not match.
        var volatile: UInt64
        var key: RequestKey?
        var profile: MatchProfile
    }
    private var shapes = [Slot<Shape>?](repeating: nil, count: ParseCache.slots)
    /// The same two tables for requests the fast lane read, by their bytes (see `ParseCache+Bytes`).
    var byBytes = [BytesSlot?](repeating: nil, count: ParseCache.slots)
    var shapesByBytes = [BytesSlot?](repeating: nil, count: ParseCache.slots)

    /// The key and profile of an earlier request that `request` differs from only in volatile values, if any.
    func lookupShape(_ request: ProxyEngine.ClientRequest, session: CassetteSession, keyed: Bool) -> (key: RequestKey?, profile: MatchProfile)? {
        guard ParseCache.cacheable(request), let slot = ParseCache.shapeSlot(request.head.uri), let e = shapes[slot],
            e.sameSetting(request, session: session, keyed: keyed),
            e.head.method == request.head.method, e.head.version == request.head.version,
            ParseCache.sameHeaders(e.head.headers, request.head.headers),
            ParseCache.sameExceptVolatileValues(e.head.uri, request.head.uri, volatile: e.value.volatile)
        else { return nil }
        return (e.value.key, e.value.profile)
    }

    /// Remembers `parsed` (a full parse of `request`) for later requests of its shape.
    func storeShape(_ parsed: ProxyEngine.Parsed, for request: ProxyEngine.ClientRequest, session: CassetteSession, keyed: Bool) {
        let profile = parsed.recorder.profile
        guard ParseCache.cacheable(request), !profile.volatileParameters.isEmpty, let slot = ParseCache.shapeSlot(request.head.uri)
        else { return }
        let volatile = ParseCache.volatileParameters(of: request.head.uri, in: profile.volatileParameters)
        guard volatile != 0 else { return }  // nothing volatile: the table above covers it
        Slot.store(
            Shape(volatile: volatile, key: parsed.recorder.key, profile: profile), in: &shapes, at: slot, for: request,
            session: session, keyed: keyed)
    }

    /// The slot of `uri`'s shape: its path and parameter names, not their values. Nil when it has no query or
    /// has a `#` (where a fragment begins is the target parser's business).
    static func shapeSlot(_ uri: String) -> Int? {
        var uri = uri
        return uri.withUTF8 { shapeSlot($0) }
    }

    static func shapeSlot(_ b: UnsafeBufferPointer<UInt8>) -> Int? {
        guard let base = b.baseAddress, memchr(base, Int32(UInt8(ascii: "#")), b.count) == nil else { return nil }
        let end = base + b.count
        var h: UInt64 = 0xCBF2_9CE4_8422_2325
        // Path, `?` and each name with its `=`: byte by byte; each value: skipped to the next `&`.
        var p = base
        while p < end {
            let byte = p.pointee
            h = (h ^ UInt64(byte)) &* 0x100_0000_01B3
            p += 1
            if byte == UInt8(ascii: "=") {
                guard let amp = Self.find(UInt8(ascii: "&"), from: p, to: end) else { break }
                p = amp
            }
        }
        guard memchr(base, Int32(UInt8(ascii: "?")), b.count) != nil else { return nil }
        h ^= h >> 32
        return Int(truncatingIfNeeded: h & UInt64(ParseCache.slots - 1))
    }

    @inline(__always)
    private static func find(_ byte: UInt8, from: UnsafePointer<UInt8>, to: UnsafePointer<UInt8>) -> UnsafePointer<UInt8>? {
        memchr(from, Int32(byte), to - from).map { UnsafePointer($0.assumingMemoryBound(to: UInt8.self)) }
    }

    /// Which of `uri`'s first 64 query parameters have a name in `names`. A name is taken as written: one with an
    /// escape (`%`, `+`) is never volatile here, so its value must match (the full parse decides such requests).
    static func volatileParameters(of uri: String, in names: Set<String>) -> UInt64 {
        var uri = uri
        return uri.withUTF8 { volatileParameters(of: $0, in: names) }
    }

    static func volatileParameters(of b: UnsafeBufferPointer<UInt8>, in names: Set<String>) -> UInt64 {
        guard let q = b.firstIndex(of: UInt8(ascii: "?")) else { return 0 }
        var mask: UInt64 = 0
        var index = 0
        var start = q + 1
        while index < 64 {
            let end = b[start...].firstIndex(of: UInt8(ascii: "&")) ?? b.count
            let pair = UnsafeBufferPointer(rebasing: b[start..<end])
            let name = UnsafeBufferPointer(rebasing: pair[..<(pair.firstIndex(of: UInt8(ascii: "=")) ?? pair.endIndex)])
            if !name.contains(UInt8(ascii: "%")) && !name.contains(UInt8(ascii: "+")),
                names.contains(String(decoding: name, as: UTF8.self))
            {
                mask |= 1 << UInt64(index)
            }
            index += 1
            if end == b.count { break }
            start = end + 1
        }
        return mask
    }

    /// `a` and `b` byte for byte, except the values of the query parameters `volatile` marks in `a`: those need
    /// only the same name, and an `=` in both or neither.
    static func sameExceptVolatileValues(_ a: String, _ b: String, volatile: UInt64) -> Bool {
        var a = a, b = b
        return a.withUTF8 { x in b.withUTF8 { y in sameExceptVolatileValues(x, y, volatile: volatile) } }
    }

    static func sameExceptVolatileValues(_ x: UnsafeBufferPointer<UInt8>, _ y: UnsafeBufferPointer<UInt8>, volatile: UInt64) -> Bool {
        guard let xs = x.baseAddress, let ys = y.baseAddress else { return false }
        let xe = xs + x.count, ye = ys + y.count
        guard let q = find(UInt8(ascii: "?"), from: xs, to: xe), q - xs < y.count, memcmp(xs, ys, q - xs + 1) == 0
        else { return false }
        var i = q + 1, j = ys + (q - xs) + 1, index = 0
        while true {
            let ei = find(UInt8(ascii: "&"), from: i, to: xe) ?? xe
            let ej = find(UInt8(ascii: "&"), from: j, to: ye) ?? ye
            if index < 64 && volatile & (1 << UInt64(index)) != 0 {
                let ni = find(UInt8(ascii: "="), from: i, to: ei), nj = find(UInt8(ascii: "="), from: j, to: ej)
                let li = (ni ?? ei) - i, lj = (nj ?? ej) - j
                guard (ni == nil) == (nj == nil), li == lj, memcmp(i, j, li) == 0 else { return false }
            } else {
                guard ei - i == ej - j, memcmp(i, j, ei - i) == 0 else { return false }
            }
            index += 1
            if ei == xe || ej == ye { return ei == xe && ej == ye }
            i = ei + 1
            j = ej + 1
        }
    }

    /// Every header, in order, byte for byte.
    static func sameHeaders(_ a: HTTPHeaders, _ b: HTTPHeaders) -> Bool {
        guard a.count == b.count else { return false }
        var i = b.makeIterator()
        for x in a {
            guard let y = i.next(), bytesEqual(x.name, y.name), bytesEqual(x.value, y.value) else { return false }
        }
        return true
    }

    /// Method, version, target and every header, in order, byte for byte (names too: a parse may see their
    /// case; `String ==` would let two spellings of one Unicode text pass).
    static func same(_ a: HTTPRequestHead, _ b: HTTPRequestHead) -> Bool {
        a.method == b.method && a.version == b.version && bytesEqual(a.uri, b.uri) && sameHeaders(a.headers, b.headers)
    }

    static func bytesEqual(_ a: String, _ b: String) -> Bool {
        let n = a.utf8.count
        guard n == b.utf8.count else { return false }
        let fast = a.utf8.withContiguousStorageIfAvailable { x in
            b.utf8.withContiguousStorageIfAvailable { y in n == 0 || memcmp(x.baseAddress!, y.baseAddress!, n) == 0 }
        }
        return (fast ?? nil) ?? a.utf8.elementsEqual(b.utf8)
    }

    static func slot(_ uri: String) -> Int {
        var uri = uri
        return uri.withUTF8 { slot($0) }
    }

    static func slot(_ b: UnsafeBufferPointer<UInt8>) -> Int {
        var h = UInt64(truncatingIfNeeded: b.count) &* 0x9E37_79B9_7F4A_7C15
        guard let base = b.baseAddress else { return Self.finish(h) }
        let raw = UnsafeRawPointer(base)
        if b.count >= 8 {
            h ^= raw.loadUnaligned(as: UInt64.self) &* 0xC2B2_AE3D_27D4_EB4F
            h ^= raw.loadUnaligned(fromByteOffset: b.count / 2 - 4, as: UInt64.self) &* 0x1656_67B1_9E37_79F9
            h ^= raw.loadUnaligned(fromByteOffset: b.count - 8, as: UInt64.self) &* 0x85EB_CA77_C2B2_AE63
        } else {
            for byte in b { h = (h ^ UInt64(byte)) &* 0x100_0000_01B3 }
        }
        return Self.finish(h)
    }

    private static func finish(_ hash: UInt64) -> Int {
        var h = hash
        h ^= h >> 29
        h &*= 0xBF58_476D_1CE4_E5B9
        h ^= h >> 32
        return Int(truncatingIfNeeded: h & UInt64(ParseCache.slots - 1))
    }
}
