import CloudSigning
import NIOCore
import NIOHTTP1
import TapedeckHTTP

/// A complete request as the API front ends see it: already split into path and decoded query.
public struct APIRequest {
    public var method: HTTPMethod
    /// Path as sent (percent-encoded), without the query.
    public var rawPath: Substring
    public var query: QueryParameters
    public var headers: HTTPHeaders
    public var body: ByteBuffer?

    public init(method: HTTPMethod, uri: String, headers: HTTPHeaders, body: ByteBuffer?) throws(QueryParameters.MalformedError) {
        self.method = method
        self.headers = headers
        self.body = body
        if let target = RequestTarget(uri) {
            rawPath = target.path
            if let q = target.query { query = try QueryParameters.parse(q.utf8) } else { query = QueryParameters() }
        } else {
            rawPath = Substring(uri)
            query = QueryParameters()
        }
    }

    public var bodyBytes: [UInt8] { body.map { Array($0.readableBytesView) } ?? [] }

    /// Form parameters when the body is `application/x-www-form-urlencoded`.
    public func formParameters() throws(QueryParameters.MalformedError) -> QueryParameters {
        guard let body, body.readableBytes > 0,
            let ct = headers.first(name: "content-type"), ct.lowercased().hasPrefix("application/x-www-form-urlencoded")
        else {
            return QueryParameters()
        }
        return try QueryParameters.parse(body.readableBytesView)
    }

    /// The request as the signature schemes see it.
    public func signable(form: QueryParameters) -> SignableRequest {
        SignableRequest(
            method: method.rawValue, rawPath: String(rawPath), query: query, form: form,
            headers: headers.map { ($0.name, $0.value) }, body: bodyBytes)
    }
}

/// A response to write: status, content type, request id header and a ready body.
public struct APIResponse {
    public var status: HTTPResponseStatus
    public var contentType: String
    public var body: ByteBuffer
    public var requestID: String
    /// The header the cloud sends its request id in: `x-acs-request-id` (Alibaba), `X-Request-Id` (Huawei,
    /// whose SDK reads the id only from there). Each cloud's answers carry only their own.
    public var requestIDHeader: String
    /// The call is outside what the simulator covers (an unknown action or route): worth a log line.
    public var outsideSurface = false

    public init(status: HTTPResponseStatus, contentType: String, body: ByteBuffer, requestID: String, requestIDHeader: String) {
        self.status = status
        self.contentType = contentType
        self.body = body
        self.requestID = requestID
        self.requestIDHeader = requestIDHeader
    }
}
