import NIOCore

/// An error body in the shape each cloud's SDKs parse: Alibaba's `RequestId/HostId/Code/Message/Recommend`
/// (JSON, or XML when the call asked for `Format=XML`), Huawei's `error_msg/error_code/request_id`, and a
/// plain `code/message/request_id` for anything else. The simulator and the proxy both render errors here.
public enum CloudErrorDocument {
    public enum Shape: Sendable, Equatable {
        case aliyun(xml: Bool)
        case huawei
        case generic
    }

    public struct Rendered: Sendable {
        public var contentType: String
        public var body: ByteBuffer
        /// The request id header this cloud sends (`x-acs-request-id` for Alibaba, `X-Request-Id` otherwise).
        public var requestIDHeader: (String, String)
    }

    public static func render(
        _ shape: Shape, code: String, message: String, requestID: String, hostID: String = "",
        recommend: String = "", allocator: ByteBufferAllocator
    ) -> Rendered {
        var out = allocator.buffer(capacity: 192 + message.utf8.count)
        switch shape {
        case .aliyun(xml: true):
            out.writeStaticString("<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error>")
            for (k, v) in [("RequestId", requestID), ("HostId", hostID), ("Code", code), ("Message", message), ("Recommend", recommend)] {
                out.writeString("<\(k)>")
                TextEscaping.writeXMLText(v, into: &out)
                out.writeString("</\(k)>")
            }
            out.writeStaticString("</Error>")
            return Rendered(contentType: "text/xml;charset=utf-8", body: out, requestIDHeader: ("x-acs-request-id", requestID))
        case .aliyun:
            writeJSON(
                [("RequestId", requestID), ("HostId", hostID), ("Code", code), ("Message", message), ("Recommend", recommend)], into: &out)
            return Rendered(contentType: "application/json;charset=utf-8", body: out, requestIDHeader: ("x-acs-request-id", requestID))
        case .huawei:
            writeJSON([("error_msg", message), ("error_code", code), ("request_id", requestID)], into: &out)
            return Rendered(contentType: "application/json;charset=UTF-8", body: out, requestIDHeader: ("X-Request-Id", requestID))
        case .generic:
            writeJSON([("code", code), ("message", message), ("request_id", requestID)], into: &out)
            return Rendered(contentType: "application/json;charset=utf-8", body: out, requestIDHeader: ("X-Request-Id", requestID))
        }
    }

    static func writeJSON(_ members: [(String, String)], into out: inout ByteBuffer) {
        out.writeInteger(UInt8(ascii: "{"))
        for (i, (k, v)) in members.enumerated() {
            if i > 0 { out.writeInteger(UInt8(ascii: ",")) }
            TextEscaping.writeJSONString(k, into: &out)
            out.writeInteger(UInt8(ascii: ":"))
            TextEscaping.writeJSONString(v, into: &out)
        }
        out.writeInteger(UInt8(ascii: "}"))
    }
}
