import Foundation
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
}
