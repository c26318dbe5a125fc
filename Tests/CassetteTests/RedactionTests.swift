@testable import Cassette
import Foundation
import Testing

@Suite struct RedactionTests {
    func exchange(
        url: String, requestHeaders: [(String, String)], requestBody: String = "", responseBody: String = "{}",
        responseHeaders: [(String, String)] = [("Content-Type", "application/json")]
    ) -> Exchange {
        Exchange(
            seq: 1, key: "k", profile: "generic",
            request: .init(method: "POST", url: url, headers: requestHeaders, body: Body(bytes: Array(requestBody.utf8))),
            response: .init(status: 200, headers: responseHeaders, body: Body(bytes: Array(responseBody.utf8))),
            timing: .init(started_at: "t", duration_ms: 1))
    }

    @Test func credentialsAreRedactedEverywhere() throws {
        let e = exchange(
            url: "https://ecs.aliyuncs.com/?Action=X&AccessKeyId=LTAIabcdef&Signature=c2lnbmF0dXJl%3D&SignatureNonce=n1",
            requestHeaders: [
                ("Authorization", "ACS3-HMAC-SHA256 Credential=LTAIabcdef,SignedHeaders=host,Signature=deadbeef"),
                ("Cookie", "session=s3cr3t"), ("X-Sdk-Date", "20260101T000000Z"),
            ],
            requestBody: #"{"auth":{"password":"hunter22","user":"bob"}}"#,
            responseBody: #"{"Credentials":{"AccessKeySecret":"verysecret","SecurityToken":"tok123","Expiration":"2026"}}"#,
            responseHeaders: [("Content-Type", "application/json"), ("Set-Cookie", "id=abc")])
        let r = Redactor().redact(e)
        let text = String(decoding: try CassetteCoding.encode(r), as: UTF8.self)
        for secret in ["LTAIabcdef", "c2lnbmF0dXJl", "deadbeef", "s3cr3t", "hunter22", "verysecret", "tok123", "id=abc"] {
            #expect(!text.contains(secret), "\(secret) leaked: \(text)")
        }
        #expect(r.request.url.contains("SignatureNonce=n1") && r.request.url.contains("Action=X"))
        #expect(r.request.headerPairs.first { $0.0 == "Authorization" }?.1 == "ACS3-HMAC-SHA256 REDACTED")
        #expect(r.request.headerPairs.first { $0.0 == "X-Sdk-Date" }?.1 == "20260101T000000Z")
        #expect(r.response.body.data.contains("\"Expiration\":\"2026\"") && r.request.body.data.contains("\"user\":\"bob\""))
    }

    /// A secret-named field that holds true or false carries no credential: it stays a boolean, so a replayed
    /// answer reads as recorded (`"signatures_required": true`). Numbers and strings under such names are redacted.
    @Test func booleansUnderSecretNamesStayBooleans() throws {
        let e = exchange(
            url: "http://h/", requestHeaders: [],
            responseBody: #"{"signatures_required":true,"token_expired":false,"secret_number":12345678,"password":"hunter22"}"#)
        let r = Redactor().redact(e)
        let body = try #require(try JSONSerialization.jsonObject(with: Data(r.response.body.bytes)) as? [String: Any])
        #expect(body["signatures_required"] as? Bool == true && body["token_expired"] as? Bool == false, "\(body)")
        #expect(body["secret_number"] as? String == "REDACTED" && body["password"] as? String == "REDACTED", "\(body)")
    }

    /// A short credential (3 to 5 bytes) echoed elsewhere is scrubbed where it stands as a whole token, and
    /// nowhere it is only part of a longer word or number.
    @Test func shortCredentialsEchoedAsTokensAreScrubbed() throws {
        let e = exchange(
            url: "http://h/?Action=Login&password=pw7",
            requestHeaders: [("Authorization", "Bearer ab9z"), ("X-Auth-Token", "q1w2e")],
            responseBody: #"{"echo":"pw7","header":"ab9z","tok":"q1w2e","words":"pw7x abab9z q1w2ex","count":1234}"#)
        let r = Redactor().redact(e)
        let text = String(decoding: try CassetteCoding.encode(r), as: UTF8.self)
        let body = try #require(try JSONSerialization.jsonObject(with: Data(r.response.body.bytes)) as? [String: Any])
        #expect(body["echo"] as? String == "REDACTED" && body["header"] as? String == "REDACTED" && body["tok"] as? String == "REDACTED", "\(text)")
        #expect(body["words"] as? String == "pw7x abab9z q1w2ex", "\(text)")
        #expect(body["count"] as? Int == 1234)
        #expect(r.request.url == "http://h/?Action=Login&password=REDACTED")
    }

    /// A cookie's attributes and a challenge's parameters are not credentials: `Max-Age=3600`, `Path=/` or an
    /// `Expires` date in `Set-Cookie` must not turn every `3600` or `GMT` of the exchange into the placeholder.
    @Test func cookieAttributesAreNotChasedAsCredentials() throws {
        let e = exchange(
            url: "http://h/", requestHeaders: [("Cookie", "lang=en; theme=dark; sid=k3ysess10n")],
            responseBody: #"{"ttl":3600,"zone":"GMT","sid":"k3ysess10n","path":"/","lang":"en","mode":"dark"}"#,
            responseHeaders: [
                ("Content-Type", "application/json"), ("Date", "Sat, 05 Dec 2026 07:00:00 GMT"),
                ("Set-Cookie", "sid=n3wsess10n; Path=/; Max-Age=3600; Expires=Wed, 21 Oct 2026 07:28:00 GMT; SameSite=Lax"),
                ("WWW-Authenticate", #"Digest realm="api", qop=auth, algorithm=MD5"#),
                ("X-Echo", "n3wsess10n auth MD5"),
            ])
        let r = Redactor().redact(e)
        let body = try #require(try JSONSerialization.jsonObject(with: Data(r.response.body.bytes)) as? [String: Any])
        #expect(body["ttl"] as? Int == 3600 && body["zone"] as? String == "GMT" && body["path"] as? String == "/", "\(body)")
        #expect(body["sid"] as? String == "REDACTED", "\(body)")
        // A cookie's short values are preferences, not sessions: `theme=dark` leaves every "dark" alone.
        #expect(body["mode"] as? String == "dark" && body["lang"] as? String == "en", "\(body)")
        #expect(r.response.headerPairs.first { $0.0 == "Date" }?.1 == "Sat, 05 Dec 2026 07:00:00 GMT")
        #expect(r.response.headerPairs.first { $0.0 == "X-Echo" }?.1 == "REDACTED auth MD5")
        // The cookie's value goes; its name and attributes stay, so a replayed answer sets the same cookie.
        #expect(r.response.headerPairs.first { $0.0 == "Set-Cookie" }?.1 == "sid=REDACTED; Path=/; Max-Age=3600; Expires=Wed, 21 Oct 2026 07:28:00 GMT; SameSite=Lax")
        #expect(r.response.headerPairs.first { $0.0 == "WWW-Authenticate" }?.1 == #"Digest realm="api", qop=auth, algorithm=MD5"#)
    }

    /// Bodies no parser takes whole, and URLs in other headers: redacted all the same (a stranger's findings:
    /// each of these was stored as it came). What is not a credential stays as it was.
    @Test func textNoParserTakesIsRedactedAllTheSame() throws {
        let form = "form", xml = "xml", json = "json"
        let cases: [(String, String, [UInt8], String)] = [
            (form, "application/x-www-form-urlencoded", Array("Action=Create&Description=web servers&password=SPACEFORMPW01".utf8), "Description=web servers"),
            (form, "multipart/form-data; boundary=XB",
                Array("--XB\r\nContent-Disposition: form-data; name=\"password\"\r\n\r\nMULTIPARTPW1\r\n--XB\r\nContent-Disposition: form-data; name=\"user\"\r\n\r\nbob\r\n--XB--\r\n".utf8), "bob"),
            (xml, "application/xml", Array("<R><Password a=\"1\">XMLATTRPASS1</Password><Token><![CDATA[CDATATOKEN01]]></Token><Name>n1</Name></R>".utf8), "<Name>n1</Name>"),
            (json, "application/json", [0xEF, 0xBB, 0xBF] + Array(#"{"password":"BOMJSONPASS01","user":"bob"}"#.utf8), "bob"),
            (json, "application/x-ndjson", Array("{\"password\":\"NDJSONPASS01\"}\n{\"user\":\"bob\"}\n".utf8), "bob"),
            (json, "application/json", Array(#"{"password":"LONESURR0001","x":"\ud800","user":"bob"}"#.utf8), "bob"),
            (json, "application/json", Array(#"{"pass\u0077ord":"ESCAPEDKEY01","user":"bob"}"#.utf8), "bob"),
            (json, "application/json", Array(#"{"password":"LATIN1PASS01","n":"caf"#.utf8) + [0xE9] + Array(#""}"#.utf8), "caf"),
            (json, "application/json", Array(#"{"token":{"id":"NESTEDTOK001"},"x":"\ud800"}"#.utf8), "\"x\""),
        ]
        for (kind, contentType, body, kept) in cases {
            let e = Exchange(
                seq: 1, key: "k", profile: "generic",
                request: .init(method: "POST", url: "http://h/", headers: [("Content-Type", contentType)], body: Body(bytes: body)),
                response: .init(status: 200, headers: [], body: Body(bytes: Array("ok".utf8))), timing: .init(started_at: "t", duration_ms: 1))
            let r = Redactor().redact(e)
            let stored = String(decoding: r.request.body.bytes, as: UTF8.self)
            let text = String(decoding: try CassetteCoding.encode(r), as: UTF8.self)
            for secret in ["SPACEFORMPW01", "MULTIPARTPW1", "XMLATTRPASS1", "CDATATOKEN01", "BOMJSONPASS01", "NDJSONPASS01", "LONESURR0001", "ESCAPEDKEY01", "LATIN1PASS01", "NESTEDTOK001"] {
                #expect(!text.contains(secret) && !stored.contains(secret), "\(kind): \(secret) stored: \(stored.debugDescription)")
            }
            #expect(stored.contains(kept), "\(kind): \(kept) lost: \(stored.debugDescription)")
        }
    }

    @Test func secretParametersInAnyURLAreRedacted() throws {
        let e = exchange(
            url: "http://h/?password=NONUTF8PASS1&x=%FF%FE&Action=A",
            requestHeaders: [("Referer", "https://app.example/p?token=REFTOKEN00001&password=REFPASS00001&page=2")],
            responseBody: #"{"next":"https://app.example/dl?Signature=SIGINBODY0001&Expires=9"}"#,
            responseHeaders: [("Location", "https://app.example/cb?access_token=LOCTOKEN00001&state=s1"), ("Content-Type", "application/json")])
        let r = Redactor().redact(e)
        let text = String(decoding: try CassetteCoding.encode(r), as: UTF8.self)
        for secret in ["NONUTF8PASS1", "REFTOKEN00001", "REFPASS00001", "LOCTOKEN00001", "SIGINBODY0001"] {
            #expect(!text.contains(secret), "\(secret) stored: \(text)")
        }
        #expect(r.request.url == "http://h/?password=REDACTED&x=%FF%FE&Action=A")
        #expect(r.response.headerPairs.first { $0.0 == "Location" }?.1 == "https://app.example/cb?access_token=REDACTED&state=s1")
        #expect(r.request.headerPairs.first { $0.0 == "Referer" }?.1.hasSuffix("&page=2") == true)
    }

    /// A value is echoed as it was sent and as it decodes (`+` a space), and every one of duplicate keys counts.
    @Test func echoesOfEncodedAndDuplicatedValuesAreScrubbed() throws {
        let e = exchange(
            url: "http://h/?password=PLUS+SECRET+VAL",
            requestHeaders: [("Content-Type", "application/json")],
            requestBody: #"{"secret":"FIRSTDUP0001","secret":"SECONDDUP001"}"#,
            responseBody: #"{"raw":"PLUS+SECRET+VAL","decoded":"PLUS SECRET VAL","echo":"FIRSTDUP0001 SECONDDUP001"}"#)
        let text = String(decoding: try CassetteCoding.encode(Redactor().redact(e)), as: UTF8.self)
        for secret in ["PLUS+SECRET+VAL", "PLUS SECRET VAL", "FIRSTDUP0001", "SECONDDUP001"] {
            #expect(!text.contains(secret), "\(secret) stored: \(text)")
        }
    }

    /// A stranger's findings: a padded Basic credential echoed in a text answer, percent-encoded names in a form
    /// and a `Location`, prose and code that mention a secret's name, and a 4-character stand-in key id.
    @Test func echoesAndNamesInTextAreRedactedWithoutEatingTheText() throws {
        let basic = "YWRtaW46U0VLUkVUYmFzaWMwMQ=="  // admin:SEKRETbasic01
        let echo = "GET /b1 HTTP/1.1\r\nHost: up\r\nAuthorization: Basic \(basic)\r\nAccept: */*\r\n\r\n"
        let e = exchange(
            url: "http://h/f?AccessKeyId=test&x=1", requestHeaders: [("Authorization", "Basic " + basic), ("Content-Type", "application/x-www-form-urlencoded")],
            requestBody: "pass%77ord=SEKRETpct03&x=1",
            responseBody: echo + "Reset your password: visit the page.\nvar secretName = getName(); let x = {a: 1}\n"
                + "secret_key = \"SEKRETtoml01\"\nnext_line = 2\nDescription: test group\n",
            responseHeaders: [("Content-Type", "text/plain"), ("Location", "/next?pass%77ord=SEKRETloc01&page=2")])
        let r = Redactor().redact(e)
        let text = String(decoding: try CassetteCoding.encode(r), as: UTF8.self)
        for secret in ["YWRtaW46U0VLUkVUYmFzaWMwMQ", "SEKRETpct03", "SEKRETloc01", "SEKRETtoml01"] {
            #expect(!text.contains(secret), "\(secret) stored: \(text)")
        }
        let body = r.response.body.data
        for kept in ["Host: up\r\n", "Accept: */*", "Reset your password: visit the page.", "let x = {a: 1}", "next_line = 2", "Description: test group"] {
            #expect(body.contains(kept), "\(kept.debugDescription) lost: \(body.debugDescription)")
        }
        #expect(r.request.body.data == "pass%77ord=REDACTED&x=1")
        #expect(r.response.headerPairs.first { $0.0 == "Location" }?.1 == "/next?pass%77ord=REDACTED&page=2")
    }

    /// A match key hashes a body as the cassette stores it: made again from the stored record it is the same
    /// key (not "stale"), and no hash of the plaintext password is kept.
    @Test func aKeyOfATextBodyWithSecretsIsTheStoredBodysKey() throws {
        let body = Array("user: bob\npassword: SEKRETyaml01\napi_key: SEKRETyaml02\n".utf8)
        let redacted = Redactor().redactedByName(body, contentType: "application/yaml")
        #expect(String(decoding: redacted, as: UTF8.self) == "user: bob\npassword: REDACTED\napi_key: REDACTED\n")
        #expect(Redactor().redactedByName(redacted, contentType: "application/yaml") == redacted, "redacting twice changes nothing")
        let plain = Array("user: bob\n".utf8)
        #expect(Redactor().redactedByName(plain, contentType: "text/plain") == plain)
    }

    /// A third stranger's findings: what must go (short exact names in bodies, echoes in more encodings) and
    /// what must stay (counts about tokens, policies about passwords, code, prose, HTML, empty tokens, paths).
    @Test func whatGoesAndWhatStays() throws {
        let basic = Data("bob:BasicPw_x1".utf8).base64EncodedString()
        let e = exchange(
            url: "http://h/doc/admin-role?password=admin&login=bob",
            requestHeaders: [("Authorization", "Basic " + basic), ("Content-Type", "application/x-www-form-urlencoded")],
            requestBody: "login=bob&pwd=FPWD_889911&secret=NEU%20TRAL%2Fpw%C3%A9_77",
            responseBody: """
                {"usage":{"prompt_tokens":9,"max_tokens":500},"MinimumPasswordLength":14,"PaginationToken":"","role":"admin",
                 "echo_u":"NEU TRAL/pw\\u00e9_77","echo_plus":"NEU+TRAL%2Fpw%C3%A9_77","echo_lower":"NEU%20TRAL%2fpw%c3%a9_77",
                 "echo_b64":"\(Data("NEU TRAL/pwé_77".utf8).base64EncodedString())","note":"your pw BasicPw_x1","pass":"JSONPASS_1"}
                """,
            responseHeaders: [("Content-Type", "application/json")])
        let r = Redactor().redact(e)
        let text = String(decoding: try CassetteCoding.encode(r), as: UTF8.self)
        for secret in ["FPWD_889911", "TRAL", "BasicPw_x1", "JSONPASS_1", String(Data("NEU TRAL/pwé_77".utf8).base64EncodedString().prefix(12))] {
            #expect(!text.contains(secret), "\(secret) stored: \(text)")
        }
        let body = try #require(try JSONSerialization.jsonObject(with: Data(r.response.body.bytes)) as? [String: Any])
        #expect((body["usage"] as? [String: Any])?["prompt_tokens"] as? Int == 9 && (body["usage"] as? [String: Any])?["max_tokens"] as? Int == 500, "\(body)")
        #expect(body["MinimumPasswordLength"] as? Int == 14 && body["PaginationToken"] as? String == "", "\(body)")
        #expect(body["role"] as? String == "REDACTED", "a short credential value is scrubbed in the answer: \(body)")
        #expect(r.request.url == "http://h/doc/admin-role?password=REDACTED&login=bob", "…but the request's path stays as sent")

        let page = """
            <html><form><input type="password" name="password">

            <p>Forgot it? Reset your password: visit the page.</p></form>
            <script>const token = localStorage.getItem("token"); if (token == null) { login() }</script>
            Token: a string the server gives you at login.
            </html>
            """
        let xml = "<GetAccountPasswordPolicyResponse><PasswordPolicy><MinimumPasswordLength>14</MinimumPasswordLength></PasswordPolicy><RequestId>r1</RequestId></GetAccountPasswordPolicyResponse>"
        for (doc, type) in [(page, "text/html"), (xml, "text/xml")] {
            let x = exchange(url: "http://h/", requestHeaders: [], responseBody: doc, responseHeaders: [("Content-Type", type)])
            #expect(Redactor().redact(x).response.body.data == doc, "changed: \(Redactor().redact(x).response.body.data)")
        }
        let keys = "<CreateAccessKeyResponse><AccessKey><AccessKeyId>AKIAEXAMPLE1</AccessKeyId><SecretAccessKey>SECRETXML_1</SecretAccessKey></AccessKey><RequestId>r2</RequestId></CreateAccessKeyResponse>"
        let k = Redactor().redact(exchange(url: "http://h/", requestHeaders: [], responseBody: keys, responseHeaders: [("Content-Type", "text/xml")]))
        #expect(!k.response.body.data.contains("SECRETXML_1") && k.response.body.data.contains("<RequestId>r2</RequestId>"), "\(k.response.body.data)")
    }

    @Test func extraNamesAndFormBodies() {
        var redactor = Redactor()
        redactor.add("X-Custom-Key")
        redactor.add("ClientToken")
        let e = exchange(
            url: "http://h/", requestHeaders: [("X-Custom-Key", "abc"), ("Content-Type", "application/x-www-form-urlencoded")],
            requestBody: "Action=A&ClientToken=t0k&Signature=sig")
        let r = redactor.redact(e)
        #expect(r.request.headerPairs[0].1 == "REDACTED")
        #expect(r.request.body.data == "Action=A&ClientToken=REDACTED&Signature=REDACTED")
    }

    @Test func untouchedWhenNothingIsSecret() {
        let e = exchange(url: "http://h/?a=1", requestHeaders: [("Accept", "*/*")], requestBody: #"{ "name" : "x" }"#)
        #expect(Redactor().redact(e) == e, "formatting of clean bodies is kept")
    }

    @Test func scannerFindsPlainPercentAndBase64() throws {
        let path = tempPath("scan.jsonl.gz")
        defer { try? FileManager.default.removeItem(atPath: path) }
        let w = try CassetteWriter(path: path)
        try w.append(exchange(url: "http://h/?x=my%2Bsecret%2Fvalue", requestHeaders: []))
        try w.append(exchange(url: "http://h/", requestHeaders: [("X-B", Data("my+secret/value".utf8).base64EncodedString())]))
        try w.append(exchange(url: "http://h/", requestHeaders: [], responseBody: "{\"v\":\"my+secret/value\"}"))
        // Forms other encoders write: lower-case hex, and Python's `\u` escapes.
        try w.append(exchange(url: "http://h/?x=my%2bsecret%2fvalue", requestHeaders: []))
        try w.append(exchange(url: "http://h/", requestHeaders: [], responseBody: #"{"v":"caf\u00e9-secret"}"#))
        w.close()
        let findings = try SecretScanner.scan(path: path, secrets: [("SK", "my+secret/value"), ("OTHER", "absent-value"), ("U", "café-secret")])
        #expect(Set(findings.map(\.record)) == [1, 2, 3, 4, 5])
        #expect(Set(findings.map(\.form)).isSuperset(of: ["percent-encoded", "base64", "plain"]))
        #expect(!findings.contains { $0.secretName == "OTHER" })
    }

    @Test func harExportImportRoundTrip() throws {
        let original = (1...3).map { i -> Exchange in
            var e = sampleExchange(i); e.seq = i; return e
        }
        let har = try HAR.export(original)
        let json = try JSONSerialization.jsonObject(with: har) as! [String: Any]
        #expect(((json["log"] as! [String: Any])["version"] as? String) == "1.2")
        let back = try HAR.import(har) { ($0.request.url, "generic") }.exchanges
        #expect(back.count == 3)
        for (a, b) in zip(original, back) {
            #expect(a.request.method == b.request.method && a.request.url == b.request.url)
            #expect(a.response.status == b.response.status && a.response.body == b.response.body)
            #expect(b.key == a.request.url)
        }
    }
}

/// Secrets planted in every place an exchange can carry one; none may reach the file.
@Suite struct PlantedSecretTests {
    @Test func noPlantedSecretReachesDisk() throws {
        var planted: [(String, String)] = []
        func secret(_ where_: String) -> String {
            let v = "S3cret\(planted.count)x" + String(UUID().uuidString.prefix(8))
            planted.append((where_, v))
            return v
        }
        let query = [
            ("password", secret("query password")), ("Token", secret("query Token")), ("SIGNATURE", secret("query SIGNATURE")),
            ("client_secret", secret("query client_secret")), ("api_key", secret("query api_key")),
            ("AccessKeyId", secret("query AccessKeyId")), ("x-amz-security-token", secret("query security token")),
        ]
        .map { "\($0.0)=\($0.1)" }.joined(separator: "&")
        let form = "Action=Create&Password=\(secret("form Password"))&SecurityToken=\(secret("form SecurityToken"))&Name=ok"
        let nested = """
            {"auth":{"identity":{"methods":["password"],"token":{"id":"\(secret("auth.identity.token.id"))"},
             "password":{"user":{"name":"bob","password":"\(secret("nested password"))"}}}},
             "keys":[{"access_key":"\(secret("array access_key"))","private_key":"\(secret("array private_key"))"}],
             "Client_Secret":"\(secret("Client_Secret"))","refresh-token":"\(secret("refresh-token"))","n":1}
            """
        let echoed = secret("echoed key id")
        let requestHeaders: [(String, String)] = [
            ("Authorization", "ACS3-HMAC-SHA256 Credential=\(echoed),SignedHeaders=host,Signature=\(secret("Authorization signature"))"),
            ("X-Api-Key", secret("X-Api-Key")), ("Api-Key", secret("Api-Key")), ("X-Auth-Token", secret("X-Auth-Token")),
            ("Proxy-Authorization", "Basic " + secret("Proxy-Authorization")), ("cookie", "sid=" + secret("cookie")),
            ("Content-Type", "application/json"),
        ]
        let responseBody = """
            {"Credentials":{"AccessKeySecret":"\(secret("response AccessKeySecret"))","SecurityToken":"\(secret("response SecurityToken"))"},
             "token":"\(secret("response token"))","items":[{"secret":"\(secret("response array secret"))"}],
             "Message":"signature mismatch, string to sign: GET&%2F&AccessKeyId%3D\(echoed)"}
            """
        let responseHeaders: [(String, String)] = [
            ("Content-Type", "application/json"), ("Set-Cookie", "sid=" + secret("Set-Cookie")),
            ("WWW-Authenticate", "Bearer realm=x, error=invalid_token, nonce=" + secret("WWW-Authenticate")), ("X-Subject-Token", secret("X-Subject-Token")),
            ("X-Echo", "seen " + echoed),
        ]
        let xmlBody = "<?xml version=\"1.0\"?><R><AccessKeySecret>\(secret("xml AccessKeySecret"))</AccessKeySecret><Id>1</Id></R>"
        let textBody = "password=\(secret("text password"))&user=bob"

        let exchanges = [
            Exchange(
                seq: 1, key: "k", profile: "generic",
                request: .init(
                    method: "POST", url: "https://api.example/v3/p?\(query)", headers: requestHeaders, body: Body(bytes: Array(nested.utf8))
                ),
                response: .init(status: 200, headers: responseHeaders, body: Body(bytes: Array(responseBody.utf8))),
                timing: .init(started_at: "t", duration_ms: 1)),
            Exchange(
                seq: 2, key: "k2", profile: "aliyun-rpc",
                request: .init(
                    method: "POST", url: "https://ecs.aliyuncs.com/", headers: [("Content-Type", "application/x-www-form-urlencoded")],
                    body: Body(bytes: Array(form.utf8))),
                response: .init(status: 200, headers: [("Content-Type", "text/xml")], body: Body(bytes: Array(xmlBody.utf8))),
                timing: .init(started_at: "t", duration_ms: 1)),
            Exchange(
                seq: 3, key: "k3", profile: "generic",
                request: .init(method: "GET", url: "https://api.example/x", headers: [], body: .empty),
                response: .init(status: 200, headers: [("Content-Type", "text/plain")], body: Body(bytes: Array(textBody.utf8))),
                timing: .init(started_at: "t", duration_ms: 1)),
        ]
        #expect(planted.count >= 31)
        let path = tempPath("planted.jsonl.gz")
        defer { try? FileManager.default.removeItem(atPath: path) }
        let w = try CassetteWriter(path: path)
        for e in exchanges { try w.append(Redactor().redact(e)) }
        w.close()
        let findings = try SecretScanner.scan(path: path, secrets: planted.map { ($0.0, $0.1) })
        #expect(findings.isEmpty, "\(findings.count) of \(planted.count) planted secrets reached disk: \(findings)")
        // What is not secret stays.
        let back = try CassetteReader(path: path).allExchanges()
        #expect(back[0].request.body.data.contains("\"name\":\"bob\"") && back[0].request.body.data.contains("\"n\":1"))
        #expect(back[0].request.body.data.contains("\"methods\":[\"password\"]"))
        #expect(back[1].request.body.data.contains("Name=ok") && back[1].response.body.data.contains("<Id>1</Id>"))
        #expect(back[2].response.body.data.contains("user=bob"))
        #expect(back[0].request.headerPairs.contains { $0.0 == "Content-Type" && $0.1 == "application/json" })
    }

    @Test func theScannerFindsJSONEscapedSecrets() throws {
        let path = tempPath("escaped.jsonl.gz")
        defer { try? FileManager.default.removeItem(atPath: path) }
        let w = try CassetteWriter(path: path)
        // A secret with a quote and a backslash is stored escaped inside the JSON line.
        try w.append(
            Exchange(
                seq: 1, key: "k", profile: "generic",
                request: .init(method: "GET", url: "http://h/", headers: [("X-Other", #"a"b\c-secret"#)], body: .empty),
                response: .init(status: 200, headers: [], body: .empty), timing: .init(started_at: "t", duration_ms: 1)))
        w.close()
        let findings = try SecretScanner.scan(path: path, secrets: [("S", #"a"b\c-secret"#)])
        #expect(findings.map(\.form) == ["JSON-escaped"])
    }
}
