import Foundation
import Logging
import NIOCore
import NIOHTTP1
import TapedeckHTTP

/// One connection's answers: asks the `Simulator` and turns its `APIResponse` into bytes to write.
/// Its `ReaderCache` is that connection's lock-free view of the data (refreshed only after a write).
///
/// The HTTP mechanics (limits, `100-continue`, HEAD, pipelining, timeouts) are `HTTPServerHandler`'s;
/// answers are produced synchronously and in order, and flushed once per read batch.
struct SimulatorResponder: HTTPFastResponder {
    let simulator: Simulator
    let logger: Logger
    private var cache: Simulator.ReaderCache
    private var headScratch = ByteBuffer()

    init(simulator: Simulator, logger: Logger) {
        self.simulator = simulator
        self.logger = logger
        self.cache = simulator.makeReaderCache()
    }

    mutating func respond(to request: HTTPServerRequest, context: ChannelHandlerContext) -> HTTPResponderResult {
        let head = request.head
        // A web page the user opens must not change the data set under a test run (no CORS, but a form or an
        // image can still send a call), nor read its status: refused in the cloud's shape, before the API sees it.
        if let why = BrowserRequest.refusal(head.headers) {
            var shape = head
            // A form's `Format=XML` shapes the answer as the query's does.
            if RequestTarget.rawParameter("Format", in: head.uri) == nil, let body = request.body, body.readableBytes <= 64 * 1024,
                let format = RequestTarget.rawParameter("Format", in: "/?" + String(buffer: body))
            {
                shape.uri += (head.uri.contains("?") ? "&" : "?") + "Format=" + format
            }
            let refusal = HTTPServerRejection(
                status: .forbidden, message: "\(why) is not served: the simulator answers SDKs and test clients, not web pages", head: shape)
            return .response(rejection(refusal, allocator: context.channel.allocator))
        }
        if head.uri.utf8.starts(with: "/__tapedeck/".utf8) { return .response(control(head, allocator: context.channel.allocator)) }
        let r = simulator.respond(
            method: head.method, uri: head.uri, headers: head.headers, body: request.body,
            cache: &cache, allocator: context.channel.allocator)
        if r.outsideSurface {
            logger.info(
                "a call outside the simulated surface: tapedeck simulate covers the ECS security-group actions and Huawei Cloud VPC v3 security groups only",
                metadata: ["method": "\(head.method)", "target": "\(head.uri.prefix(200))"])
        }
        return .response(
            HTTPServerResponse(
                status: r.status, contentType: r.contentType, requestIDHeader: (r.requestIDHeader, r.requestID), body: r.body))
    }

    /// The fast lane's plain requests: the reference query's own path, the same answer `respond` gives. The
    /// head goes into the room the rendering left before the body, so the answer is one buffer (see
    /// `AliyunAPI.answerHeadroom`); the connection's answer buffer is still reused once it is written.
    mutating func fastResponse(
        method: HTTPMethod, target: UnsafeBufferPointer<UInt8>, headers: PlainHTTPHeaders, context: ChannelHandlerContext
    ) -> HTTPFastAnswer? {
        guard !headers.contains("origin"), !headers.contains("sec-fetch-site"), !headers.contains("sec-fetch-mode") else { return nil }  // `respond` judges
        guard var r = simulator.referenceAnswer(target: target, hasVersionHeader: headers.contains("x-acs-version"), cache: &cache)
        else { return nil }
        let head = HTTPServerResponse(
            status: r.status, contentType: r.contentType, requestIDHeader: (r.requestIDHeader, r.requestID), body: ByteBuffer())
        // The rendered bytes' only reference, so the head is written into them, not into a copy.
        var wire = ByteBuffer()
        swap(&wire, &cache.answer)
        r.body = ByteBuffer()
        head.prependHead(to: &wire, method: method, keepAlive: true, scratch: &headScratch)
        // One very large answer's memory is not kept for the connection's lifetime.
        if wire.capacity <= Simulator.keptAnswerBytes { cache.answer = wire }
        return .wire(wire)
    }

    /// `GET /__tapedeck/status` (the proxy answers the same path with its own status).
    /// HEAD gets the head alone (the server drops the body); another method on the status path gets 405 and `Allow`.
    private func control(_ head: HTTPRequestHead, allocator: ByteBufferAllocator) -> HTTPServerResponse {
        let isStatus = head.uri == "/__tapedeck/status"
        let ok = isStatus && (head.method == .GET || head.method == .HEAD)
        let doc: [String: Any] =
            ok
            ? simulator.statusDocument()
            : isStatus
                ? ["error": "\(head.method) /__tapedeck/status: the status document takes GET"]
                : ["error": "unknown control call \(head.method) \(head.uri.prefix(100)); see GET /__tapedeck/status"]
        let data = (try? JSONSerialization.data(withJSONObject: doc, options: [.sortedKeys])) ?? Data()
        return HTTPServerResponse(
            status: ok ? .ok : isStatus ? .methodNotAllowed : .notFound, contentType: "application/json",
            headers: ok || !isStatus ? [] : [("Allow", "GET, HEAD")], body: allocator.buffer(bytes: data))
    }

    /// A request over a limit or malformed, answered in the shape of the cloud it was meant for.
    func rejection(_ rejection: HTTPServerRejection, allocator: ByteBufferAllocator) -> HTTPServerResponse {
        var response: APIResponse
        let code: String
        switch rejection.status {
        case .badRequest: code = "MalformedHTTPRequest"
        case .requestTimeout: code = "RequestTimeout"
        case .expectationFailed: code = "ExpectationFailed"
        case .forbidden: code = "Forbidden.BrowserRequest"
        default: code = "RequestTooLarge"
        }
        let cloud = rejection.head.map {
            Simulator.cloud(path: Substring($0.uri.prefix(64)), headers: $0.headers, hasAction: $0.uri.contains("Action="))
        }
        switch cloud ?? .aliyun {
        case .aliyun:
            response = simulator.aliyun.errorResponse(
                AliyunError(rejection.status, code, rejection.message), format: rejection.head.map { AliyunAPI.rawFormat($0.uri) } ?? .json,
                allocator: allocator)
        case .huawei:
            response = simulator.huawei.errorResponse(HuaweiError(rejection.status, "APIGW.0201", rejection.message), allocator: allocator)
        }
        response.status = rejection.status
        return HTTPServerResponse(
            status: response.status, contentType: response.contentType,
            requestIDHeader: (response.requestIDHeader, response.requestID), body: response.body)
    }
}
