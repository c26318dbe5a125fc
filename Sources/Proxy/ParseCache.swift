import Foundation
import NIOCore
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
    private final class Entry {
        /// Weak: a retired session (a switched cassette) and its cached answers are not kept alive by a slot.
        weak var session: CassetteSession?
        var keyed: Bool
        var tunnel: UpstreamTarget?
        var head: HTTPRequestHead
        var parsed: ProxyEngine.Parsed

        init(session: CassetteSession, keyed: Bool, tunnel: UpstreamTarget?, head: HTTPRequestHead, parsed: ProxyEngine.Parsed) {
            self.session = session
            self.keyed = keyed
            self.tunnel = tunnel
            self.head = head
            self.parsed = parsed
        }
    }
    private var entries = [Entry?](repeating: nil, count: ParseCache.slots)

    /// Whether `request` can be cached at all: no body (a body is part of the key and of the signature).
    static func cacheable(_ request: ProxyEngine.ClientRequest) -> Bool { (request.body?.readableBytes ?? 0) == 0 }

    func lookup(_ request: ProxyEngine.ClientRequest, session: CassetteSession, keyed: Bool) -> ProxyEngine.Parsed? {
        guard ParseCache.cacheable(request), let e = entries[ParseCache.slot(request.head.uri)] else { return nil }
        guard ParseCache.same(e.head, request.head), e.keyed == keyed, e.tunnel == request.tunnel, e.session === session else {
            return nil
        }
        return e.parsed
    }

    func store(_ parsed: ProxyEngine.Parsed, for request: ProxyEngine.ClientRequest, session: CassetteSession, keyed: Bool) {
        guard ParseCache.cacheable(request) else { return }
        let slot = ParseCache.slot(request.head.uri)
        if let e = entries[slot] {
            e.session = session
            e.keyed = keyed
            e.tunnel = request.tunnel
            e.head = request.head
            e.parsed = parsed
        } else {
            entries[slot] = Entry(session: session, keyed: keyed, tunnel: request.tunnel, head: request.head, parsed: parsed)
        }
    }

    /// Method, version, target and every header, in order, byte for byte (names too: a parse may see their
    /// case; `String ==` would let two spellings of one Unicode text pass).
    static func same(_ a: HTTPRequestHead, _ b: HTTPRequestHead) -> Bool {
        guard a.method == b.method, a.version == b.version, bytesEqual(a.uri, b.uri), a.headers.count == b.headers.count else {
            return false
        }
        var i = b.headers.makeIterator()
        for x in a.headers {
            guard let y = i.next(), bytesEqual(x.name, y.name), bytesEqual(x.value, y.value) else { return false }
        }
        return true
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
        var h = UInt64(truncatingIfNeeded: uri.utf8.count) &* 0x9E37_79B9_7F4A_7C15
        _ = uri.utf8.withContiguousStorageIfAvailable { b in
            guard let base = b.baseAddress else { return }
            let raw = UnsafeRawPointer(base)
            if b.count >= 8 {
                h ^= raw.loadUnaligned(as: UInt64.self) &* 0xC2B2_AE3D_27D4_EB4F
                h ^= raw.loadUnaligned(fromByteOffset: b.count / 2 - 4, as: UInt64.self) &* 0x1656_67B1_9E37_79F9
                h ^= raw.loadUnaligned(fromByteOffset: b.count - 8, as: UInt64.self) &* 0x85EB_CA77_C2B2_AE63
            } else {
                for byte in b { h = (h ^ UInt64(byte)) &* 0x100_0000_01B3 }
            }
        }
        h ^= h >> 29
        h &*= 0xBF58_476D_1CE4_E5B9
        h ^= h >> 32
        return Int(truncatingIfNeeded: h & UInt64(ParseCache.slots - 1))
    }
}
