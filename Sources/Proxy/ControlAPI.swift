import Foundation
import NIOCore
import NIOHTTP1
import TapedeckHTTP

/// `/__tapedeck/…`, JSON, loopback clients only: status, switch mode or cassette, flush, rewind. Lets a
/// test suite use one proxy with a cassette per test.
///
/// It answers its owner only. A web page the user opens can send requests to loopback, so: calls must come
/// from a loopback address and name a loopback `Host` (no DNS rebinding); a foreign `Origin` or a
/// `Sec-Fetch-Site` other than same-origin/none is refused; POSTs must say `Content-Type: application/json`,
/// which a page cannot send cross-site without a CORS preflight, and preflights are never approved. A request
/// relayed through the proxy to its own address is refused by the engine, so the loopback check cannot be
/// relayed around; cassette paths must be regular files, under `--cassette-dir` when it is set.
///
/// - `GET  /__tapedeck/status`
/// - `POST /__tapedeck/mode` `{"mode":"replay"}`
/// - `POST /__tapedeck/cassette` `{"path":"cassettes/x.jsonl.gz","mode":"auto"}`
/// - `POST /__tapedeck/flush` (fsync the cassette)
/// - `POST /__tapedeck/rewind` (replay from the first recording again)
struct ControlAPI: Sendable {
    static let prefix = "/__tapedeck/"
    /// Control calls are a few fields: a larger body is refused unread.
    static let maxBody = 64 * 1024
    let engine: ProxyEngine

    func handle(_ head: HTTPRequestHead, body: ByteBuffer?, remote: SocketAddress?, allocator: ByteBufferAllocator) -> ProxyResponse {
        guard ControlAPI.isLoopback(remote) else {
            return reply(.forbidden, ["error": "the control API answers loopback clients only"], allocator)
        }
        if let refusal = ControlAPI.crossSiteRefusal(head) { return reply(.forbidden, ["error": refusal], allocator) }
        // Exactly one, JSON: with two, which one a reader takes is anyone's guess.
        if head.method == .POST, head.headers["content-type"].count != 1 || !ControlAPI.isJSON(head.headers.first(name: "content-type")) {
            return reply(.unsupportedMediaType, ["error": "control calls take a JSON body: send Content-Type: application/json"], allocator)
        }
        let path = String(head.uri.dropFirst(ControlAPI.prefix.count).prefix { $0 != "?" })
        if let body, body.readableBytes > ControlAPI.maxBody {
            return reply(.payloadTooLarge, ["error": "a control call's JSON body is at most \(ControlAPI.maxBody) bytes"], allocator)
        }
        let json: [String: Any]
        if let body, body.readableBytes > 0 {
            guard let object = try? JSONSerialization.jsonObject(with: Data(body.readableBytesView)) as? [String: Any] else {
                return reply(.badRequest, ["error": "the body is not a JSON object, e.g. {\"mode\": \"replay\"}"], allocator)
            }
            json = object
        } else {
            json = [:]
        }
        // A misspelled field or mode is refused, not ignored: a suite that asked for record mode must not replay.
        let fields: Set<String> = path == "mode" ? ["mode"] : path == "cassette" ? ["path", "mode"] : []
        if head.method == .POST, let unknown = json.keys.sorted().first(where: { !fields.contains($0) }) {
            let known = fields.isEmpty ? "none" : fields.sorted().map { "\"\($0)\"" }.joined(separator: ", ")
            return reply(.badRequest, ["error": "unknown field \"\(unknown)\" for \(head.uri) (it takes \(known))"], allocator)
        }
        let modes = ProxyMode.allCases.map(\.rawValue).joined(separator: "|")
        switch (head.method, path) {
        case (.GET, "status"), (.HEAD, "status"):  // HEAD: the server sends the head alone
            return status(allocator)
        case (.POST, "mode"):
            guard let m = (json["mode"] as? String).flatMap(ProxyMode.init(rawValue:)) else {
                return reply(.badRequest, ["error": "expected {\"mode\": \"\(modes)\"}"], allocator)
            }
            engine.setMode(m)
            return status(allocator)
        case (.POST, "cassette"):
            guard let p = json["path"] as? String, !p.isEmpty else {
                return reply(.badRequest, ["error": "expected {\"path\": FILE}"], allocator)
            }
            guard !p.utf8.contains(0) else {
                return reply(.badRequest, ["error": "\"path\" contains a NUL byte, which no file name can; name a file"], allocator)
            }
            var mode: ProxyMode?
            if let given = json["mode"] {
                guard let m = (given as? String).flatMap(ProxyMode.init(rawValue:)) else {
                    return reply(.badRequest, ["error": "\"mode\" must be one of \(modes), got \(given)"], allocator)
                }
                mode = m
            }
            var file = p
            if let dir = engine.configuration.cassetteDirectory {
                // A relative name is a file in --cassette-dir, not in the proxy's working directory.
                if !p.hasPrefix("/") { file = (dir.hasSuffix("/") ? dir : dir + "/") + p }
                guard ControlAPI.isInside(file, dir) else {
                    return reply(.forbidden, ["error": "\(p) is outside --cassette-dir \(dir); name a file under it (a relative name is taken inside it)"], allocator)
                }
            }
            do { try engine.switchCassette(path: file, mode: mode) } catch {
                return reply(.badRequest, ["error": "\(error)"], allocator)
            }
            return status(allocator)
        case (.POST, "flush"):
            engine.flush()
            return status(allocator)
        case (.POST, "rewind"):
            engine.session.replay.rewind()
            return status(allocator)
        case (_, "status"), (_, "mode"), (_, "cassette"), (_, "flush"), (_, "rewind"):
            let allowed = path == "status" ? "GET, HEAD" : "POST"
            var r = reply(.methodNotAllowed, ["error": "\(head.method) \(head.uri): this control call takes \(allowed)"], allocator)
            r.headers.append(("Allow", allowed))
            return r
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

    /// Why a request looks like it came from a web page on another site (nil when it does not).
    static func crossSiteRefusal(_ head: HTTPRequestHead) -> String? {
        if let site = head.headers["sec-fetch-site"].map({ $0.lowercased() }).first(where: { $0 != "same-origin" && $0 != "none" }) {
            return "the control API does not answer cross-site browser requests (Sec-Fetch-Site: \(site))"
        }
        if let origin = head.headers["origin"].first(where: { !BrowserRequest.isLoopbackHost(BrowserRequest.authority(ofOrigin: $0)) }) {
            return "the control API does not answer requests from web pages (Origin: \(origin))"
        }
        if let host = head.headers["host"].first(where: { !BrowserRequest.isLoopbackHost($0) }) {
            return "the control API answers only requests addressed to a loopback host (Host: \(host))"
        }
        return nil
    }

    /// `application/json`, with parameters (`; charset=utf-8`) or without; not `application/jsonx`.
    static func isJSON(_ contentType: String?) -> Bool {
        guard let contentType else { return false }
        let type = contentType.prefix { $0 != ";" }.trimmingCharacters(in: .whitespaces)
        return type.caseInsensitiveCompare("application/json") == .orderedSame
    }

    /// Whether `path`, resolved (symlinks included, the file's own name too), lies under `directory`. A file name
    /// that is a symlink counts where it leads (a dangling one nowhere: recording would create its target).
    static func isInside(_ path: String, _ directory: String) -> Bool {
        var path = path
        var st = stat()
        if lstat(path, &st) == 0, st.st_mode & S_IFMT == S_IFLNK {
            guard let resolved = realpath(path, nil) else { return false }
            defer { free(resolved) }
            path = String(cString: resolved)
        }
        let dir = URL(fileURLWithPath: directory).resolvingSymlinksInPath().standardizedFileURL.path
        let parent = URL(fileURLWithPath: path).deletingLastPathComponent().resolvingSymlinksInPath().standardizedFileURL.path
        let file = URL(fileURLWithPath: path).lastPathComponent
        return (parent == dir || parent.hasPrefix(dir.hasSuffix("/") ? dir : dir + "/")) && file != ".." && file != "."
    }

    static func isLoopback(_ a: SocketAddress?) -> Bool {
        guard let ip = a?.ipAddress else { return false }
        return ip.hasPrefix("127.") || ip == "::1" || ip.hasPrefix("::ffff:127.")
    }
}
