import Foundation
import Matching
import NIOCore
import NIOHTTP1
import TapedeckHTTP

/// Errors the proxy makes up, in the shape of the cloud the request was meant for, so SDKs parse them
/// into their normal exceptions (and do not retry: 4xx for replay misses).
enum ProxyErrors {
    typealias Shape = CloudErrorDocument.Shape

    static func shape(profile: MatchProfile, path: String, format: String?) -> Shape {
        switch profile.name {
        case MatchProfile.aliyunRPC.name, MatchProfile.aliyunACS3.name: return .aliyun(xml: format?.lowercased() == "xml")
        case MatchProfile.huawei.name: return .huawei
        default: return path.hasPrefix("/v3/") || path.hasPrefix("/v2/") || path.hasPrefix("/v1/") ? .huawei : .generic
        }
    }

    static func response(_ shape: Shape, status: HTTPResponseStatus, code: String, message: String,
                         recommend: String = "", allocator: ByteBufferAllocator) -> ProxyResponse {
        let rid = "tapedeck-" + UUID().uuidString.lowercased()
        let doc = CloudErrorDocument.render(shape, code: code, message: message, requestID: rid, hostID: "tapedeck",
                                            recommend: recommend, allocator: allocator)
        return ProxyResponse(status: status, contentType: doc.contentType, headers: [doc.requestIDHeader], body: doc.body)
    }
}
