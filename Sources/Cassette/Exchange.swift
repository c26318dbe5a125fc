import Foundation

/// One recorded HTTP exchange: what was asked, what came back, when, and the key it is matched by.
/// Encoded as one JSON line with sorted keys (so `key` comes first and files diff cleanly).
public struct Exchange: Codable, Sendable, Equatable {
    /// 1-based position in the cassette.
    public var seq: Int
    /// The canonical match key (see the Matching module); volatile signature fields are not part of it.
    public var key: String
    /// The matching profile that built `key` (`aliyun-rpc`, `aliyun-acs3`, `huawei`, `generic`).
    public var profile: String
    public var request: Request
    public var response: Response
    public var timing: Timing

    public init(seq: Int, key: String, profile: String, request: Request, response: Response, timing: Timing) {
        self.seq = seq
        self.key = key
        self.profile = profile
        self.request = request
        self.response = response
        self.timing = timing
    }

    public struct Request: Codable, Sendable, Equatable {
        public var method: String
        /// Absolute URL of the upstream request: `https://ecs.aliyuncs.com/?Action=…`.
        public var url: String
        /// In the order sent; names as sent.
        public var headers: [[String]]
        public var body: Body

        public init(method: String, url: String, headers: [(String, String)], body: Body) {
            self.method = method
            self.url = url
            self.headers = headers.map { [$0.0, $0.1] }
            self.body = body
        }

        public var headerPairs: [(String, String)] { headers.compactMap { $0.count == 2 ? ($0[0], $0[1]) : nil } }
    }

    public struct Response: Codable, Sendable, Equatable {
        public var status: Int
        public var headers: [[String]]
        public var body: Body

        public init(status: Int, headers: [(String, String)], body: Body) {
            self.status = status
            self.headers = headers.map { [$0.0, $0.1] }
            self.body = body
        }

        public var headerPairs: [(String, String)] { headers.compactMap { $0.count == 2 ? ($0[0], $0[1]) : nil } }
    }

    public struct Timing: Codable, Sendable, Equatable {
        /// ISO 8601 UTC with milliseconds.
        public var started_at: String
        public var duration_ms: Double

        public init(started_at: String, duration_ms: Double) {
            self.started_at = started_at
            self.duration_ms = duration_ms
        }
    }
}

/// A body stored decoded: UTF-8 text as text (JSON and XML stay readable with `zcat | jq`), anything
/// else as base64. `Content-Encoding` is removed before storing.
public struct Body: Codable, Sendable, Equatable {
    public enum Encoding: String, Codable, Sendable { case text, base64 }
    public var encoding: Encoding
    public var data: String

    public init(encoding: Encoding, data: String) {
        self.encoding = encoding
        self.data = data
    }

    public static let empty = Body(encoding: .text, data: "")

    /// Text if the bytes are valid UTF-8 without NULs, else base64.
    public init(bytes: [UInt8]) {
        let hasNUL = bytes.withUnsafeBytes { raw in raw.baseAddress.map { memchr($0, 0, raw.count) != nil } ?? false }
        if !hasNUL, let s = String(validating: bytes, as: UTF8.self) {
            self.init(encoding: .text, data: s)
        } else {
            self.init(encoding: .base64, data: Base64.encode(bytes))
        }
    }

    public var bytes: [UInt8] {
        switch encoding {
        case .text: return Array(data.utf8)
        case .base64: return Base64.decode(data) ?? []
        }
    }
}
