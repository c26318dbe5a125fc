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
                    headers: e.request.headerPairs.map { NameValue(name: $0.0, value: $0.1) }, queryString: query,
                    postData: e.request.body.data.isEmpty
                        ? nil
                        : PostData(
                            mimeType: reqType ?? "", text: e.request.body.data,
                            encoding: e.request.body.encoding == .base64 ? "base64" : nil),
                    bodySize: e.request.body.bytes.count),
                response: Response(
                    status: e.response.status, statusText: "", httpVersion: "HTTP/1.1",
                    headers: e.response.headerPairs.map { NameValue(name: $0.0, value: $0.1) },
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

    /// Exchanges from a HAR document (browser, mitmproxy or Tapedeck export). `key` computes each one's
    /// match key (the Matching module knows how); `seq` is assigned in order.
    public static func `import`(_ data: Data, key: (Exchange) -> (key: String, profile: String)) throws -> [Exchange] {
        let log = try JSONDecoder().decode(Log.self, from: data)
        return log.log.entries.enumerated().map { i, h in
            func body(_ text: String?, _ encoding: String?) -> Body {
                guard let text else { return .empty }
                return encoding == "base64" ? Body(encoding: .base64, data: text) : Body(encoding: .text, data: text)
            }
            var e = Exchange(
                seq: i + 1, key: "", profile: "",
                request: .init(
                    method: h.request.method, url: h.request.url,
                    headers: h.request.headers.filter { !$0.name.hasPrefix(":") }.map { ($0.name, $0.value) },
                    body: body(h.request.postData?.text, h.request.postData?.encoding)),
                response: .init(
                    status: h.response.status,
                    headers: h.response.headers.filter { !$0.name.hasPrefix(":") && $0.name.lowercased() != "content-encoding" }.map {
                        ($0.name, $0.value)
                    },
                    body: body(h.response.content.text, h.response.content.encoding)),
                timing: .init(started_at: h.startedDateTime, duration_ms: h.time))
            let k = key(e)
            e.key = k.key
            e.profile = k.profile
            return e
        }
    }
}
