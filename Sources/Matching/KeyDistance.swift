import Foundation

/// How many fields two stored keys differ in (method, target, each parameter, each key header, the body
/// hash), read off their bytes in place: a replay miss compares the request with every recorded key, and
/// parsing each into `RequestKey.fields` (dictionaries, decoded strings, a sort of all keys first) made one
/// miss take 13 s on a cassette of a million exchanges, with the event loop held.
///
/// Parameters are compared by walking both sorted lists together (keys store them canonical: sorted by
/// encoded name, then value); encoded bytes are compared, which the canonical encoding makes the same as
/// comparing decoded values.
struct KeyLayout {
    typealias Part = (name: Range<Int>, value: Range<Int>)
    private(set) var method: Range<Int>?
    private(set) var target: Range<Int> = 0..<0
    private(set) var parameters: [Part] = []
    /// Key headers and `body=`: a few, in profile order.
    private(set) var extras: [Part] = []
    private var tokens: [Range<Int>] = []

    /// Reads the layout of `key` (as `RequestKey(parsing:)` does), reusing this value's storage. (The arrays
    /// are moved out, filled as locals and moved back: filled in place, each access retained them.)
    mutating func parse(_ key: UnsafeBufferPointer<UInt8>) {
        var tokens = self.tokens, parameters = self.parameters, extras = self.extras
        self.tokens = []
        self.parameters = []
        self.extras = []
        defer { (self.tokens, self.parameters, self.extras) = (tokens, parameters, extras) }
        tokens.removeAll(keepingCapacity: true)
        parameters.removeAll(keepingCapacity: true)
        extras.removeAll(keepingCapacity: true)
        method = nil
        target = 0..<0
        var i = 0
        while i < key.count {
            while i < key.count && key[i] == 0x20 { i += 1 }
            let start = i
            while i < key.count && key[i] != 0x20 { i += 1 }
            if i > start { tokens.append(start..<i) }
        }
        var next = 0
        if tokens.count > 1, key[tokens[0]].allSatisfy({ $0 >= 0x41 && $0 <= 0x5A }) {
            method = tokens[0]
            next = 1
        }
        if next < tokens.count {
            let url = tokens[next]
            next += 1
            if let q = key[url].firstIndex(of: UInt8(ascii: "?")) {
                target = url.lowerBound..<q
                var p = q + 1
                while p < url.upperBound {
                    var end = p
                    while end < url.upperBound && key[end] != UInt8(ascii: "&") { end += 1 }
                    if end > p { parameters.append(KeyLayout.split(key, p..<end)) }
                    p = end + 1
                }
            } else {
                target = url
            }
        }
        while next < tokens.count {
            extras.append(KeyLayout.split(key, tokens[next]))
            next += 1
        }
    }

    private static func split(_ key: UnsafeBufferPointer<UInt8>, _ r: Range<Int>) -> Part {
        guard let eq = key[r].firstIndex(of: UInt8(ascii: "=")) else { return (r, r.upperBound..<r.upperBound) }
        return (r.lowerBound..<eq, (eq + 1)..<r.upperBound)
    }

    /// The number of differing fields, or some number above `limit` once it is certain to exceed it.
    static func distance(
        _ a: KeyLayout, _ ab: UnsafeBufferPointer<UInt8>, _ b: KeyLayout, _ bb: UnsafeBufferPointer<UInt8>, limit: Int
    ) -> Int {
        var d = 0
        switch (a.method, b.method) {
        case (nil, nil): break
        case (let x?, let y?): if !equal(ab, x, bb, y) { d += 1 }
        default: d += 1
        }
        if !equal(ab, a.target, bb, b.target) { d += 1 }
        var i = 0, j = 0
        while i < a.parameters.count || j < b.parameters.count {
            if d > limit { return d }
            guard i < a.parameters.count else { d += b.parameters.count - j; break }
            guard j < b.parameters.count else { d += a.parameters.count - i; break }
            let order = compare(ab, a.parameters[i].name, bb, b.parameters[j].name)
            if order < 0 {
                d += 1
                i += 1
            } else if order > 0 {
                d += 1
                j += 1
            } else {
                if !equal(ab, a.parameters[i].value, bb, b.parameters[j].value) { d += 1 }
                i += 1
                j += 1
            }
        }
        for x in a.extras {
            if let y = b.extras.first(where: { equal(ab, x.name, bb, $0.name) }) {
                if !equal(ab, x.value, bb, y.value) { d += 1 }
            } else {
                d += 1
            }
        }
        for y in b.extras where !a.extras.contains(where: { equal(ab, $0.name, bb, y.name) }) { d += 1 }
        return d
    }

    /// `distance` from `a` (laid out from `ab`) to the stored key `key`, parsed into `scratch`; `Int.max` when
    /// `key` is `ab` itself.
    static func distance(_ a: KeyLayout, _ ab: UnsafeBufferPointer<UInt8>, to key: String, _ scratch: inout KeyLayout, limit: Int) -> Int {
        func measure(_ b: UnsafeBufferPointer<UInt8>) -> Int {
            if same(ab, b) { return Int.max }
            scratch.parse(b)
            return distance(a, ab, scratch, b, limit: limit)
        }
        if let d = key.utf8.withContiguousStorageIfAvailable(measure) { return d }
        var k = key  // a bridged string (cassette keys are native)
        return k.withUTF8(measure)
    }

    static func same(_ a: UnsafeBufferPointer<UInt8>, _ b: UnsafeBufferPointer<UInt8>) -> Bool { equal(a, 0..<a.count, b, 0..<b.count) }

    private static func equal(_ a: UnsafeBufferPointer<UInt8>, _ x: Range<Int>, _ b: UnsafeBufferPointer<UInt8>, _ y: Range<Int>) -> Bool {
        x.count == y.count && (x.isEmpty || memcmp(a.baseAddress! + x.lowerBound, b.baseAddress! + y.lowerBound, x.count) == 0)
    }

    private static func compare(_ a: UnsafeBufferPointer<UInt8>, _ x: Range<Int>, _ b: UnsafeBufferPointer<UInt8>, _ y: Range<Int>) -> Int {
        let n = min(x.count, y.count)
        if n > 0 {
            let c = memcmp(a.baseAddress! + x.lowerBound, b.baseAddress! + y.lowerBound, n)
            if c != 0 { return Int(c) }
        }
        return x.count - y.count
    }
}
