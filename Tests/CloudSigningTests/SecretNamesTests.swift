import CloudSigning
import Testing

@Suite struct SecretNamesTests {
    /// The one-pass body scan against the plain definition: normalize (lower-case, drop `_ - .`), then
    /// look for each fragment as a substring.
    @Test func theBodyScanAgreesWithPlainSubstringSearch() {
        let fragments = [
            "secret", "password", "passwd", "passphrase", "privatekey", "token", "apikey", "accesskey", "signature",
            "credential", "sessionkey", "authorization", "authentication", "cookie", "authenticate",
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
            // (The scan also stops at the exact names, `pwd`, `pass`, `sig`…, wherever they appear: a body that holds
            // one is parsed.)
            let gate = ["pwd", "pass", "sig", "xauthkey", "subscriptionkey", "ocpapimsubscriptionkey"]
            let expected = fragments.contains { normalized.contains($0) } || gate.contains { normalized.contains($0) }
            #expect(SecretNames.mentionsSecretName(in: text) == expected, "\(text)")
            if expected { positives += 1 }
        }
        #expect(positives > 100, "the generator produces both kinds")
        #expect(SecretNames.mentionsSecretName(in: "{\"Name\":\"a\"}", orAnyOf: [Array("name".utf8)]))
        #expect(!SecretNames.mentionsSecretName(in: ""))
    }

    /// `isSecret` (String, Substring, and names over the 64-byte stack buffer) against the plain definition.
    @Test func nameChecksAgreeWithThePlainDefinition() {
        let fragments = [
            "secret", "password", "passwd", "passphrase", "privatekey", "token", "apikey", "accesskey", "signature",
            "credential", "sessionkey", "authorization", "authentication", "cookie", "authenticate",
        ]
        let harmless = [
            "nexttoken", "clienttoken", "pagetoken", "continuationtoken", "paginationtoken", "tokentype", "signaturemethod",
            "signatureversion", "signaturenonce", "signaturetype", "expiresin", "tokenexpir", "prompttokens", "completiontokens", "totaltokens", "maxtokens", "inputtokens", "outputtokens", "length", "ttl", "passwordage", "reuseprevention", "policy", "tokencount",
        ]
        let pieces = [
            "Access", "Key", "_Secret", "Id", "Next", "Token", "Signature", "Nonce", "Region", "x-", ".", "Pass", "word", "Group",
            String(repeating: "a", count: 30),
        ]
        var rng = SystemRandomNumberGenerator()
        var positives = 0
        for _ in 0..<3000 {
            let name = (0..<Int.random(in: 1...5, using: &rng)).map { _ in pieces.randomElement(using: &rng)! }.joined()
            let normalized = String(name.lowercased().filter { $0 != "_" && $0 != "-" && $0 != "." })
            let exact = ["pwd", "pass", "sig", "xauthkey", "subscriptionkey", "ocpapimsubscriptionkey"]
            let expected = (fragments.contains { normalized.contains($0) } && !harmless.contains { normalized.contains($0) }) || exact.contains(normalized)
            #expect(SecretNames.isSecret(name) == expected, "\(name)")
            #expect(SecretNames.isSecret(("<" + name + ">").dropFirst().dropLast()) == expected, "\(name) as a Substring")
            if expected { positives += 1 }
        }
        #expect(positives > 100, "the generator produces both kinds")
    }
}
