import CloudModel
import CloudSigning
import NIOCore
import NIOHTTP1
import TapedeckHTTP

/// The Alibaba Cloud ECS RPC front end (API version 2014-05-26): parameters from the query string and/or a
/// form body, the action from `Action=` or `x-acs-action`, JSON (default) or XML.
public struct AliyunAPI: Sendable {
    public static let version = "2014-05-26"
    public let store: SecurityGroupStore
    public let clock: SimulatorClock

    /// `ClientToken` → the group a create call with that token made: the same token returns the same group.
    let clientTokens = ClientTokens()
    let referenceTemplateJSON: ReferenceTemplate
    let referenceTemplateXML: ReferenceTemplate

    public init(store: SecurityGroupStore, clock: SimulatorClock) {
        self.store = store
        self.clock = clock
        referenceTemplateJSON = ReferenceTemplate.make(owner: store.ownerID, format: .json)
        referenceTemplateXML = ReferenceTemplate.make(owner: store.ownerID, format: .xml)
    }

    /// Per-call context handed to each action.
    struct Call {
        var params: QueryParameters
        var writer: DocumentWriter
        let requestID: String
        let action: String
    }

    /// Whether a request is shaped like an ECS RPC call.
    static func claims(_ req: APIRequest) -> Bool {
        req.rawPath == "/" || req.rawPath.isEmpty || req.query["Action"] != nil || req.headers.contains(name: "x-acs-action")
    }

    public func handle(
        _ req: APIRequest, form: QueryParameters, snapshot: inout GraphSnapshot, allocator: ByteBufferAllocator
    ) -> APIResponse {
        var params = req.query
        params.append(contentsOf: form)
        let format: DocumentWriter.Format = params["Format"]?.lowercased() == "xml" ? .xml : .json
        let requestID = clock.aliyunRequestID()
        let action = params["Action"] ?? req.headers.first(name: "x-acs-action") ?? ""
        var call = Call(
            params: params, writer: DocumentWriter(format: format, buffer: allocator.buffer(capacity: 1024)),
            requestID: requestID, action: action)
        do {
            if let v = params["Version"] ?? req.headers.first(name: "x-acs-version"), v != AliyunAPI.version {
                throw AliyunError.badVersion
            }
            guard req.method == .GET || req.method == .POST else {
                throw AliyunError(.forbidden, "UnsupportedHTTPMethod", "This http method not supported.")
            }
            guard !action.isEmpty else { throw AliyunError.missing("Action") }
            call.writer.openRoot(action + "Response")
            call.writer.string("RequestId", requestID)
            switch action {
            case "DescribeSecurityGroupReferences": try describeReferences(&call, snapshot: &snapshot)
            case "CreateSecurityGroup": try createGroup(&call)
            case "DeleteSecurityGroup": try deleteGroup(&call)
            case "DescribeSecurityGroups": try describeGroups(&call, snapshot: &snapshot)
            case "DescribeSecurityGroupAttribute": try describeAttribute(&call, snapshot: &snapshot)
            case "ModifySecurityGroupAttribute": try modifyAttribute(&call)
            case "AuthorizeSecurityGroup": try changeRule(&call, egress: false, add: true)
            case "AuthorizeSecurityGroupEgress": try changeRule(&call, egress: true, add: true)
            case "RevokeSecurityGroup": try changeRule(&call, egress: false, add: false)
            case "RevokeSecurityGroupEgress": try changeRule(&call, egress: true, add: false)
            default: throw AliyunError.actionNotFound
            }
            call.writer.closeRoot(action + "Response")
            return APIResponse(
                status: .ok, contentType: AliyunAPI.contentType(format), body: call.writer.finish(), requestID: requestID,
                requestIDHeader: "x-acs-request-id")
        } catch let e as AliyunError {
            return errorResponse(e, format: format, requestID: requestID, region: params["RegionId"], allocator: allocator)
        } catch {
            return errorResponse(
                AliyunError(.badRequest, "InvalidParameter", "\(error)"), format: format, requestID: requestID,
                region: params["RegionId"], allocator: allocator)
        }
    }

    static func contentType(_ f: DocumentWriter.Format) -> String {
        f == .json ? "application/json;charset=utf-8" : "text/xml;charset=utf-8"
    }

    /// The answer format a request asked for, read from its raw target when its parameters cannot be decoded
    /// (bad escapes, too long): a `Format=XML` parameter in any case, else JSON.
    public static func rawFormat(_ uri: String) -> DocumentWriter.Format {
        RequestTarget.rawParameter("Format", in: uri)?.lowercased() == "xml" ? .xml : .json
    }

    /// `{"RequestId","HostId","Code","Message","Recommend"}` (or `<Error>…</Error>`).
    public func errorResponse(
        _ e: AliyunError, format: DocumentWriter.Format, requestID: String? = nil, region: String? = nil,
        allocator: ByteBufferAllocator
    ) -> APIResponse {
        let rid = requestID ?? clock.aliyunRequestID()
        let host =
            region.map { SyntheticDataSet.aliyunRegions.contains($0) ? "ecs.\($0).aliyuncs.com" : "ecs.aliyuncs.com" } ?? "ecs.aliyuncs.com"
        let doc = CloudErrorDocument.render(
            .aliyun(xml: format == .xml), code: e.code, message: e.message, requestID: rid, hostID: host,
            recommend: "https://api.aliyun.com/troubleshoot?q=\(e.code)&product=Ecs&requestId=\(rid)",
            allocator: allocator)
        var response = APIResponse(
            status: e.status, contentType: doc.contentType, body: doc.body, requestID: rid, requestIDHeader: doc.requestIDHeader.0)
        response.outsideSurface = e.code == AliyunError.actionNotFound.code
        return response
    }

    // MARK: shared parameter handling

    /// The region partition named by `RegionId` (mandatory).
    func region(_ call: Call, in snap: GraphSnapshot) throws(AliyunError) -> UInt16 {
        guard let r = call.params["RegionId"], !r.isEmpty else { throw AliyunError.missing("RegionId") }
        guard let p = snap.partitionIndex(r) else { throw AliyunError.regionNotFound }
        return p
    }

    /// A live group in `region` named by parameter `name`.
    func group(
        _ call: Call, _ name: String, region: UInt16, in snap: GraphSnapshot,
        notFound: AliyunError = .groupNotFound
    ) throws(AliyunError) -> UInt32 {
        guard let id = call.params[name], !id.isEmpty else { throw AliyunError.missing(name) }
        guard let h = store.resolve(id, in: snap), snap.partition(of: h) == region else { throw notFound }
        return h
    }
}
