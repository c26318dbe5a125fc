import CloudSigning
import Foundation
import NIOHTTP1

/// The parse cache for requests the fast lane read (`HTTPFastLane`: GET or POST, HTTP/1.1, no body, not in a
/// tunnel, replay mode): the same two tables as for parsed heads, but keyed and compared by the request's own
/// bytes, so a repeated or freshly signed request is answered without building an `HTTPRequestHead` at all.
extension ParseCache {
    /// One remembered request: its bytes, and the parse they gave.
    final class BytesSlot {
        weak var session: CassetteSession?
        var method: HTTPMethod
        var target: [UInt8]
        var headers: [UInt8]
        /// Shape table: the query parameters (bit i: the i-th) whose values may differ.
        var volatile: UInt64
        var parsed: ProxyEngine.Parsed

        init(
            session: CassetteSession, method: HTTPMethod, target: UnsafeBufferPointer<UInt8>, headers: UnsafeBufferPointer<UInt8>,
            volatile: UInt64, parsed: ProxyEngine.Parsed
        ) {
            self.session = session
            self.method = method
            self.target = Array(target)
            self.headers = Array(headers)
            self.volatile = volatile
            self.parsed = parsed
        }

        func set(
            session: CassetteSession, method: HTTPMethod, target: UnsafeBufferPointer<UInt8>, headers: UnsafeBufferPointer<UInt8>,
            volatile: UInt64, parsed: ProxyEngine.Parsed
        ) {
            self.session = session
            self.method = method
            self.target.removeAll(keepingCapacity: true)
            self.target.append(contentsOf: target)
            self.headers.removeAll(keepingCapacity: true)
            self.headers.append(contentsOf: headers)
            self.volatile = volatile
            self.parsed = parsed
        }

        /// Same session and method, and the header lines byte for byte.
        func sameSetting(_ session: CassetteSession, _ method: HTTPMethod, _ headers: UnsafeBufferPointer<UInt8>) -> Bool {
            self.method == method && self.session === session && ParseCache.equal(self.headers, headers)
        }
    }

    /// The parse of an earlier request with these very bytes.
    func lookup(method: HTTPMethod, target: UnsafeBufferPointer<UInt8>, headers: UnsafeBufferPointer<UInt8>, session: CassetteSession)
        -> ProxyEngine.Parsed?
    {
        guard let e = byBytes[ParseCache.slot(target)], ParseCache.equal(e.target, target), e.sameSetting(session, method, headers)
        else { return nil }
        return e.parsed
    }

    /// The parse of an earlier request these bytes differ from only in the values of volatile query parameters
    /// (a fresh nonce, timestamp and signature), when each of those values decodes (a malformed one is the full
    /// parse's to refuse). Only its key, profile and error shape serve: replay records nothing.
    func lookupShape(
        method: HTTPMethod, target: UnsafeBufferPointer<UInt8>, headers: UnsafeBufferPointer<UInt8>, session: CassetteSession
    ) -> ProxyEngine.Parsed? {
        guard let slot = ParseCache.shapeSlot(target), let e = shapesByBytes[slot], e.sameSetting(session, method, headers),
            e.target.withUnsafeBufferPointer({ ParseCache.sameExceptVolatileValues($0, target, volatile: e.volatile) }),
            ParseCache.volatileValuesDecode(target, volatile: e.volatile)
        else { return nil }
        return e.parsed
    }

    /// Remembers `parsed`, the full parse of these bytes, in both tables.
    func store(
        _ parsed: ProxyEngine.Parsed, method: HTTPMethod, target: UnsafeBufferPointer<UInt8>, headers: UnsafeBufferPointer<UInt8>,
        session: CassetteSession
    ) {
        Self.put(parsed, volatile: 0, in: &byBytes, at: ParseCache.slot(target), session, method, target, headers)
        let names = parsed.recorder.profile.volatileParameters
        guard !names.isEmpty, let slot = ParseCache.shapeSlot(target) else { return }
        let volatile = ParseCache.volatileParameters(of: target, in: names)
        guard volatile != 0 else { return }
        Self.put(parsed, volatile: volatile, in: &shapesByBytes, at: slot, session, method, target, headers)
    }

    private static func put(
        _ parsed: ProxyEngine.Parsed, volatile: UInt64, in table: inout [BytesSlot?], at slot: Int, _ session: CassetteSession,
        _ method: HTTPMethod, _ target: UnsafeBufferPointer<UInt8>, _ headers: UnsafeBufferPointer<UInt8>
    ) {
        if let e = table[slot] {
            e.set(session: session, method: method, target: target, headers: headers, volatile: volatile, parsed: parsed)
        } else {
            table[slot] = BytesSlot(
                session: session, method: method, target: target, headers: headers, volatile: volatile, parsed: parsed)
        }
    }

    static func equal(_ a: [UInt8], _ b: UnsafeBufferPointer<UInt8>) -> Bool {
        a.count == b.count && a.withUnsafeBufferPointer { x in x.isEmpty || memcmp(x.baseAddress!, b.baseAddress!, x.count) == 0 }
    }

    /// Whether every value `volatile` marks in `target`'s query percent-decodes to UTF-8.
    static func volatileValuesDecode(_ target: UnsafeBufferPointer<UInt8>, volatile: UInt64) -> Bool {
        guard let q = target.firstIndex(of: UInt8(ascii: "?")) else { return true }
        var index = 0
        var start = q + 1
        while index < 64 {
            let end = target[start...].firstIndex(of: UInt8(ascii: "&")) ?? target.count
            if volatile & (1 << UInt64(index)) != 0 {
                let pair = target[start..<end]
                if let eq = pair.firstIndex(of: UInt8(ascii: "=")),
                    PercentEncoding.decode(UnsafeBufferPointer(rebasing: target[(eq + 1)..<end])) == nil
                {
                    return false
                }
            }
            index += 1
            if end == target.count { break }
            start = end + 1
        }
        return true
    }
}
