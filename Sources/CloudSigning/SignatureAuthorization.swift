/// The parts of an `Authorization: ALGORITHM Key=AK,SignedHeaders=a;b,Signature=hex` header, as ACS3
/// (`Credential=`) and Huawei (`Access=`) both send it.
public struct SignatureAuthorization: Sendable, Equatable {
    public var accessKeyId: String
    /// Lower-case names, in the order given.
    public var signedHeaders: [String]
    public var signature: String

    static func parse(_ value: String, algorithm: String, keyField: Substring) -> SignatureAuthorization? {
        guard value.hasPrefix(algorithm) else { return nil }
        var fields: [Substring: Substring] = [:]
        for part in value.dropFirst(algorithm.count).split(separator: ",") {
            let t = part.trimmingSpaces
            guard let eq = t.firstIndex(of: "=") else { continue }
            fields[t[..<eq]] = t[t.index(after: eq)...]
        }
        guard let ak = fields[keyField], let sh = fields["SignedHeaders"], let sig = fields["Signature"] else { return nil }
        return SignatureAuthorization(
            accessKeyId: String(ak), signedHeaders: sh.split(separator: ";").map { String($0).lowercased() },
            signature: String(sig))
    }
}
