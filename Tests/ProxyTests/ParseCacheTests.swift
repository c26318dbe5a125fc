import CloudModel
import CloudSigning
import Foundation
import Matching
import NIOCore
import NIOHTTP1
import Synchronization
import TapedeckHTTP
import TapedeckTesting
import Testing

@testable import Proxy

/// A request that arrives again byte for byte reuses its parse (`ParseCache`), but never an answer: the
/// replay cursor moves per request, and anything the parse depends on (a key header, the cassette)
/// changing gives a fresh parse.
@Suite struct ParseCacheTests {
    final class Counter: Sendable {
        let value = Atomic<Int>(0)
        func next() -> Int { value.wrappingAdd(1, ordering: .relaxed).newValue }
    }

    /// Numbered answers, each naming the `x-acs-action` it answered.
    static func numbered(_ counter: Counter) -> @Sendable (String) -> [UInt8] {
        { request in
            let action =
                request.split(separator: "\r\n").first { $0.lowercased().hasPrefix("x-acs-action:") }
                .map { $0.dropFirst("x-acs-action:".count).trimmingCharacters(in: .whitespaces) } ?? "-"
            let body = "{\"n\":\(counter.next()),\"action\":\"\(action)\"}"
            return Array(
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: \(body.utf8.count)\r\n\r\n\(body)".utf8)
        }
    }

    static func answer(_ r: RawHTTPClient.Response) -> String {
        let j = json(r)
        return "\(j["action"] as? String ?? "?")\(j["n"] as? Int ?? -1)"
    }

    @Test func identicalRequestsReuseTheirParseButEachTakesItsOwnAnswer() async throws {
        let path = tempCassette("parse-cache")
        let other = tempCassette("parse-cache-other")
        defer {
            for p in [path, other] {
                try? FileManager.default.removeItem(atPath: p)
                try? FileManager.default.removeItem(atPath: p + ".idx")
            }
        }
        let target = "/?RegionId=cn-hangzhou&SecurityGroupId=sg-1"
        let a = [("x-acs-action", "DescribeA"), ("x-acs-version", "2014-05-26")]
        let b = [("x-acs-action", "DescribeB"), ("x-acs-version", "2014-05-26")]
        try await ScriptedUpstream.with(answer: Self.numbered(Counter())) { port in
            try await TestProxy.with(
                cassette: path, mode: .record, upstream: "http://127.0.0.1:\(port)", configure: { $0.threads = 1 }
            ) { proxy in
                var got: [String] = []
                // Same target, same slot: only the key header tells the two calls apart.
                for headers in [a, a, b, a, b] {
                    got.append(Self.answer(try await RawHTTPClient.request("GET", target, port: proxy.port, headers: headers)))
                }
                #expect(got == ["DescribeA1", "DescribeA2", "DescribeB3", "DescribeA4", "DescribeB5"])
                #expect(proxy.engine.status.recorded == 5)
            }
        }
        try await TestProxy.with(cassette: path, mode: .replay, configure: { $0.threads = 1 }) { proxy in
            var got: [String] = []
            for headers in [b, a, a, b, a, a] {
                let r = try await RawHTTPClient.request("GET", target, port: proxy.port, headers: headers)
                got.append(r.status == 200 ? Self.answer(r) : "\(r.status)")
            }
            // Each key's recordings in order, then used up: the cursor moved on every request.
            #expect(got == ["DescribeB3", "DescribeA1", "DescribeA2", "DescribeB5", "DescribeA4", "404"])
            // The two calls share a slot (same target): the second A of each pair reuses the first's parse.
            #expect(proxy.engine.stats.parsesReused.load(ordering: .relaxed) == 2, "identical requests were parsed again")

            // Another cassette: the same request is matched against it, not with the last session's parse.
            try await ScriptedUpstream.with(answer: Self.numbered(Counter())) { port in
                try await TestProxy.with(cassette: other, mode: .record, upstream: "http://127.0.0.1:\(port)") { recorder in
                    _ = try await RawHTTPClient.request("GET", target, port: recorder.port, headers: a)
                }
            }
            // A request in another slot, parsed under the session about to be retired and never overwritten.
            let elsewhere = "/?RegionId=cn-beijing"
            #expect(ParseCache.slot(elsewhere) != ParseCache.slot(target))
            _ = try await RawHTTPClient.request("GET", elsewhere, port: proxy.port, headers: a)
            weak let retired = proxy.engine.session
            try proxy.engine.switchCassette(path: other, mode: .replay)
            let switched = try await RawHTTPClient.request("GET", target, port: proxy.port, headers: a)
            #expect(switched.status == 200 && Self.answer(switched) == "DescribeA1")
            #expect(retired == nil, "the parse cache keeps the retired session (and its cached answers) alive")
        }
    }

    /// What counts as the same request: everything the parse reads, byte for byte.
    @Test func sameMeansByteForByte() {
        func head(_ uri: String, _ headers: [(String, String)], method: HTTPMethod = .GET) -> HTTPRequestHead {
            HTTPRequestHead(version: .http1_1, method: method, uri: uri, headers: HTTPHeaders(headers))
        }
        let base = head("/?a=1", [("Host", "h"), ("X", "1")])
        #expect(ParseCache.same(base, head("/?a=1", [("Host", "h"), ("X", "1")])))
        #expect(!ParseCache.same(base, head("/?a=2", [("Host", "h"), ("X", "1")])))
        #expect(!ParseCache.same(base, head("/?a=1", [("Host", "h"), ("X", "2")])))
        #expect(!ParseCache.same(base, head("/?a=1", [("Host", "h"), ("x", "1")])), "a header name's case")
        #expect(!ParseCache.same(base, head("/?a=1", [("X", "1"), ("Host", "h")])), "header order")
        #expect(!ParseCache.same(base, head("/?a=1", [("Host", "h")])))
        #expect(!ParseCache.same(base, head("/?a=1", [("Host", "h"), ("X", "1")], method: .POST)))
        // One text, two spellings (precomposed and combining é): String == calls them equal, the parse does not.
        #expect(!ParseCache.same(head("/caf\u{E9}", []), head("/cafe\u{301}", [])))
        for uri in ["", "/", "/?a=1", String(repeating: "x", count: 300)] {
            #expect((0..<ParseCache.slots).contains(ParseCache.slot(uri)))
        }
    }

    @Test func requestsWithABodyAreNeverCached() {
        var body = ByteBuffer()
        body.writeString("Action=X")
        let head = HTTPRequestHead(version: .http1_1, method: .POST, uri: "/", headers: HTTPHeaders())
        #expect(!ParseCache.cacheable(.init(head: head, body: body, tunnel: nil)))
        #expect(ParseCache.cacheable(.init(head: head, body: ByteBuffer(), tunnel: nil)))
        #expect(ParseCache.cacheable(.init(head: head, body: nil, tunnel: nil)))
    }

    /// Freshly signed SDK calls (new nonce, timestamp and signature each time) reuse the key of the last call
    /// of their shape, and still each take their own recording; a call that differs in anything the key reads
    /// is keyed again.
    @Test func freshlySignedCallsReuseTheirShapesKeyAndStillMatchExactly() async throws {
        let path = tempCassette("parse-cache-shape")
        defer {
            try? FileManager.default.removeItem(atPath: path)
            try? FileManager.default.removeItem(atPath: path + ".idx")
        }
        func call(_ group: String) -> String { signedRPC([("SecurityGroupId.1", group)]) }
        try await ScriptedUpstream.with(answer: Self.numbered(Counter())) { port in
            try await TestProxy.with(
                cassette: path, mode: .record, upstream: "http://127.0.0.1:\(port)", configure: { $0.threads = 1 }
            ) { proxy in
                for group in ["sg-1", "sg-2", "sg-1"] {
                    let status = try await RawHTTPClient.request("GET", call(group), port: proxy.port).status
                    #expect(status == 200)
                }
            }
        }
        try await TestProxy.with(cassette: path, mode: .replay, configure: { $0.threads = 1 }) { proxy in
            var got: [String] = []
            for group in ["sg-1", "sg-1", "sg-2", "sg-1", "sg-3"] {
                let r = try await RawHTTPClient.request("GET", call(group), port: proxy.port)
                got.append(r.status == 200 ? "\(json(r)["n"] as? Int ?? -1)" : "\(r.status)")
            }
            // sg-1's two recordings in order, then used up; sg-3 was never recorded.
            #expect(got == ["1", "3", "2", "404", "404"])
            // Only the second call follows a call of its shape that differs in volatile values alone (the
            // others follow a different group id, which the key reads).
            #expect(proxy.engine.stats.keysReused.load(ordering: .relaxed) == 1)
            #expect(proxy.engine.stats.parsesReused.load(ordering: .relaxed) == 0)
        }
    }

    /// Query values for the random requests below: plain, escaped, one that does not decode.
    static let values = ["", "a", "sg-1", "sg-2", "x%2By", "a+b", "2026-12-04T10%3A00%3A00Z", "%zz", "a=b", "JSON", "xml", "%E2%82%AC"]
    static let volatileNames = ["Signature", "SignatureNonce", "Timestamp", "AccessKeyId", "SecurityToken", "SignatureType", "ClientToken"]
    static let stableNames = ["Action", "RegionId", "SecurityGroupId.1", "Format", "Version", "SignatureMethod"]

    /// What a parse decides: key, profile and error shape, or its failure.
    static func key(_ r: Result<ProxyEngine.Parsed, ProxyFailure>) -> String {
        switch r {
        case .success(let p): return "\(p.recorder.key?.string ?? "-") \(p.recorder.profile.name) \(p.shape)"
        case .failure(let f): return "failure \(f.message)"
        }
    }

    /// A recording proxy's engine and session (its upstream is never called), for parsing in process.
    static func withEngine(_ name: String, _ body: (ProxyEngine, CassetteSession) async throws -> Void) async throws {
        let path = tempCassette(name)
        defer {
            try? FileManager.default.removeItem(atPath: path)
            try? FileManager.default.removeItem(atPath: path + ".idx")
        }
        try await TestProxy.with(cassette: path, mode: .record, upstream: "http://127.0.0.1:9", configure: { $0.threads = 1 }) {
            proxy in try await body(proxy.engine, proxy.engine.session)
        }
    }

    /// Whenever a request finds a shape, the reused key is the one a full parse gives, over random RPC requests
    /// and random changes to them; and a change to volatile values alone always finds it.
    @Test func aReusedKeyIsAlwaysTheKeyAFullParseGives() async throws {
        try await Self.withEngine("parse-cache-shape-keys") { engine, session in
            var rng = SplitMix64(seed: 12)
            func pick<T>(_ xs: [T]) -> T { xs[Int(rng.next() % UInt64(xs.count))] }
            let values = Self.values
            let volatileNames = Self.volatileNames, stableNames = Self.stableNames
            func uri(_ params: [(String, String?)]) -> String {
                "/?" + params.map { p in p.1.map { v in "\(p.0)=\(v)" } ?? p.0 }.joined(separator: "&")
            }
            func request(_ uri: String, _ headers: [(String, String)]) -> ProxyEngine.ClientRequest {
                .init(head: HTTPRequestHead(version: .http1_1, method: .GET, uri: uri, headers: HTTPHeaders(headers)), body: nil, tunnel: nil)
            }
            let key = Self.key
            var volatileOnly = 0, found = 0
            for _ in 0..<3000 {
                // With `Action`, an RPC call (the profile with volatile parameters); without, the generic one.
                var params: [(String, String?)] = (stableNames + volatileNames).filter { _ in rng.next() % 8 != 0 }.map { ($0, pick(values)) }
                params.shuffle(using: &rng)
                let headers = [("Host", "ecs.aliyuncs.com"), ("User-Agent", "sdk")]
                let cache = ParseCache()
                let first = request(uri(params), headers)
                guard case .success(let parsed) = engine.parse(first, session: session) else { continue }
                cache.storeShape(parsed, for: first, session: session, keyed: true)
                var changed = params, changedHeaders = headers
                let onlyVolatile = rng.next() % 2 == 0
                if onlyVolatile {
                    for i in changed.indices where volatileNames.contains(changed[i].0) && changed[i].1 != nil { changed[i].1 = pick(values) }
                } else if !changed.isEmpty {
                    let i = Int(rng.next() % UInt64(changed.count))
                    switch rng.next() % 6 {
                    case 0: changed[i].1 = pick(values) + "1"
                    case 1: changed[i].0 = changed[i].0.lowercased()
                    case 2: changed.remove(at: i)
                    case 3: changed.append((pick(stableNames + volatileNames), pick(values)))
                    case 4: changed[i].1 = changed[i].1 == nil ? "" : nil
                    default: changedHeaders[1].1 = "sdk2"
                    }
                }
                let second = request(uri(changed), changedHeaders)
                let known = cache.lookupShape(second, session: session, keyed: true)
                if onlyVolatile && parsed.recorder.profile.name == "aliyun-rpc" && params.contains(where: { volatileNames.contains($0.0) }) {
                    volatileOnly += 1
                    #expect(known != nil, "\(uri(params)) then \(uri(changed)) differ in volatile values only")
                }
                guard let known else { continue }
                found += 1
                let full = key(engine.parse(second, session: session))
                #expect(key(engine.parse(second, session: session, keyed: true, known: known)) == full, "\(uri(params)) then \(uri(changed))")
            }
            #expect(volatileOnly > 500 && found >= volatileOnly, "\(volatileOnly) changed in volatile values alone, \(found) found")
        }
    }

    /// The same for the fast lane's table, by the requests' bytes: a shape found gives the key, profile and error
    /// shape a full parse gives, and a volatile value that does not decode (the full parse refuses it) is no shape.
    @Test func aShapeFoundByBytesGivesTheKeyAFullParseGives() async throws {
        try await Self.withEngine("parse-cache-shape-bytes") { engine, session in
            var rng = SplitMix64(seed: 13)
            func pick<T>(_ xs: [T]) -> T { xs[Int(rng.next() % UInt64(xs.count))] }
            let values = Self.values + ["%C3%28"]
            let volatileNames = Self.volatileNames, stableNames = Self.stableNames
            func uri(_ params: [(String, String)]) -> String { "/?" + params.map { "\($0.0)=\($0.1)" }.joined(separator: "&") }
            let headerBlock = Array("Host: ecs.aliyuncs.com\r\nUser-Agent: sdk\r\n".utf8)
            func request(_ uri: String) -> ProxyEngine.ClientRequest {
                .init(
                    head: HTTPRequestHead(
                        version: .http1_1, method: .GET, uri: uri, headers: ["Host": "ecs.aliyuncs.com", "User-Agent": "sdk"]),
                    body: nil, tunnel: nil)
            }
            let key = Self.key
            var volatileOnly = 0, found = 0, refused = 0
            for _ in 0..<3000 {
                // A first request that parses (no value that fails to decode); its changes may bring one.
                var params = (stableNames + volatileNames).filter { _ in rng.next() % 8 != 0 }.map { ($0, pick(Array(values.dropFirst(2).prefix(5)) + ["", "a"])) }
                params.shuffle(using: &rng)
                let cache = ParseCache()
                let first = uri(params)
                guard case .success(let parsed) = engine.parse(request(first), session: session) else { continue }
                Array(first.utf8).withUnsafeBufferPointer { t in
                    headerBlock.withUnsafeBufferPointer { h in cache.store(parsed, method: .GET, target: t, headers: h, session: session) }
                }
                var changed = params
                let onlyVolatile = rng.next() % 2 == 0
                if onlyVolatile {
                    for i in changed.indices where volatileNames.contains(changed[i].0) { changed[i].1 = pick(values) }
                } else if !changed.isEmpty {
                    let i = Int(rng.next() % UInt64(changed.count))
                    switch rng.next() % 4 {
                    case 0: changed[i].1 = pick(values) + "1"
                    case 1: changed[i].0 = changed[i].0.lowercased()
                    case 2: changed.remove(at: i)
                    default: changed.append((pick(stableNames + volatileNames), pick(values)))
                    }
                }
                let second = uri(changed)
                let known = Array(second.utf8).withUnsafeBufferPointer { t in
                    headerBlock.withUnsafeBufferPointer { h in cache.lookupShape(method: .GET, target: t, headers: h, session: session) }
                }
                let full = key(engine.parse(request(second), session: session))
                if onlyVolatile && parsed.recorder.profile.name == "aliyun-rpc" && params.contains(where: { volatileNames.contains($0.0) }) {
                    volatileOnly += 1
                    // A value that does not decode is not matched by bytes; the full parse keys it as sent.
                    let decodes = (try? QueryParameters.parse(String(second.dropFirst(2)))) != nil
                    if !decodes { refused += 1 }
                    #expect((known != nil) == decodes, "\(first) then \(second)")
                    #expect(!full.hasPrefix("failure"), "\(second) is forwarded as sent, not refused")
                }
                guard let known else { continue }
                found += 1
                #expect(key(.success(known)) == full, "\(first) then \(second)")
            }
            #expect(refused > 50, "\(refused) changes to volatile values that do not decode")
            #expect(volatileOnly > 300 && found >= volatileOnly - refused, "\(volatileOnly) changed in volatile values alone, \(found) found")
        }
    }

    @Test func shapesCompareEverythingButVolatileValues() {
        let names: Set<String> = ["SignatureNonce", "Signature"]
        let base = "/p?Action=A&SignatureNonce=1&Signature=x%2B&Id=2"
        let mask = ParseCache.volatileParameters(of: base, in: names)
        #expect(mask == 0b0110)
        #expect(ParseCache.sameExceptVolatileValues(base, "/p?Action=A&SignatureNonce=99&Signature=&Id=2", volatile: mask))
        #expect(!ParseCache.sameExceptVolatileValues(base, "/p?Action=A&SignatureNonce=99&Signature=&Id=3", volatile: mask))
        #expect(!ParseCache.sameExceptVolatileValues(base, "/q?Action=A&SignatureNonce=1&Signature=x%2B&Id=2", volatile: mask))
        #expect(!ParseCache.sameExceptVolatileValues(base, "/p?Action=A&SignatureNonce&Signature=x%2B&Id=2", volatile: mask), "an = gone")
        #expect(!ParseCache.sameExceptVolatileValues(base, "/p?Action=A&SignatureNonce=1&Signature=x%2B", volatile: mask))
        #expect(!ParseCache.sameExceptVolatileValues(base, "/p?Action=A&SignatureNonce=1&Signature=x%2B&Id=2&", volatile: mask))
        #expect(!ParseCache.sameExceptVolatileValues(base, "/p?Action=A&Signature=x%2B&SignatureNonce=1&Id=2", volatile: mask), "order")
        #expect(!ParseCache.sameExceptVolatileValues(base, "/p?Action=A&signatureNonce=1&Signature=x%2B&Id=2", volatile: mask), "case")
        // A name with an escape is never taken as volatile: its value must match.
        #expect(ParseCache.volatileParameters(of: "/?Signature%4Eonce=1&Signature=2", in: names) == 0b10)
        #expect(ParseCache.volatileParameters(of: "/?Action=A", in: names) == 0)
        // No query, or a fragment: no shape.
        #expect(ParseCache.shapeSlot("/p") == nil)
        #expect(ParseCache.shapeSlot("/p?a=1#x") == nil)
        #expect(ParseCache.shapeSlot("/p?a=1&b=2") == ParseCache.shapeSlot("/p?a=3&b=44"))
    }
}
