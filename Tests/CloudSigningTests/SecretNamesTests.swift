import CloudSigning
import Testing

@Suite struct SecretNamesTests {
    /// The one-pass body scan against the plain definition: normalize (lower-case, drop `_ - .`), then
    /// look for each fragment as a substring.
    @Test func theBodyScanAgreesWithPlainSubstringSearch() {
        let fragments = [
            "secret", "password", "passwd", "privatekey", "token", "apikey", "accesskey", "signature",
            "credential", "sessionkey", "authorization", "cookie", "authenticate",
        ]
        let pieces = [
            "Secret", "Pass_word", "SecurityGroupId", "sign", "Signa-ture", "to.ken", "tok", "\"", "{", ":", "AliUid", "se", "s",
            "Cookie", "access", "Key", "session", "x", "1234", "é", "PRIVATE", "_key", "credentia", "l",
        ]
        var rng = SystemRandomNumberGenerator()
        var positives = 0
        for _ in 0..<3000 {
            let text = (0..<Int.random(in: 0...12, using: &rng)).map { _ in pieces.randomElement(using: &rng)! }.joined()
            let normalized = String(text.lowercased().filter { $0 != "_" && $0 != "-" && $0 != "." })
            let expected = fragments.contains { normalized.contains($0) }
            #expect(SecretNames.mentionsSecretName(in: text) == expected, "\(text)")
            if expected { positives += 1 }
        }
        #expect(positives > 100, "the generator produces both kinds")
        #expect(SecretNames.mentionsSecretName(in: "{\"Name\":\"a\"}", orAnyOf: [Array("name".utf8)]))
        #expect(!SecretNames.mentionsSecretName(in: ""))
    }
}
