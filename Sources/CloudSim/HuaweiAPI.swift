import CloudModel
import CloudSigning
import Foundation
import NIOCore
import NIOHTTP1
import TapedeckHTTP

/// The Huawei Cloud VPC v3 front end: security groups and security-group rules under
/// `/v3/{project_id}/vpc/…`, JSON only, errors as `{"error_msg","error_code","request_id"}`.
public struct HuaweiAPI: Sendable {
    public let store: SecurityGroupStore
    public let clock: SimulatorClock
    static let contentType = "application/json;charset=UTF-8"

    public init(store: SecurityGroupStore, clock: SimulatorClock) {
        self.store = store
        self.clock = clock
    }

    struct Call {
        let project: String
        let query: QueryParameters
        let body: ByteBuffer?
        var writer: DocumentWriter
        let requestID: String
    }

    static func claims(_ req: APIRequest) -> Bool { req.rawPath.hasPrefix("/v3/") || req.headers.contains(name: "x-sdk-date") }

    public func handle(_ req: APIRequest, snapshot: inout GraphSnapshot, allocator: ByteBufferAllocator) -> APIResponse {
        let requestID = clock.huaweiRequestID()
        // /v3/{project}/vpc/{collection}[/{id}]
        let parts = req.rawPath.split(separator: "/", omittingEmptySubsequences: false)
        var call = Call(
            project: "", query: req.query, body: req.body,
            writer: DocumentWriter(format: .json, buffer: allocator.buffer(capacity: 1024)), requestID: requestID)
        do {
            guard parts.count >= 5, parts.count <= 6, parts[0].isEmpty, parts[1] == "v3", parts[3] == "vpc", !parts[2].isEmpty,
                let project = PercentEncoding.decode(parts[2].utf8, plusAsSpace: false)
            else { throw HuaweiError.apiNotFound }
            call = Call(project: project, query: req.query, body: req.body, writer: call.writer, requestID: requestID)
            let id = parts.count == 6 ? PercentEncoding.decode(parts[5].utf8, plusAsSpace: false) : nil
            if parts.count == 6 && (id == nil || id!.isEmpty) { throw HuaweiError.apiNotFound }
            var status = HTTPResponseStatus.ok
            call.writer.openRoot("")
            // HEAD is answered as GET (the HTTP layer sends the headers alone).
            switch (parts[4], req.method == .HEAD ? .GET : req.method, id) {
            case ("security-groups", .GET, let id?): try showGroup(&call, id: id, snapshot: &snapshot)
            case ("security-groups", .GET, nil): try listGroups(&call, snapshot: &snapshot)
            case ("security-groups", .POST, nil): try createGroup(&call); status = .created
            case ("security-groups", .DELETE, let id?): try deleteGroup(&call, id: id); status = .noContent
            case ("security-groups", .PUT, let id?): try updateGroup(&call, id: id)
            case ("security-group-rules", .GET, let id?): try showRule(&call, id: id, snapshot: &snapshot)
            case ("security-group-rules", .GET, nil): try listRules(&call, snapshot: &snapshot)
            case ("security-group-rules", .POST, nil): try createRule(&call); status = .created
            case ("security-group-rules", .DELETE, let id?): try deleteRule(&call, id: id); status = .noContent
            default: throw HuaweiError.apiNotFound
            }
            call.writer.string("request_id", requestID)
            call.writer.closeRoot("")
            var body = call.writer.finish()
            if status == .noContent { body.clear() }
            return APIResponse(
                status: status, contentType: HuaweiAPI.contentType, body: body, requestID: requestID, requestIDHeader: "X-Request-Id")
        } catch let e as HuaweiError {
            return errorResponse(e, requestID: requestID, allocator: allocator)
        } catch {
            return errorResponse(.invalid("\(error)"), requestID: requestID, allocator: allocator)
        }
    }

    public func errorResponse(_ e: HuaweiError, requestID: String? = nil, allocator: ByteBufferAllocator) -> APIResponse {
        let rid = requestID ?? clock.huaweiRequestID()
        let doc = CloudErrorDocument.render(.huawei, code: e.code, message: e.message, requestID: rid, allocator: allocator)
        var response = APIResponse(
            status: e.status, contentType: doc.contentType, body: doc.body, requestID: rid, requestIDHeader: doc.requestIDHeader.0)
        response.outsideSurface = e.code == HuaweiError.apiNotFound.code
        return response
    }

    // MARK: helpers

    /// A live group of `project`; 404 otherwise.
    func group(_ id: String, project: String, in snap: GraphSnapshot) throws(HuaweiError) -> UInt32 {
        guard let p = snap.partitionIndex(project), let h = store.resolve(id, in: snap), snap.partition(of: h) == p else {
            throw HuaweiError.groupNotFound(id)
        }
        return h
    }

    /// The JSON object under `key` in the request body.
    /// The body's `{"KEY": {...}, "dry_run": …}`: the object under `key` and whether only a check is asked.
    func bodyObject(_ call: Call, _ key: String) throws(HuaweiError) -> (object: [String: Any], dryRun: Bool) {
        guard let body = call.body, body.readableBytes > 0 else {
            throw HuaweiError.invalid("The request body is empty; expected {\"\(key)\": {...}}.")
        }
        guard let json = try? JSONSerialization.jsonObject(with: Data(body.readableBytesView)) as? [String: Any] else {
            throw HuaweiError.invalid("The request body is not valid JSON.")
        }
        guard let obj = json[key] as? [String: Any] else { throw HuaweiError.invalid("The request body must hold the object \"\(key)\".") }
        guard let dryRun = json["dry_run"], !(dryRun is NSNull) else { return (obj, false) }
        // A boolean only: `"true"` or `1` asked for a check must not create the group (nor `1` pass for true).
        guard let n = dryRun as? NSNumber, String(cString: n.objCType) == "c" else {
            let shown = (try? JSONSerialization.data(withJSONObject: dryRun, options: [.fragmentsAllowed])).map { String(decoding: $0, as: UTF8.self) } ?? "\(dryRun)"
            throw HuaweiError.invalid("Invalid value for dry_run: \(shown); it must be a boolean (true or false).")
        }
        return (obj, n.boolValue)
    }

    static func string(_ obj: [String: Any], _ key: String) throws(HuaweiError) -> String? {
        switch obj[key] {
        case nil, is NSNull: return nil
        case let s as String: return s
        default: throw HuaweiError.invalid("The parameter \(key) must be a string.")
        }
    }

    func writeRule(_ w: inout DocumentWriter, _ r: RuleRecord, group: UInt32, project: String, snap: GraphSnapshot, item: Bool) {
        if item { w.openItem("") } else { w.openObject("security_group_rule") }
        w.string("id", store.ruleID(group: group, serial: r.serial))
        w.string("project_id", project)
        w.string("security_group_id", store.id(of: group, in: snap))
        var remoteGroup: String? = nil, prefix: String? = nil, addressGroup: String? = nil
        switch r.peer {
        case .group(let t): remoteGroup = store.id(of: t, in: snap)
        case .cidr(let c): prefix = c
        case .addressGroup(let a): addressGroup = a
        case .any: break
        }
        w.optionalString("remote_group_id", remoteGroup)
        w.string("direction", r.direction == .ingress ? "ingress" : "egress")
        w.string("description", r.description)
        let t = SimulatorClock.iso8601(r.createdAt)
        w.string("created_at", t)
        w.string("updated_at", t)
        w.string("ethertype", r.etherType == .ipv4 ? "IPv4" : "IPv6")
        w.string("action", r.policy == .accept ? "allow" : "deny")
        w.int("priority", r.priority)
        w.optionalString("protocol", r.ipProtocol.isEmpty ? nil : r.ipProtocol)
        w.optionalString("multiport", r.portFrom < 0 ? nil : r.portFrom == r.portTo ? "\(r.portFrom)" : "\(r.portFrom)-\(r.portTo)")
        w.optionalString("remote_ip_prefix", prefix)
        w.optionalString("remote_address_group_id", addressGroup)
        w.bool("enabled", true)
        if item { w.closeItem("") } else { w.closeObject("security_group_rule") }
    }

    /// SecurityGroupInfo, with rules for show/create and without for list items.
    func writeGroup(_ w: inout DocumentWriter, _ g: GroupRecord, project: String, snap: GraphSnapshot, rules: Bool, item: Bool) {
        if item { w.openItem("") } else { w.openObject("security_group") }
        w.string("id", store.id(of: g.handle, in: snap))
        w.string("name", g.name)
        w.string("project_id", project)
        w.string("description", g.description)
        w.string("enterprise_project_id", "0")
        w.openList("tags")
        for t in g.tags {
            w.openItem("")
            w.string("key", t.key)
            w.string("value", t.value)
            w.closeItem("")
        }
        w.closeList("tags")
        if rules {
            w.openList("security_group_rules")
            for r in g.rules { writeRule(&w, r, group: g.handle, project: project, snap: snap, item: true) }
            w.closeList("security_group_rules")
        }
        w.string("created_at", SimulatorClock.iso8601(g.createdAt))
        w.string("updated_at", SimulatorClock.iso8601(g.updatedAt))
        if item { w.closeItem("") } else { w.closeObject("security_group") }
    }

    static func limit(_ q: QueryParameters) throws(HuaweiError) -> Int {
        guard let raw = q["limit"], !raw.isEmpty else { return 2000 }
        guard let v = Int(raw), (0...2000).contains(v) else {
            throw HuaweiError.invalid("The parameter limit must be an integer from 0 to 2000.")
        }
        return v == 0 ? 2000 : v
    }

    static func writePageInfo(_ w: inout DocumentWriter, first: String?, last: String?, count: Int, more: Bool) {
        w.openObject("page_info")
        if let first { w.string("previous_marker", first) }
        w.int("current_count", count)
        if more, let last { w.string("next_marker", last) }
        w.closeObject("page_info")
    }
}
