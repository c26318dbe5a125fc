import Foundation
import Matching
import NIOCore
import NIOHTTP1
import TapedeckHTTP

/// Every answer the proxy makes up instead of relaying one: its status, `Tapedeck.*` code, message and
/// advice live here and nowhere else. Rendered in the shape of the cloud the request was meant for, so
/// SDKs parse them into their normal exceptions (and do not retry: 4xx for replay misses).
public enum ProxyFailure: Error, Sendable, Equatable {
    /// The client's request cannot be understood (target, encoding).
    case badRequest(String)
    /// Replay: no recording has this key. `nearest` and the differences explain what is recorded instead.
    case noMatch(cassette: String, key: String, nearest: String?, differences: [String], ignoredDifferences: [String])
    /// Replay with `--on-exhausted error`: every recording of this key has been used.
    case exhausted(cassette: String, key: String, recorded: Int)
    /// A recorded exchange could not be read back.
    case cassetteUnreadable(String)
    /// Nowhere to forward an origin-form request.
    case noUpstream(uri: String)
    /// Forwarding would reach this proxy itself.
    case loopRefused(target: String)
    /// The request came back: its `Via` names this proxy (two proxies each other's upstream).
    case loopThrough(target: String)
    /// A web page's request (a browser's cross-site request, or a page whose name was rebound to 127.0.0.1).
    case browserRefused(String)
    /// `--resign` could not sign the request again.
    case resignFailed(String)
    /// Recording is on and the cassette cannot take the exchange: not forwarded at all.
    case cassetteUnwritable(String)
    /// The upstream answered but the exchange could not be written; the answer is withheld.
    case recordFailed(String)
    case upstreamTLS(String)
    case upstreamTimeout(String)
    case upstreamUnavailable(String)
    // The client connection (answered by `ProxyResponder` before a request reaches the engine).
    case requestTimeout(String)
    /// The client connection failed inside the proxy (e.g. a tunnel that could not be set up).
    case proxyError(String)
    case requestTooLarge(status: HTTPResponseStatus, message: String)
    /// An `Expect` other than `100-continue`.
    case expectationFailed(String)
    case badConnect(String)
    case noCA(String)
    case certificateError(String)

    public var status: HTTPResponseStatus {
        switch self {
        case .badRequest, .resignFailed, .badConnect: return .badRequest
        case .noMatch, .exhausted: return .notFound
        case .cassetteUnreadable, .recordFailed, .certificateError: return .internalServerError
        case .noUpstream, .upstreamTLS, .upstreamUnavailable, .proxyError: return .badGateway
        case .loopRefused, .loopThrough, .browserRefused: return .forbidden
        case .cassetteUnwritable: return .serviceUnavailable
        case .upstreamTimeout: return .gatewayTimeout
        case .requestTimeout: return .requestTimeout
        case .requestTooLarge(let status, _): return status
        case .expectationFailed: return .expectationFailed
        case .noCA: return .notImplemented
        }
    }

    public var code: String {
        switch self {
        case .badRequest: return "Tapedeck.BadRequest"
        case .noMatch: return "Tapedeck.NoMatchingExchange"
        case .exhausted: return "Tapedeck.ExchangesExhausted"
        case .cassetteUnreadable: return "Tapedeck.CassetteUnreadable"
        case .noUpstream: return "Tapedeck.NoUpstream"
        case .loopRefused, .loopThrough: return "Tapedeck.LoopRefused"
        case .browserRefused: return "Tapedeck.BrowserRequestRefused"
        case .resignFailed: return "Tapedeck.ResignFailed"
        case .cassetteUnwritable: return "Tapedeck.CassetteUnwritable"
        case .recordFailed: return "Tapedeck.RecordFailed"
        case .upstreamTLS: return "Tapedeck.UpstreamTLS"
        case .upstreamTimeout: return "Tapedeck.UpstreamTimeout"
        case .upstreamUnavailable: return "Tapedeck.UpstreamUnavailable"
        case .requestTimeout: return "Tapedeck.RequestTimeout"
        case .proxyError: return "Tapedeck.ProxyError"
        case .requestTooLarge: return "Tapedeck.RequestTooLarge"
        case .expectationFailed: return "Tapedeck.ExpectationFailed"
        case .badConnect: return "Tapedeck.BadConnect"
        case .noCA: return "Tapedeck.NoCA"
        case .certificateError: return "Tapedeck.CertificateError"
        }
    }

    public var message: String {
        switch self {
        case .badRequest(let why), .requestTimeout(let why), .badConnect(let why), .noCA(let why), .certificateError(let why),
            .proxyError(let why):
            return "tapedeck: \(why)"
        case .requestTooLarge(_, let why), .expectationFailed(let why): return "tapedeck: \(why)"
        case let .noMatch(cassette, key, nearest, differences, ignored):
            var msg = "tapedeck: no recorded exchange in \(cassette) matches this request. key: \(key)"
            if let nearest {
                msg += " ; nearest recorded: \(nearest) ; differs in: " + differences.joined(separator: "; ")
                if !ignored.isEmpty { msg += " ; also differs in ignored parts (not compared): " + ignored.joined(separator: "; ") }
            } else {
                msg += " ; the cassette has no exchanges"
            }
            return msg
        case let .exhausted(cassette, key, recorded):
            return
                "tapedeck: all \(recorded) recorded exchange(s) for this request in \(cassette) were already used (--on-exhausted error). key: \(key)"
        case .cassetteUnreadable(let why): return "tapedeck: the recorded exchange cannot be read: \(why)"
        case .noUpstream(let uri):
            return "tapedeck: no upstream for \(uri): start the proxy with --upstream URL, or send absolute-form or CONNECT requests"
        case .loopRefused(let target): return "tapedeck: \(target) is this proxy itself; it does not forward requests to itself"
        case .loopThrough(let target):
            return "tapedeck: this request already passed through this proxy (its Via names it): forwarding it to \(target) would go round a loop; check --upstream of the proxies in the chain"
        case .resignFailed(let why): return "tapedeck: --resign: \(why)"
        case .browserRefused(let why): return "tapedeck: \(why); SDKs, curl and test clients send neither, so this came from a web page"
        case .cassetteUnwritable(let why): return "tapedeck: not forwarded, because it could not be recorded: \(why)"
        case .recordFailed(let why): return "tapedeck: the upstream answered but recording failed, so the answer is withheld: \(why)"
        case .upstreamTLS(let why): return "tapedeck: \(why)"
        case .upstreamTimeout(let why), .upstreamUnavailable(let why): return "tapedeck: \(why) (nothing was recorded)"
        }
    }

    /// The `Recommend` of an Alibaba-shaped answer.
    public var recommend: String {
        switch self {
        case .noMatch(let cassette, _, _, _, _), .exhausted(let cassette, _, _): return "tapedeck cassette ls \(cassette)"
        default: return ""
        }
    }

    /// The shape of the cloud a request was meant for.
    static func shape(profile: MatchProfile, path: String, format: String?) -> CloudErrorDocument.Shape {
        switch profile.name {
        case MatchProfile.aliyunRPC.name, MatchProfile.aliyunACS3.name: return .aliyun(xml: format?.lowercased() == "xml")
        case MatchProfile.huawei.name: return .huawei
        default: return path.hasPrefix("/v3/") || path.hasPrefix("/v2/") || path.hasPrefix("/v1/") ? .huawei : .generic
        }
    }

    /// The shape for a request that could not be parsed: read off its raw target and headers (an `Action=`
    /// parameter or ACS3 headers are Alibaba's; `/v1/`…`/v3/` paths Huawei's).
    static func shape(rawRequest head: HTTPRequestHead) -> CloudErrorDocument.Shape {
        let uri = head.uri
        if RequestTarget.rawParameter("Action", in: uri) != nil || head.headers.contains(name: "x-acs-action") {
            return .aliyun(xml: RequestTarget.rawParameter("Format", in: uri)?.lowercased() == "xml")
        }
        return shape(profile: .generic, path: String(uri.prefix { $0 != "?" }), format: nil)
    }

    func response(_ shape: CloudErrorDocument.Shape, allocator: ByteBufferAllocator) -> ProxyResponse {
        let rid = "tapedeck-" + UUID().uuidString.lowercased()
        let doc = CloudErrorDocument.render(
            shape, code: code, message: message, requestID: rid, hostID: "tapedeck",
            recommend: recommend, allocator: allocator)
        return ProxyResponse(status: status, contentType: doc.contentType, headers: [doc.requestIDHeader], body: doc.body)
    }
}
