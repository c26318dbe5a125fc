import Testing
@testable import TapedeckHTTP

@Suite struct RequestTargetTests {
    @Test func originForm() throws {
        let t = try #require(RequestTarget("/v3/p/vpc/security-groups?limit=1&marker=x"))
        #expect(t.scheme == nil && t.authority == nil)
        #expect(t.path == "/v3/p/vpc/security-groups")
        #expect(t.query == "limit=1&marker=x")
        #expect(t.originForm == "/v3/p/vpc/security-groups?limit=1&marker=x")
        #expect(RequestTarget("/")?.query == nil)
    }

    @Test func absoluteForm() throws {
        let t = try #require(RequestTarget("HTTP://ecs.aliyuncs.com?Action=X"))
        #expect(t.scheme == .http)
        #expect(t.authority == Authority(host: "ecs.aliyuncs.com", port: 80))
        #expect(t.path == "/" && t.query == "Action=X")
        let v6 = try #require(RequestTarget("https://[::1]:8443/a#frag"))
        #expect(v6.authority == Authority(host: "::1", port: 8443))
        #expect(v6.path == "/a" && v6.query == nil)
        #expect(v6.authority?.description == "[::1]:8443")
    }

    @Test(arguments: [
        "ftp://x/", "relative/path", "http://", "http://host:0/", "http://host:65536/", "http://host:99999999999999999999/",
        "http://host:12ab/", "http://[::1/",
    ])
    func rejectsBadTargets(_ s: String) {
        #expect(RequestTarget(s) == nil)
    }

    /// A host goes into a `Host` header and a request line as it is: no space, control byte or DEL (an
    /// `--upstream` of `http://a\r\nX: y` would inject a header once outbound validation is off).
    @Test(arguments: ["a\r\nX: y", "a\u{0}b", "a\u{7F}", "a b", "a\tb", "a\nb:80"])
    func anAuthorityWithControlBytesOrSpacesIsRefused(host: String) {
        #expect(Authority(host, defaultPort: 80) == nil)
        #expect(RequestTarget("http://\(host)/x")?.authority == nil)
    }

    @Test func authority() {
        #expect(Authority("example.com:8080", defaultPort: 80) == Authority(host: "example.com", port: 8080))
        #expect(Authority("example.com", defaultPort: 443)?.port == 443)
        #expect(Authority("example.com:70000", defaultPort: 80) == nil)
        #expect(Authority("127.0.0.1", defaultPort: 80)?.isIPAddress == true)
        #expect(Authority("a.example", defaultPort: 80)?.isIPAddress == false)
        #expect(Authority("h:443", defaultPort: 443)?.hostHeader(defaultPort: 443) == "h")
    }
}
