import Foundation
import Matching
import NIOCore
import NIOHTTP1

/// Errors the proxy makes up, in the shape of the cloud the request was meant for, so SDKs parse them
/// into their normal exceptions (and do not retry: 4xx for replay misses).
enum ProxyErrors {
    enum Shape { case aliyun(xml: Bool), huawei, generic }

    static func shape(profile: MatchProfile, path: String, format: String?) -> Shape {
        switch profile.name {
        case MatchProfile.aliyunRPC.name, MatchProfile.aliyunACS3.name: return .aliyun(xml: format?.lowercased() == "xml")
        case MatchProfile.huawei.name: return .huawei
        default: return path.hasPrefix("/v3/") || path.hasPrefix("/v2/") || path.hasPrefix("/v1/") ? .huawei : .generic
        }
    }

    static func response(_ shape: Shape, status: HTTPResponseStatus, code: String, message: String, allocator: ByteBufferAllocator) -> ProxyResponse {
        let rid = "tapedeck-" + UUID().uuidString.lowercased()
        var body = allocator.buffer(capacity: 256 + message.utf8.count)
        var headers: [(String, String)] = [("X-Request-Id", rid)]
        switch shape {
        case .aliyun(let xml) where xml:
            headers.append(("Content-Type", "text/xml;charset=utf-8"))
            body.writeString("<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><RequestId>\(rid)</RequestId><HostId>tapedeck</HostId><Code>\(escapeXML(code))</Code><Message>\(escapeXML(message))</Message><Recommend>https://github.com/tapedeck</Recommend></Error>")
        case .aliyun:
            headers.append(("Content-Type", "application/json;charset=utf-8"))
            body.writeString(json(["RequestId": rid, "HostId": "tapedeck", "Code": code, "Message": message, "Recommend": "tapedeck cassette ls"],
                                  order: ["RequestId", "HostId", "Code", "Message", "Recommend"]))
        case .huawei:
            headers.append(("Content-Type", "application/json;charset=UTF-8"))
            body.writeString(json(["error_msg": message, "error_code": code, "request_id": rid], order: ["error_msg", "error_code", "request_id"]))
        case .generic:
            headers.append(("Content-Type", "application/json;charset=utf-8"))
            body.writeString(json(["code": code, "message": message, "request_id": rid], order: ["code", "message", "request_id"]))
        }
        return ProxyResponse(status: status, headers: headers, body: body)
    }

    private static func json(_ d: [String: String], order: [String]) -> String {
        "{" + order.map { k in "\(quote(k)):\(quote(d[k] ?? ""))" }.joined(separator: ",") + "}"
    }

    private static func quote(_ s: String) -> String {
        let data = try! JSONSerialization.data(withJSONObject: s, options: [.fragmentsAllowed, .withoutEscapingSlashes])
        return String(decoding: data, as: UTF8.self)
    }

    private static func escapeXML(_ s: String) -> String {
        s.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;").replacingOccurrences(of: ">", with: "&gt;")
    }
}
