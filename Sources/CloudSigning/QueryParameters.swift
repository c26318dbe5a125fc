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
    public static func parse<C: BidirectionalCollection>(_ bytes: C) throws(MalformedError) -> QueryParameters where C.Element == UInt8 {
        var result = QueryParameters()
        var start = bytes.startIndex
        while start != bytes.endIndex {
            let end = bytes[start...].firstIndex(of: UInt8(ascii: "&")) ?? bytes.endIndex
            let segment = bytes[start..<end]
            if !segment.isEmpty {
                let eq = segment.firstIndex(of: UInt8(ascii: "="))
                let rawName = segment[segment.startIndex..<(eq ?? segment.endIndex)]
                let rawValue = eq.map { segment[segment.index(after: $0)..<segment.endIndex] } ?? segment[segment.endIndex...]
                guard let name = PercentEncoding.decode(rawName), let value = PercentEncoding.decode(rawValue) else {
                    throw MalformedError(fragment: String(decoding: segment.prefix(64), as: UTF8.self))
                }
                result.pairs.append((name, value))
            }
            start = end == bytes.endIndex ? end : bytes.index(after: end)
        }
        return result
    }

    public static func parse(_ s: String) throws(MalformedError) -> QueryParameters {
        try parse(Array(s.utf8))
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
    public func canonicalString(excluding excluded: Set<String> = [], sortValues: Bool = true) -> String {
        var encoded: [(String, String, Int)] = []
        encoded.reserveCapacity(pairs.count)
        for (i, p) in pairs.enumerated() where !excluded.contains(p.name) {
            encoded.append((PercentEncoding.encode(p.name), PercentEncoding.encode(p.value), i))
        }
        encoded.sort { (a: (String, String, Int), b: (String, String, Int)) -> Bool in
            if a.0 != b.0 { return a.0 < b.0 }
            return sortValues && a.1 != b.1 ? a.1 < b.1 : a.2 < b.2
        }
        var out = ""
        for (i, p) in encoded.enumerated() {
            if i > 0 { out += "&" }
            out += p.0 + "=" + p.1
        }
        return out
    }

    /// Encoded in the given order, for building request URLs.
    public var encoded: String {
        pairs.map { "\(PercentEncoding.encode($0.name))=\(PercentEncoding.encode($0.value))" }.joined(separator: "&")
    }
}
