import Foundation
import NIOCore

/// Checks an answer against its expectation; returns the kind of mismatch and a short description.
enum Verifier {
    static func check(_ status: Int, _ body: ByteBuffer, _ e: Expectation) -> (kind: String, detail: String)? {
        switch e {
        case .exact(let s, let bytes):
            if status != s { return ("status", "expected \(s), got \(status)") }
            if body.readableBytesView.elementsEqual(bytes) { return nil }
            // A live target answers with its own request ids: compare what the cloud keeps stable.
            if let field = stableDifference(body, bytes) {
                return ("body", "differs from the recording in \(field) (request ids are not compared)")
            }
            return nil
        case .anyOf(let answers):
            if answers.contains(where: {
                $0.status == status && (body.readableBytesView.elementsEqual($0.body) || stableDifference(body, $0.body) == nil)
            }) {
                return nil
            }
            return answers.contains(where: { $0.status == status })
                ? ("body", "not one of the \(answers.count) recorded answers") : ("status", "got \(status)")
        case .error(let s, let code):
            if status != s { return ("status", "expected \(s) \(code), got \(status)") }
            let j = json(body)
            let got = (j?["Code"] as? String) ?? (j?["error_code"] as? String) ?? "∅"
            return got == code ? nil : ("error-code", "expected \(code), got \(got)")
        case .aliyunReferences(let expected):
            guard status == 200 else { return ("status", "expected 200, got \(status)") }
            guard let j = json(body),
                let refs = (j["SecurityGroupReferences"] as? [String: Any])?["SecurityGroupReference"] as? [[String: Any]]
            else {
                return ("shape", "no SecurityGroupReferences.SecurityGroupReference list")
            }
            var got: [String: Set<String>] = [:]
            for r in refs {
                let id = r["SecurityGroupId"] as? String ?? ""
                let list = ((r["ReferencingSecurityGroups"] as? [String: Any])?["ReferencingSecurityGroup"] as? [[String: Any]]) ?? []
                got[id, default: []].formUnion(list.compactMap { $0["SecurityGroupId"] as? String })
            }
            if got != expected {
                let id = expected.keys.sorted().first { got[$0] != expected[$0] } ?? "?"
                return ("references", "\(id): expected \(expected[id]?.count ?? 0) referencing groups, got \(got[id]?.count ?? 0)")
            }
            return nil
        case .huaweiGroup(let id):
            guard status == 200 else { return ("status", "expected 200, got \(status)") }
            let got = (json(body)?["security_group"] as? [String: Any])?["id"] as? String
            return got == id ? nil : ("group", "expected security_group.id \(id), got \(got ?? "∅")")
        case .huaweiRules(let remote, let count):
            guard status == 200 else { return ("status", "expected 200, got \(status)") }
            let rules = (json(body)?["security_group_rules"] as? [[String: Any]]) ?? []
            if rules.count != count { return ("rules", "remote_group_id \(remote): expected \(count) rules, got \(rules.count)") }
            if rules.contains(where: { $0["remote_group_id"] as? String != remote }) {
                return ("rules", "a rule does not reference \(remote)")
            }
            return nil
        }
    }

    /// Fields that differ on every call by design: request ids (both clouds), the host id of error answers and
    /// Alibaba's `Recommend`, a diagnosis link that carries the request id.
    static let volatileFields: Set<String> = ["RequestId", "request_id", "HostId", "requestId", "Recommend"]

    /// Where `body` and `recorded` differ once volatile fields are left out (a JSON path, an XML element,
    /// or "bytes"); nil when they agree.
    static func stableDifference(_ body: ByteBuffer, _ recorded: [UInt8]) -> String? {
        let live = Array(body.readableBytesView)
        if let a = try? JSONSerialization.jsonObject(with: Data(live), options: [.fragmentsAllowed]),
            let b = try? JSONSerialization.jsonObject(with: Data(recorded), options: [.fragmentsAllowed])
        {
            return jsonDifference(a, b, path: "")
        }
        if live.first == UInt8(ascii: "<") || recorded.first == UInt8(ascii: "<") {
            let a = stripXML(String(decoding: live, as: UTF8.self)), b = stripXML(String(decoding: recorded, as: UTF8.self))
            if a == b { return nil }
            let common = zip(a, b).prefix { $0 == $1 }.count
            let before = a.prefix(common)
            let element = before.range(of: "<", options: .backwards).map { String(before[$0.lowerBound...].prefix(40)) } ?? "the document"
            return "XML near \(element)"
        }
        return "bytes (first difference at byte \(zip(live, recorded).prefix { $0 == $1 }.count))"
    }

    private static func jsonDifference(_ a: Any, _ b: Any, path: String) -> String? {
        if let x = a as? [String: Any], let y = b as? [String: Any] {
            for key in Set(x.keys).union(y.keys).sorted() where !volatileFields.contains(key) {
                let here = path.isEmpty ? key : path + "." + key
                guard let xa = x[key], let yb = y[key] else { return here }
                if let d = jsonDifference(xa, yb, path: here) { return d }
            }
            return nil
        }
        if let x = a as? [Any], let y = b as? [Any] {
            guard x.count == y.count else { return "\(path.isEmpty ? "the list" : path) (\(x.count) items vs \(y.count) recorded)" }
            for (i, (xa, yb)) in zip(x, y).enumerated() {
                if let d = jsonDifference(xa, yb, path: "\(path)[\(i)]") { return d }
            }
            return nil
        }
        return (a as? NSObject) == (b as? NSObject) ? nil : (path.isEmpty ? "the value" : path)
    }

    private static func stripXML(_ s: String) -> String {
        var out = s
        for name in volatileFields {
            while let open = out.range(of: "<\(name)>"), let close = out.range(of: "</\(name)>", range: open.upperBound..<out.endIndex) {
                out.removeSubrange(open.lowerBound..<close.upperBound)
            }
        }
        return out
    }

    private static func json(_ b: ByteBuffer) -> [String: Any]? {
        try? JSONSerialization.jsonObject(with: Data(b.readableBytesView)) as? [String: Any]
    }

}
