import NIOCore
import TapedeckHTTP

/// One request to send, pre-serialised, and what a correct answer looks like.
public struct LoadRequest: Sendable {
    /// The complete HTTP/1.1 request bytes (keep-alive).
    public var bytes: ByteBuffer
    public var expectation: Expectation?
    /// A short label for reports (the action or route).
    public var kind: String

    /// A HEAD request: its answer has no body, whatever its `Content-Length` says.
    public let isHead: Bool

    public init(bytes: ByteBuffer, expectation: Expectation?, kind: String) {
        self.bytes = bytes
        self.expectation = expectation
        self.kind = kind
        isHead = bytes.readableBytesView.starts(with: "HEAD ".utf8)
    }
}

/// What `--verify` checks an answer against.
public enum Expectation: Sendable {
    /// Exactly these bytes with this status (a recorded answer).
    case exact(status: Int, body: [UInt8])
    /// One of these recorded answers: a request recorded several times is answered in recorded order,
    /// which concurrent connections interleave.
    case anyOf([(status: Int, body: [UInt8])])
    /// An Alibaba reference answer: per queried id, the referencing ids (order-free).
    case aliyunReferences([String: Set<String>])
    /// A Huawei security group answer naming this id.
    case huaweiGroup(id: String)
    /// Huawei rules whose `remote_group_id` is this id, this many of them.
    case huaweiRules(remote: String, count: Int)
    /// An error with this status and code (`Code` or `error_code`).
    case error(status: Int, code: String)
}

/// Builds `GET/POST … HTTP/1.1` request bytes.
enum RequestBytes {
    static func make(method: String, target: String, host: String, headers: [(String, String)] = [], body: [UInt8] = []) -> ByteBuffer {
        ByteBuffer(bytes: HTTPRequestWriter.bytes(method: method, target: target, host: host, headers: headers, body: body))
    }
}
