@testable import Cassette
import Foundation
import Testing

@Suite struct RedactionTests {
    func exchange(url: String, requestHeaders: [(String, String)], requestBody: String = "", responseBody: String = "{}",
                  responseHeaders: [(String, String)] = [("Content-Type", "application/json")]) -> Exchange {
        Exchange(seq: 1, key: "k", profile: "generic",
                 request: .init(method: "POST", url: url, headers: requestHeaders, body: Body(bytes: Array(requestBody.utf8))),
                 response: .init(status: 200, headers: responseHeaders, body: Body(bytes: Array(responseBody.utf8))),
                 timing: .init(started_at: "t", duration_ms: 1))
    }

    @Test func credentialsAreRedactedEverywhere() throws {
        let e = exchange(
            url: "https://ecs.aliyuncs.com/?Action=X&AccessKeyId=LTAIabcdef&Signature=c2lnbmF0dXJl%3D&SignatureNonce=n1",
            requestHeaders: [("Authorization", "ACS3-HMAC-SHA256 Credential=LTAIabcdef,SignedHeaders=host,Signature=deadbeef"),
                             ("Cookie", "session=s3cr3t"), ("X-Sdk-Date", "20260101T000000Z")],
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

    @Test func extraNamesAndFormBodies() {
        var redactor = Redactor()
        redactor.add("X-Custom-Key")
        redactor.add("ClientToken")
        let e = exchange(url: "http://h/", requestHeaders: [("X-Custom-Key", "abc"), ("Content-Type", "application/x-www-form-urlencoded")],
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
        w.close()
        let findings = try SecretScanner.scan(path: path, secrets: [("SK", "my+secret/value"), ("OTHER", "absent-value")])
        #expect(Set(findings.map(\.record)) == [1, 2, 3])
        #expect(Set(findings.map(\.form)).isSuperset(of: ["percent-encoded", "base64", "plain"]))
        #expect(!findings.contains { $0.secretName == "OTHER" })
    }

    @Test func harExportImportRoundTrip() throws {
        let original = (1...3).map { i -> Exchange in var e = sampleExchange(i); e.seq = i; return e }
        let har = try HAR.export(original)
        let json = try JSONSerialization.jsonObject(with: har) as! [String: Any]
        #expect(((json["log"] as! [String: Any])["version"] as? String) == "1.2")
        let back = try HAR.import(har) { ($0.request.url, "generic") }
        #expect(back.count == 3)
        for (a, b) in zip(original, back) {
            #expect(a.request.method == b.request.method && a.request.url == b.request.url)
            #expect(a.response.status == b.response.status && a.response.body == b.response.body)
            #expect(b.key == a.request.url)
        }
    }
}
