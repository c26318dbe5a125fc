import CloudSigning
import Cassette
import NIOCore
import NIOHTTP1
import TapedeckHTTP

/// A response ready to write to the client: the same bytes for a recorded exchange whether it is being
/// recorded or replayed (decoded body; `Content-Length` and `Connection` are the writer's).
typealias ProxyResponse = HTTPServerResponse

extension HTTPServerResponse {
    init(_ r: Exchange.Response, allocator: ByteBufferAllocator) {
        let bytes = r.body.bytes
        var body = allocator.buffer(capacity: bytes.count)
        body.writeBytes(bytes)
        // A recorded HEAD answer or 304 keeps the length it announced without a body (`ProxyEngine.exchange`).
        let announced = bytes.isEmpty ? r.headerPairs.first { ASCIICase.equalIgnoringCase($0.0, "content-length") }.flatMap { Int($0.1) } : nil
        self.init(
            status: HTTPResponseStatus(statusCode: r.status), headers: HopByHop.strip(r.headerPairs, dropLength: true), body: body,
            headContentLength: announced)
    }
}

/// Headers that belong to one connection, not to the exchange.
enum HopByHop {
    /// Whether `name` is hop-by-hop (ASCII case folding), by its length first: most headers are not.
    static func isListed(_ name: String) -> Bool {
        var name = name
        return name.withUTF8 { isListed(UnsafeRawBufferPointer($0)) }
    }

    /// The fixed ones: `Connection`, `Keep-Alive`, `Proxy-Connection`, `Proxy-Authenticate`,
    /// `Proxy-Authorization`, `TE`, `Trailer`, `Transfer-Encoding`, `Upgrade`; for a name as it arrived.
    static func isListed(_ name: UnsafeRawBufferPointer) -> Bool {
        switch name.count {
        case 2: return ASCIICase.bytes(name, equalLowercased: "te")
        case 7: return ASCIICase.bytes(name, equalLowercased: "upgrade") || ASCIICase.bytes(name, equalLowercased: "trailer")
        case 10: return ASCIICase.bytes(name, equalLowercased: "connection") || ASCIICase.bytes(name, equalLowercased: "keep-alive")
        case 16: return ASCIICase.bytes(name, equalLowercased: "proxy-connection")
        case 17: return ASCIICase.bytes(name, equalLowercased: "transfer-encoding")
        case 18: return ASCIICase.bytes(name, equalLowercased: "proxy-authenticate")
        case 19: return ASCIICase.bytes(name, equalLowercased: "proxy-authorization")
        default: return false
        }
    }

    /// Whether a request's headers go upstream as they are: none hop-by-hop (a `Connection` header would
    /// name more), no `Expect`.
    static func keepsAll(_ headers: HTTPHeaders) -> Bool {
        !headers.contains { isListed($0.name) || ($0.name.utf8.count == 6 && ASCIICase.equalIgnoringCase($0.name, "expect")) }
    }

    /// Compared with ASCII case folding, not by lower-cased copies: this runs for every header both ways.
    static func strip(_ headers: [(String, String)], dropLength: Bool = false) -> [(String, String)] {
        var extra: [String] = []
        for (n, v) in headers where ASCIICase.equalIgnoringCase(n, "connection") {
            for t in v.split(separator: ",") { extra.append(t.trimmingCharacters(in: .whitespaces)) }
        }
        return headers.filter { h in
            let n = h.0
            if isListed(n) { return false }
            if extra.contains(where: { ASCIICase.equalIgnoringCase($0, n) }) { return false }
            if dropLength && ASCIICase.equalIgnoringCase(n, "content-length") { return false }
            return true
        }
    }
}

import Foundation
