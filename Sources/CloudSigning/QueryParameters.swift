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
                guard let name = PercentEncoding.decode(rawName), let value = PercentEncoding.decode(rawValue) else {
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
        // Every pair is encoded into one byte buffer and sorted as ranges of it (memcmp order: encoded
        // text is ASCII, where String's ordering is byte order), then copied out once: no String per
        // part, no retain/release in the sort (this runs for every request a replaying proxy keys).
        var bytes: [UInt8] = []
        bytes.reserveCapacity(pairs.reduce(0) { $0 + $1.name.utf8.count + $1.value.utf8.count } + 16)
        var spans: [(nameStart: Int, valueStart: Int, end: Int)] = []
        spans.reserveCapacity(pairs.count)
        for p in pairs where excluded.isEmpty || !excluded.contains(p.name) {
            let nameStart = bytes.count
            PercentEncoding.encode(p.name, into: &bytes)
            let valueStart = bytes.count
            if redactingSecrets && SecretNames.isSecret(p.name) {
                bytes.append(contentsOf: "REDACTED".utf8)
            } else {
                PercentEncoding.encode(p.value, into: &bytes)
            }
            spans.append((nameStart, valueStart, bytes.count))
        }
        guard !spans.isEmpty else { return "" }
        let length = bytes.count + 2 * spans.count - 1
        return bytes.withUnsafeBufferPointer { buf -> String in
            let base = buf.baseAddress!
            func compare(_ a: Int, _ aEnd: Int, _ b: Int, _ bEnd: Int) -> Int {
                let n = min(aEnd - a, bEnd - b)
                if n > 0 {
                    let c = memcmp(base + a, base + b, n)
                    if c != 0 { return Int(c) }
                }
                return (aEnd - a) - (bEnd - b)
            }
            var order = Array(0..<spans.count)
            order.sort { i, j in
                let a = spans[i], b = spans[j]
                let names = compare(a.nameStart, a.valueStart, b.nameStart, b.valueStart)
                if names != 0 { return names < 0 }
                if sortValues {
                    let values = compare(a.valueStart, a.end, b.valueStart, b.end)
                    if values != 0 { return values < 0 }
                }
                return i < j
            }
            return String(unsafeUninitializedCapacity: length) { out in
                guard let dst = out.baseAddress else { return 0 }
                var k = 0
                for (n, i) in order.enumerated() {
                    let span = spans[i]
                    if n > 0 {
                        dst[k] = UInt8(ascii: "&")
                        k += 1
                    }
                    (dst + k).update(from: base + span.nameStart, count: span.valueStart - span.nameStart)
                    k += span.valueStart - span.nameStart
                    dst[k] = UInt8(ascii: "=")
                    k += 1
                    (dst + k).update(from: base + span.valueStart, count: span.end - span.valueStart)
                    k += span.end - span.valueStart
                }
                return k
            }
        }
    }

    /// Encoded in the given order, for building request URLs.
    public var encoded: String {
        pairs.map { "\(PercentEncoding.encode($0.name))=\(PercentEncoding.encode($0.value))" }.joined(separator: "&")
    }
}
