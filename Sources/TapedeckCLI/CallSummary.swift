import Cassette
import CloudSigning
import Matching

/// What `cassette ls` shows for a call: the action and the ids it names for RPC calls (query or form
/// body, signed or not), else the path; signature noise (nonces, timestamps, signatures) left out.
enum CallSummary {
    static func of(_ r: Exchange.Request) -> String {
        let s = RequestKey.signable(r)
        let params = s.query.pairs + s.form.pairs
        let action = params.first { $0.name == "Action" }?.1 ?? r.headerPairs.first { $0.0.lowercased() == "x-acs-action" }?.1
        guard let action else {
            let q = s.query.pairs.prefix(4).map { "\($0.0)=\($0.1)" }.joined(separator: "&")
            return s.rawPath + (q.isEmpty ? "" : "?" + q) + (s.query.pairs.count > 4 ? "&…" : "")
        }
        let named = params.filter {
            ($0.name.hasSuffix("Id") || $0.name.hasSuffix("Ids") || $0.name.contains("Id.") || $0.name.hasSuffix("Name"))
                && $0.name != "AccessKeyId" && $0.name != "RegionId"
        }
        return ([action] + named.prefix(6).map { "\($0.0)=\($0.1)" } + (named.count > 6 ? ["…"] : [])).joined(separator: " ")
    }
}
