@testable import Cassette
import Foundation
import Testing

/// HAR files from tools we did not write (Chrome and Firefox DevTools, mitmproxy's `hardump`) import as the
/// exchanges they hold, and what is no HTTP exchange is left out and named; an export is one that other tools
/// replay byte for byte.
@Suite struct HARTests {
    static func entry(_ url: String, method: String = "GET", status: Int = 200, requestHeaders: String = "[]", postData: String? = nil,
                      responseHeaders: String = "[]", content: String = #"{"size": 2, "mimeType": "application/json", "text": "{}"}"#) -> String {
        """
        {"startedDateTime": "2026-01-01T00:00:00.000Z", "time": 1.7900466918945312, "_initiator": {"type": "script"}, "cache": {},
         "timings": {"send": -1, "wait": 1, "receive": -1},
         "request": {"method": "\(method)", "url": "\(url)", "httpVersion": "h2", "headers": \(requestHeaders), "queryString": [],
                     "cookies": [], "headersSize": -1, "bodySize": -1\(postData.map { ", \"postData\": \($0)" } ?? "")},
         "response": {"status": \(status), "statusText": "", "httpVersion": "h2", "headers": \(responseHeaders), "cookies": [],
                      "content": \(content), "redirectURL": "", "headersSize": -1, "bodySize": -1, "_error": null}}
        """
    }

    static func har(_ entries: [String]) -> Data {
        Data(#"{"log": {"version": "1.2", "creator": {"name": "WebInspector", "version": "537.36"}, "entries": [\#(entries.joined(separator: ","))]}}"#.utf8)
    }

    @Test func browserEntriesImportAndWhatIsNoExchangeIsLeftOut() throws {
        let doc = Self.har([
            Self.entry("https://ecs.aliyuncs.com/?Action=DescribeRegions#top", requestHeaders: #"[{"name": ":authority", "value": "ecs.aliyuncs.com"}]"#),
            Self.entry("https://ecs.aliyuncs.com/?Action=Failed", status: 0, content: #"{"size": 0, "mimeType": "x-unknown"}"#),
            Self.entry("wss://example.test/socket", status: 101),
            Self.entry(
                "https://ecs.aliyuncs.com/", method: "POST",
                requestHeaders: #"[{"name": "Content-Type", "value": "application/x-www-form-urlencoded"}, {"name": "Content-Length", "value": "99"}]"#,
                postData: #"{"mimeType": "application/x-www-form-urlencoded", "params": [{"name": "Action", "value": "DescribeRegions"}, {"name": "Name", "value": "a b&c"}]}"#),
            // An answer the wire carried gzipped: stored decoded, so its Content-Length is the decoded size.
            Self.entry(
                "https://ecs.aliyuncs.com/?Action=Big",
                responseHeaders: #"[{"name": "Content-Encoding", "value": "gzip"}, {"name": "Content-Length", "value": "5"}]"#,
                content: #"{"size": 11, "mimeType": "application/json", "text": "{\"a\":\"bcd\"}"}"#),
        ])
        let imported = try HAR.import(doc) { ($0.request.method + " " + $0.request.url, "generic") }
        #expect(imported.exchanges.count == 3)
        #expect(imported.skipped.count == 2 && imported.skipped[0].contains("entry 2") && imported.skipped[0].contains("status 0"))
        #expect(imported.skipped[1].contains("entry 3") && imported.skipped[1].contains("not an HTTP request (wss:)"))
        let (get, form, big) = (imported.exchanges[0], imported.exchanges[1], imported.exchanges[2])
        #expect(get.request.url == "https://ecs.aliyuncs.com/?Action=DescribeRegions", "the fragment is not sent")
        #expect(get.request.headers.allSatisfy { !$0[0].hasPrefix(":") }, "HTTP/2 pseudo-headers are not headers")
        #expect(form.request.body.data == "Action=DescribeRegions&Name=a%20b%26c", "Firefox's params are the form body")
        #expect(form.request.headerPairs.first { $0.0 == "Content-Length" }?.1 == String(form.request.body.bytes.count))
        #expect(big.response.headerPairs.first { $0.0 == "Content-Length" }?.1 == "11")
        #expect(!big.response.headerPairs.contains { $0.0.lowercased() == "content-encoding" })
        #expect(imported.exchanges.map(\.seq) == [1, 2, 3])
    }

    @Test func aBodyThatSaysBase64MustBeBase64() {
        let doc = Self.har([Self.entry("https://x.test/", content: #"{"size": 3, "mimeType": "application/octet-stream", "text": "!!!notbase64", "encoding": "base64"}"#)])
        #expect { try HAR.import(doc) { _ in ("k", "generic") } } throws: { "\($0)".contains("entry 1") && "\($0)".contains("not valid base64") }
    }

    /// A recorded answer is stored decoded (and may be redacted): an export's Content-Length is the body's size,
    /// or a tool replaying it (mitmproxy --server-replay) cuts the body at the wire's old length.
    @Test func anExportsContentLengthFitsTheBody() throws {
        let body = Array(#"{"SecurityGroups":{"SecurityGroup":[]},"RequestId":"r"}"#.utf8)
        let e = Exchange(
            seq: 1, key: "k", profile: "generic",
            request: .init(method: "GET", url: "http://127.0.0.1/?Action=A", headers: [("Host", "127.0.0.1")], body: .empty),
            response: .init(status: 200, headers: [("Content-Type", "application/json"), ("Content-Length", "17")], body: Body(bytes: body)),
            timing: .init(started_at: "2026-01-01T00:00:00.000Z", duration_ms: 1))
        let log = try JSONDecoder().decode(HAR.Log.self, from: try HAR.export([e]))
        #expect(log.log.entries[0].response.headers.first { $0.name == "Content-Length" }?.value == String(body.count))
    }
}
