import CloudSigning
import Foundation
import Testing

/// The byte-level canonical query (one buffer, sorted as ranges) against the plain definition: encode
/// each name and value as Strings, sort by name then value then position, join.
@Suite struct CanonicalQueryTests {
    static func plain(_ q: QueryParameters, excluding excluded: Set<String>, sortValues: Bool, redacting: Bool) -> String {
        let encoded = q.pairs.enumerated().filter { !excluded.contains($0.element.name) }.map { i, p in
            (
                Array(PercentEncoding.encode(p.name).utf8),
                Array((redacting && SecretNames.isSecret(p.name) ? "REDACTED" : PercentEncoding.encode(p.value)).utf8), i
            )
        }
        let sorted = encoded.sorted { a, b in
            if a.0 != b.0 { return a.0.lexicographicallyPrecedes(b.0) }
            if sortValues && a.1 != b.1 { return a.1.lexicographicallyPrecedes(b.1) }
            return a.2 < b.2
        }
        return sorted.map { String(decoding: $0.0, as: UTF8.self) + "=" + String(decoding: $0.1, as: UTF8.self) }.joined(separator: "&")
    }

    @Test func agreesWithThePlainDefinition() {
        let names = [
            "Action", "RegionId", "SecurityGroupId.1", "SecurityGroupId.10", "SecurityGroupId.2", "a", "A", "a b", "ü", "Signature",
            "AccessKeySecret", "x~y", "", "z/",
        ]
        let values = ["", "1", "10", "2", "sg-bp1abc", "a b", "ä+%", "🙂", "REDACTED", "~-._", "a&b=c"]
        var rng = SystemRandomNumberGenerator()
        for round in 0..<2000 {
            let q = QueryParameters(
                (0..<Int.random(in: 0...9, using: &rng)).map { _ in (names.randomElement(using: &rng)!, values.randomElement(using: &rng)!)
                })
            let excluded: Set<String> = round % 3 == 0 ? ["Signature", "a"] : []
            let sortValues = round % 2 == 0, redacting = round % 5 != 0
            #expect(
                q.canonicalString(excluding: excluded, sortValues: sortValues, redactingSecrets: redacting)
                    == Self.plain(q, excluding: excluded, sortValues: sortValues, redacting: redacting), "\(q.pairs)")
        }
    }

    @Test func aKnownQuery() {
        let q = QueryParameters([("b", "2"), ("a", "x y"), ("Signature", "abc"), ("a", "1"), ("AccessKeySecret", "s3cr3t")])
        #expect(q.canonicalString(excluding: ["Signature"], redactingSecrets: true) == "AccessKeySecret=REDACTED&a=1&a=x%20y&b=2")
        #expect(q.canonicalString(sortValues: false) == "AccessKeySecret=s3cr3t&Signature=abc&a=x%20y&a=1&b=2")
        #expect(QueryParameters().canonicalString() == "")
    }

    @Test func decodingValidatesUTF8() throws {
        #expect(try QueryParameters.parse("a=%C3%A4&b=%F0%9F%99%82&c=plain+text")["a"] == "ä")
        #expect(try QueryParameters.parse("b=%F0%9F%99%82")["b"] == "🙂")
        #expect(try QueryParameters.parse("c=plain+text")["c"] == "plain text")
        #expect(throws: QueryParameters.MalformedError.self) { try QueryParameters.parse("a=%FF") }
        #expect(throws: QueryParameters.MalformedError.self) { try QueryParameters.parse("a=%C3") }
        // Raw (unescaped) bytes: valid UTF-8 passes, a lone continuation byte does not, at any position.
        #expect(PercentEncoding.decode(Array("abcdefghé".utf8)) == "abcdefghé")
        for n in 0..<17 {
            var bytes = Array(repeating: UInt8(ascii: "a"), count: n)
            #expect(PercentEncoding.decode(bytes) == String(repeating: "a", count: n))
            bytes.append(0x80)
            #expect(PercentEncoding.decode(bytes) == nil, "lone continuation byte after \(n) ASCII bytes")
        }
    }

    @Test func asciiCaseFolding() {
        #expect(ASCIICase.equalIgnoringCase("Content-Type", "content-type"))
        #expect(!ASCIICase.equalIgnoringCase("Content-Type", "content-typ"))
        #expect(!ASCIICase.equalIgnoringCase("a[", "A{"))  // only letters fold
        #expect(!ASCIICase.equalIgnoringCase("é", "É"))
        #expect(ASCIICase.hasPrefixIgnoringCase("Application/X-WWW-Form-Urlencoded; charset=utf-8", "application/x-www-form-urlencoded"))
        #expect(!ASCIICase.hasPrefixIgnoringCase("app", "application"))
        #expect(ASCIICase.lowercased("ECS.AliyunCS.com:8080") == "ecs.aliyuncs.com:8080")
        #expect(ASCIICase.lowercased("ÉCS") == "Écs")
    }
}
