import Foundation
import NIOCore
import NIOHTTP1

/// `/__tapedeck/…`, JSON, loopback clients only: status, switch mode or cassette, flush, rewind. Lets a
/// test suite use one proxy with a cassette per test.
///
/// - `GET  /__tapedeck/status`
/// - `POST /__tapedeck/mode` `{"mode":"replay"}`
/// - `POST /__tapedeck/cassette` `{"path":"cassettes/x.jsonl.gz","mode":"auto"}`
/// - `POST /__tapedeck/flush` (fsync the cassette)
/// - `POST /__tapedeck/rewind` (replay from the first recording again)
struct ControlAPI: Sendable {
    static let prefix = "/__tapedeck/"
    let engine: ProxyEngine

    func handle(_ head: HTTPRequestHead, body: ByteBuffer?, remote: SocketAddress?, allocator: ByteBufferAllocator) -> ProxyResponse {
        guard ControlAPI.isLoopback(remote) else {
            return reply(.forbidden, ["error": "the control API answers loopback clients only"], allocator)
        }
        let path = String(head.uri.dropFirst(ControlAPI.prefix.count).prefix { $0 != "?" })
        let json = body.flatMap { try? JSONSerialization.jsonObject(with: Data($0.readableBytesView)) as? [String: Any] } ?? [:]
        switch (head.method, path) {
        case (.GET, "status"):
            return status(allocator)
        case (.POST, "mode"):
            guard let m = (json["mode"] as? String).flatMap(ProxyMode.init(rawValue:)) else {
                return reply(.badRequest, ["error": "expected {\"mode\": \"record|replay|auto|passthrough\"}"], allocator)
            }
            engine.setMode(m)
            return status(allocator)
        case (.POST, "cassette"):
            guard let p = json["path"] as? String, !p.isEmpty else { return reply(.badRequest, ["error": "expected {\"path\": FILE}"], allocator) }
            let mode = (json["mode"] as? String).flatMap(ProxyMode.init(rawValue:))
            do { try engine.switchCassette(path: p, mode: mode) } catch {
                return reply(.badRequest, ["error": "\(error)"], allocator)
            }
            return status(allocator)
        case (.POST, "flush"):
            engine.flush()
            return status(allocator)
        case (.POST, "rewind"):
            engine.session.replay.rewind()
            return status(allocator)
        default:
            return reply(.notFound, ["error": "unknown control call \(head.method) \(head.uri); see GET /__tapedeck/status"], allocator)
        }
    }

    private func status(_ allocator: ByteBufferAllocator) -> ProxyResponse {
        let e = JSONEncoder()
        e.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        var body = allocator.buffer(capacity: 256)
        body.writeBytes(Array((try? e.encode(engine.status)) ?? Data()))
        return ProxyResponse(status: .ok, headers: [("Content-Type", "application/json")], body: body)
    }

    private func reply(_ status: HTTPResponseStatus, _ obj: [String: String], _ allocator: ByteBufferAllocator) -> ProxyResponse {
        var body = allocator.buffer(capacity: 128)
        body.writeBytes(Array((try? JSONSerialization.data(withJSONObject: obj, options: [.sortedKeys])) ?? Data()))
        return ProxyResponse(status: status, headers: [("Content-Type", "application/json")], body: body)
    }

    static func isLoopback(_ a: SocketAddress?) -> Bool {
        guard let ip = a?.ipAddress else { return false }
        return ip.hasPrefix("127.") || ip == "::1" || ip.hasPrefix("::ffff:127.")
    }
}
