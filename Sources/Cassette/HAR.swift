import CloudSigning
import Foundation

/// HAR 1.2 (HTTP Archive), the format browsers and mitmproxy export: converts cassettes both ways.
public enum HAR {
    public struct Log: Codable { public var log: Content }
    public struct Content: Codable {
        public var version: String
        public var creator: Creator
        public var entries: [Entry]
    }
    public struct Creator: Codable { public var name: String; public var version: String }
    public struct NameValue: Codable { public var name: String; public var value: String }
    public struct Entry: Codable {
        public var startedDateTime: String
        public var time: Double
        public var request: Request
        public var response: Response
        public var cache: [String: String]? = [:]
        public var timings: Timings?
    }
    public struct Request: Codable {
        public var method: String
        public var url: String
        public var httpVersion: String?
        public var headers: [NameValue]
        public var queryString: [NameValue]?
        public var cookies: [NameValue]? = []
        public var postData: PostData?
        public var headersSize: Int? = -1
        public var bodySize: Int? = -1
    }
    public struct PostData: Codable {
        public var mimeType: String?
        public var text: String?
        public var encoding: String?
        /// Form fields, which HAR 1.2 allows instead of `text` (Firefox writes only these for a form).
        public var params: [NameValue]?
    }
    public struct Response: Codable {
        public var status: Int
        public var statusText: String?
        public var httpVersion: String?
        public var headers: [NameValue]
        public var cookies: [NameValue]? = []
        public var content: ResponseContent
        public var redirectURL: String? = ""
        public var headersSize: Int? = -1
        public var bodySize: Int? = -1
    }
    public struct ResponseContent: Codable {
        public var size: Int?
        public var mimeType: String?
        public var text: String?
        public var encoding: String?
    }
    public struct Timings: Codable { public var send: Double; public var wait: Double; public var receive: Double }

    /// `headers` with a `Content-Length` that says the stored body's size: stored bodies are decoded (no
    /// `Content-Encoding`) and may be redacted, so the length the wire carried no longer fits them (mitmproxy
    /// replaying an export served the first 305 bytes of a 683-byte answer). A bodiless entry keeps its own
    /// (what a HEAD answer or a 304 announced).
    static func lengthFitting(_ headers: [(String, String)], bodyBytes: Int) -> [(String, String)] {
        guard bodyBytes > 0 else { return headers }
        return headers.map { $0.0.lowercased() == "content-length" ? ($0.0, String(bodyBytes)) : $0 }
    }

    /// A HAR document of `exchanges`.
    public static func export(_ exchanges: [Exchange]) throws -> Data {
        let entries = exchanges.map { e -> Entry in
            let reqType = e.request.headerPairs.first { $0.0.lowercased() == "content-type" }?.1
            let respType = e.response.headerPairs.first { $0.0.lowercased() == "content-type" }?.1
            let query = URLComponents(string: e.request.url)?.queryItems?.map { NameValue(name: $0.name, value: $0.value ?? "") } ?? []
            return Entry(
                startedDateTime: e.timing.started_at, time: e.timing.duration_ms,
                request: Request(
                    method: e.request.method, url: e.request.url, httpVersion: "HTTP/1.1",
                    headers: lengthFitting(e.request.headerPairs, bodyBytes: e.request.body.bytes.count).map { NameValue(name: $0.0, value: $0.1) },
                    queryString: query,
                    postData: e.request.body.data.isEmpty
                        ? nil
                        : PostData(
                            mimeType: reqType ?? "", text: e.request.body.data,
                            encoding: e.request.body.encoding == .base64 ? "base64" : nil),
                    bodySize: e.request.body.bytes.count),
                response: Response(
                    status: e.response.status, statusText: "", httpVersion: "HTTP/1.1",
                    headers: lengthFitting(e.response.headerPairs, bodyBytes: e.response.body.bytes.count).map { NameValue(name: $0.0, value: $0.1) },
                    content: ResponseContent(
                        size: e.response.body.bytes.count, mimeType: respType ?? "", text: e.response.body.data,
                        encoding: e.response.body.encoding == .base64 ? "base64" : nil),
                    bodySize: e.response.body.bytes.count),
                timings: Timings(send: 0, wait: e.timing.duration_ms, receive: 0))
        }
        let e = JSONEncoder()
        e.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        return try e.encode(Log(log: Content(version: "1.2", creator: Creator(name: "tapedeck", version: "0.1.0"), entries: entries)))
    }

    /// What `import` made of a HAR document: the exchanges, and each entry left out with the reason.
    public struct Imported {
        public var exchanges: [Exchange]
        public var skipped: [String]
    }

    public struct Failure: Error, CustomStringConvertible {
        public var description: String
    }

    /// Exchanges from a HAR document (browser, mitmproxy or Tapedeck export). `key` computes each one's
    /// match key (the Matching module knows how); `seq` is assigned in order. Entries that are no HTTP
    /// exchange are left out and named: a browser's failed request (status 0) and WebSocket or other
    /// non-HTTP URLs. A URL's fragment is not part of the request and is dropped; form fields given as
    /// `params` (without `text`) become the form body; a body that says base64 must be base64.
    public static func `import`(_ data: Data, key: (Exchange) -> (key: String, profile: String)) throws -> Imported {
        let log = try JSONDecoder().decode(Log.self, from: data)
        var exchanges: [Exchange] = []
        var skipped: [String] = []
        for (i, h) in log.log.entries.enumerated() {
            let name = "entry \(i + 1) (\(h.request.method) \(h.request.url.prefix(80)))"
            guard h.response.status >= 100 && h.response.status <= 999 else {
                skipped.append("\(name): status \(h.response.status), no answer (a browser's failed or blocked request)")
                continue
            }
            let scheme = h.request.url.prefix { $0 != ":" }.lowercased()
            guard scheme == "http" || scheme == "https" else {
                skipped.append("\(name): not an HTTP request (\(scheme):)")
                continue
            }
            func body(_ text: String?, _ encoding: String?, _ what: String) throws -> Body {
                guard let text else { return .empty }
                guard encoding == "base64" else { return Body(encoding: .text, data: text) }
                guard let bytes = Base64.decode(text) else {
                    throw Failure(description: "\(name): its \(what) says base64 but is not valid base64")
                }
                return Body(bytes: bytes)  // stored as text when it is text, as a recording would
            }
            var requestText = h.request.postData?.text
            if requestText == nil, let params = h.request.postData?.params, !params.isEmpty {
                requestText = params.map { PercentEncoding.encode($0.name) + "=" + PercentEncoding.encode($0.value) }.joined(separator: "&")
            }
            let url = h.request.url.split(separator: "#", maxSplits: 1, omittingEmptySubsequences: false).first.map(String.init) ?? h.request.url
            let requestBody = try body(requestText, h.request.postData?.encoding, "request body")
            let responseBody = try body(h.response.content.text, h.response.content.encoding, "response content")
            var e = Exchange(
                seq: exchanges.count + 1, key: "", profile: "",
                request: .init(
                    method: h.request.method, url: url,
                    headers: lengthFitting(
                        h.request.headers.filter { !$0.name.hasPrefix(":") }.map { ($0.name, $0.value) },
                        bodyBytes: requestBody.bytes.count),
                    body: requestBody),
                response: .init(
                    status: h.response.status,
                    headers: lengthFitting(
                        h.response.headers.filter { !$0.name.hasPrefix(":") && $0.name.lowercased() != "content-encoding" }.map {
                            ($0.name, $0.value)
                        }, bodyBytes: responseBody.bytes.count),
                    body: responseBody),
                timing: .init(started_at: h.startedDateTime, duration_ms: (h.time * 1000).rounded() / 1000))
            let k = key(e)
            e.key = k.key
            e.profile = k.profile
            exchanges.append(e)
        }
        return Imported(exchanges: exchanges, skipped: skipped)
    }
}
