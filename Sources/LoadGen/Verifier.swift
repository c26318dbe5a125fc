import Foundation
import NIOCore

/// Checks an answer against its expectation; returns the kind of mismatch and a short description.
enum Verifier {
    static func check(_ status: Int, _ body: ByteBuffer, _ e: Expectation) -> (kind: String, detail: String)? {
        switch e {
        case .exact(let s, let bytes):
            if status != s { return ("status", "expected \(s), got \(status)") }
            if !body.readableBytesView.elementsEqual(bytes) {
                return ("body", "recorded \(bytes.count) bytes, got \(body.readableBytes); first difference at byte \(firstDifference(body, bytes))")
            }
            return nil
        case .anyOf(let answers):
            if answers.contains(where: { $0.status == status && body.readableBytesView.elementsEqual($0.body) }) { return nil }
            return answers.contains(where: { $0.status == status }) ? ("body", "not one of the \(answers.count) recorded answers") : ("status", "got \(status)")
        case .error(let s, let code):
            if status != s { return ("status", "expected \(s) \(code), got \(status)") }
            let j = json(body)
            let got = (j?["Code"] as? String) ?? (j?["error_code"] as? String) ?? "∅"
            return got == code ? nil : ("error-code", "expected \(code), got \(got)")
        case .aliyunReferences(let expected):
            guard status == 200 else { return ("status", "expected 200, got \(status)") }
            guard let j = json(body),
                  let refs = (j["SecurityGroupReferences"] as? [String: Any])?["SecurityGroupReference"] as? [[String: Any]] else {
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
            if rules.contains(where: { $0["remote_group_id"] as? String != remote }) { return ("rules", "a rule does not reference \(remote)") }
            return nil
        }
    }

    private static func json(_ b: ByteBuffer) -> [String: Any]? {
        try? JSONSerialization.jsonObject(with: Data(b.readableBytesView)) as? [String: Any]
    }

    private static func firstDifference(_ b: ByteBuffer, _ bytes: [UInt8]) -> Int {
        var i = 0
        for (x, y) in zip(b.readableBytesView, bytes) { if x != y { return i }; i += 1 }
        return i
    }
}
