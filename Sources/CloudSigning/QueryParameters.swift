import Foundation

/// An ordered list of decoded `name=value` pairs from a query string or an
/// `application/x-www-form-urlencoded` body. Order is kept as sent (the SDKs send insertion order);
/// canonical forms sort it.
public struct QueryParameters: Sendable, Equatable {
    public var pairs: [(name: String, value: String)]

    public init(_ pairs: [(name: String, value: String)] = []) { self.pairs = pairs }

    public static func == (a: QueryParameters, b: QueryParameters) -> Bool {
        a.pairs.elementsEqual(b.pairs) { $0.name == $1.name && $0.value == $1.value }
    }

    /// The error for a query or body that cannot be decoded: which pair is broken.
    public struct MalformedError: Error, Sendable, CustomStringConvertible {
        public let fragment: String
        public var description: String { "malformed percent-encoding or invalid UTF-8 in '\(fragment)'" }
    }

    /// Parses `a=1&b=2` (no leading `?`). Empty segments are skipped; a name without `=` has an empty value.
    /// Concrete over contiguous bytes so the request path runs specialised code.
    public static func parse(_ buf: UnsafeBufferPointer<UInt8>) throws(MalformedError) -> QueryParameters {
        try parse(buf, strict: true)
    }

    /// Like `parse`, but a name or value that does not decode (`caf%E9`, `100%`, binary) is kept as it was
    /// sent instead of refused: what a proxy keys a request by when it forwards it as it is.
    /// (Lenient parsing throws nothing; the `??` only satisfies the shared parser's signature.)
    public static func parseLeniently<C: Collection>(_ bytes: C) -> QueryParameters where C.Element == UInt8 {
        func lenient(_ buf: UnsafeBufferPointer<UInt8>) -> QueryParameters { (try? parse(buf, strict: false)) ?? QueryParameters() }
        return bytes.withContiguousStorageIfAvailable(lenient) ?? Array(bytes).withUnsafeBufferPointer(lenient)
    }

    public static func parseLeniently(_ s: String) -> QueryParameters {
        var copy = s
        return copy.withUTF8 { parseLeniently($0) }
    }

    private static func parse(_ buf: UnsafeBufferPointer<UInt8>, strict: Bool) throws(MalformedError) -> QueryParameters {
        var result = QueryParameters()
        guard let base = buf.baseAddress, !buf.isEmpty else { return result }
        result.pairs.reserveCapacity(16)
        let n = buf.count
        var start = 0
        while start < n {
            // memchr (vectorised) to each separator rather than a bounds-checked walk per byte.
            let end = memchr(base + start, Int32(UInt8(ascii: "&")), n - start).map { UnsafeRawPointer($0) - UnsafeRawPointer(base) } ?? n
            if end > start {
                let eq =
                    memchr(base + start, Int32(UInt8(ascii: "=")), end - start).map { UnsafeRawPointer($0) - UnsafeRawPointer(base) } ?? end
                let rawName = UnsafeBufferPointer(start: base + start, count: eq - start)
                let rawValue =
                    eq < end
                    ? UnsafeBufferPointer(start: base + eq + 1, count: end - eq - 1) : UnsafeBufferPointer(start: base + end, count: 0)
                guard let name = PercentEncoding.decode(rawName) ?? (strict ? nil : String(decoding: rawName, as: UTF8.self)),
                    let value = PercentEncoding.decode(rawValue) ?? (strict ? nil : String(decoding: rawValue, as: UTF8.self))
                else {
                    throw MalformedError(
                        fragment: String(
                            decoding: UnsafeBufferPointer(start: base + start, count: min(end, start + 64) - start), as: UTF8.self))
                }
                result.pairs.append((name, value))
            }
            start = end + 1
        }
        return result
    }

    public static func parse<C: Collection>(_ bytes: C) throws(MalformedError) -> QueryParameters where C.Element == UInt8 {
        let r: Result<QueryParameters, MalformedError>? = bytes.withContiguousStorageIfAvailable { buf in
            Result { () throws(MalformedError) in try parse(buf) }
        }
        if let r { return try r.get() }
        return try Array(bytes).withUnsafeBufferPointer { buf in Result { () throws(MalformedError) in try parse(buf) } }.get()
    }

    public static func parse(_ s: String) throws(MalformedError) -> QueryParameters {
        var copy = s
        return try copy.withUTF8 { buf in Result { () throws(MalformedError) in try parse(buf) } }.get()
    }

    /// The first value for `name`, if any.
    public subscript(name: String) -> String? {
        for p in pairs where p.name == name { return p.value }
        return nil
    }

    public mutating func append(_ name: String, _ value: String) { pairs.append((name, value)) }
    public mutating func append(contentsOf other: QueryParameters) { pairs.append(contentsOf: other.pairs) }

    public var isEmpty: Bool { pairs.isEmpty }

    /// RFC 3986-encoded, sorted by name then value: the canonical query both signature families use.
    /// With `sortValues: false`, repeated names keep their values in the order sent (Huawei's signer).
    /// - Parameter redactingSecrets: values of credential-named parameters (`SecretNames`) appear as
    ///   `REDACTED`, so a key never carries a secret and compares equal to a redacted recording.
    public func canonicalString(excluding excluded: Set<String> = [], sortValues: Bool = true, redactingSecrets: Bool = false) -> String {
        var bytes: [UInt8] = []
        QueryParameters.appendCanonical(
            pairs, [], to: &bytes, excluding: excluded, sortValues: sortValues, redactingSecrets: redactingSecrets)
        return String(decoding: bytes, as: UTF8.self)
    }

    /// Appends the canonical form of `first` and `second` merged (as `canonicalString` of their
    /// concatenation) to `out`; nothing when no pair is left. A replaying proxy keys every request
    /// with it, so it allocates nothing of its own: each pair is encoded into one scratch buffer on the
    /// stack (for a query of ordinary size) and the pairs are sorted as ranges of it (memcmp order:
    /// encoded text is ASCII, where String's ordering is byte order), then copied out once. Excluded names
    /// are compared, not hashed: the sets are a handful of names.
    public static func appendCanonical(
        _ first: [(name: String, value: String)], _ second: [(name: String, value: String)], to out: inout [UInt8],
        excluding excluded: Set<String> = [], sortValues: Bool = true, redactingSecrets: Bool = false
    ) {
        let count = first.count + second.count
        guard count > 0 else { return }
        var capacity = 0
        for p in first { capacity += 3 * (p.name.utf8.count + p.value.utf8.count) + 8 }
        for p in second { capacity += 3 * (p.name.utf8.count + p.value.utf8.count) + 8 }
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: capacity) { scratch in
            withUnsafeTemporaryAllocation(of: Span.self, capacity: count) { spans in
                let base = scratch.baseAddress!
                var used = 0, n = 0
                func add(_ p: (name: String, value: String)) {
                    if !excluded.isEmpty && isExcluded(p.name, excluded) { return }
                    let nameStart = used
                    used += PercentEncoding.encode(p.name, to: base + used)
                    let valueStart = used
                    if redactingSecrets && SecretNames.isSecret(p.name) {
                        for b in "REDACTED".utf8 {
                            base[used] = b
                            used += 1
                        }
                    } else {
                        used += PercentEncoding.encode(p.value, to: base + used)
                    }
                    spans[n] = Span(nameStart: nameStart, valueStart: valueStart, end: used, order: n)
                    n += 1
                }
                for p in first { add(p) }
                for p in second { add(p) }
                guard n > 0 else { return }
                var sorted = UnsafeMutableBufferPointer(rebasing: spans[0..<n])
                sorted.sort { a, b in
                    let names = compare(base, a.nameStart, a.valueStart, b.nameStart, b.valueStart)
                    if names != 0 { return names < 0 }
                    if sortValues {
                        let values = compare(base, a.valueStart, a.end, b.valueStart, b.end)
                        if values != 0 { return values < 0 }
                    }
                    return a.order < b.order
                }
                out.reserveCapacity(out.count + used + n)
                for (i, span) in sorted.enumerated() {
                    if i > 0 { out.append(UInt8(ascii: "&")) }
                    out.append(contentsOf: UnsafeBufferPointer(start: base + span.nameStart, count: span.valueStart - span.nameStart))
                    out.append(UInt8(ascii: "="))
                    out.append(contentsOf: UnsafeBufferPointer(start: base + span.valueStart, count: span.end - span.valueStart))
                }
            }
        }
    }

    private struct Span {
        var nameStart: Int, valueStart: Int, end: Int, order: Int
    }

    private static func isExcluded(_ name: String, _ excluded: Set<String>) -> Bool {
        if excluded.count > 16 { return excluded.contains(name) }
        for e in excluded where e == name { return true }  // String ==, as Set.contains: canonical equivalence
        return false
    }

    private static func compare(_ base: UnsafeMutablePointer<UInt8>, _ a: Int, _ aEnd: Int, _ b: Int, _ bEnd: Int) -> Int {
        let n = min(aEnd - a, bEnd - b)
        if n > 0 {
            let c = memcmp(base + a, base + b, n)
            if c != 0 { return Int(c) }
        }
        return (aEnd - a) - (bEnd - b)
    }

    /// Encoded in the given order, for building request URLs.
    public var encoded: String {
        pairs.map { "\(PercentEncoding.encode($0.name))=\(PercentEncoding.encode($0.value))" }.joined(separator: "&")
    }
}
