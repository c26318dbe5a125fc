import CloudModel
import CloudSim
import Foundation
import LoadGen
import NIOCore
import NIOPosix
import NIOSSL
@testable import Proxy
import Crypto
import SwiftASN1
import TapedeckHTTP
import X509
import TapedeckTesting
import Testing

/// TLS as users make it: keys and certificates from openssl and nginx guides, strict verifiers, and
/// upstream failures explained.
@Suite(.serialized) struct TLSTests {
    /// A temporary directory with a self-signed certificate for `names` (`server.crt`, `server.key`: RSA, PEM, PKCS#8).
    static func selfSigned(_ dir: String, cn: String = "localhost", san: String = "DNS:localhost,IP:127.0.0.1", days: String = "30") throws
    {
        try OpenSSLTool.run(
            [
                "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "server.key", "-out", "server.crt",
                "-subj", "/CN=\(cn)", "-days", days, "-addext", "subjectAltName=\(san)",
            ], in: dir)
    }

    static func tempDir() throws -> String {
        let d = NSTemporaryDirectory() + "tapedeck-tls-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: d, withIntermediateDirectories: true)
        return d
    }

    static func serveTLS(cert: String, key: String, _ body: (Int) async throws -> Void) async throws {
        let simulator = await Simulator.synthetic(
            SyntheticDataSet(groups: 20, seed: 1), clock: SimulatorClock(fixedTime: SyntheticDataSet.epoch, seed: 1))
        var conf = SimulatorConfiguration()
        conf.host = "127.0.0.1"
        conf.port = 0
        conf.threads = 1
        conf.tlsCertificatePath = cert
        conf.tlsKeyPath = key
        try await withRunning({ ready in
            SimulatorServer(simulator: simulator, configuration: conf) { address, tls in ready((address.port ?? 0, tls)) }
        }) { (port: Int, tls: Bool) in
            #expect(tls)
            try await body(port)
        }
    }

    /// Each key form a user may have, named the way guides name them: the server starts and answers over TLS.
    @Test(arguments: [
        ("rsa-pkcs8.pem", ["pkey", "-in", "server.key", "-out", "K"]),
        ("rsa-pkcs1.key", ["rsa", "-in", "server.key", "-traditional", "-out", "K"]),
        ("rsa-pkcs8.der", ["pkey", "-in", "server.key", "-outform", "DER", "-out", "K"]),
        ("rsa-pkcs1.der", ["rsa", "-in", "server.key", "-traditional", "-outform", "DER", "-out", "K"]),
    ])
    func rsaKeysLoadByContent(name: String, convert: [String]) async throws {
        let dir = try Self.tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try Self.selfSigned(dir)
        try OpenSSLTool.run(convert.map { $0 == "K" ? name : $0 }, in: dir)
        try await Self.serveTLS(cert: dir + "/server.crt", key: dir + "/" + name) { port in
            try await loadOnce(port: port, ca: dir + "/server.crt")
        }
    }

    @Test(arguments: [
        ("ec.key", ["ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", "ec.key"]),
        ("ec-pkcs8.pem", ["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", "ec-pkcs8.pem"]),
    ])
    func ecKeysAndDERCertificatesLoad(name: String, generate: [String]) async throws {
        let dir = try Self.tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try OpenSSLTool.run(generate, in: dir)
        try OpenSSLTool.run(
            [
                "req", "-x509", "-key", name, "-out", "server.crt", "-subj", "/CN=localhost", "-days", "30",
                "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
            ], in: dir)
        try OpenSSLTool.run(["x509", "-in", "server.crt", "-outform", "DER", "-out", "server.cer"], in: dir)
        try await Self.serveTLS(cert: dir + "/server.cer", key: dir + "/" + name) { port in
            try await loadOnce(port: port, ca: dir + "/server.crt")
        }
    }

    @Test func badKeyFilesAreNamedWithTheFix() async throws {
        let dir = try Self.tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try Self.selfSigned(dir)
        func startError(cert: String, key: String) async -> String {
            do { try await Self.serveTLS(cert: cert, key: key) { _ in }; return "started" } catch { return "\(error)" }
        }
        let swapped = await startError(cert: dir + "/server.key", key: dir + "/server.crt")
        #expect(swapped.contains("server.key") && swapped.contains("swapped"), "\(swapped)")
        let directory = await startError(cert: dir + "/server.crt", key: dir)
        #expect(directory.contains("--tls-key \(dir): is not a regular file"), "\(directory)")
        try OpenSSLTool.run(["pkey", "-in", "server.key", "-aes256", "-passout", "pass:x", "-out", "enc.key"], in: dir)
        let encrypted = await startError(cert: dir + "/server.crt", key: dir + "/enc.key")
        #expect(encrypted.contains("encrypted") && encrypted.contains("openssl pkey"), "\(encrypted)")
    }

    /// Python ≥ 3.13 and recent urllib3 verify with X509_V_FLAG_X509_STRICT: a leaf without an Authority Key
    /// Identifier is rejected. OpenSSL's own strict verifier must accept every interception leaf.
    @Test(arguments: ["127.0.0.1", "localhost", "ecs.cn-hangzhou.aliyuncs.com", "::1", String(repeating: "long-label.", count: 7) + "example"])
    func interceptionLeavesPassStrictVerification(host: String) throws {
        let dir = try Self.tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let ca = try CertificateAuthority(directory: dir + "/ca")
        try ca.leafPEM(for: host).write(toFile: dir + "/leaf.pem", atomically: true, encoding: .utf8)
        let check = host.contains(":") || host.first!.isNumber ? ["-verify_ip", host] : ["-verify_hostname", host]
        let out = try OpenSSLTool.run(
            ["verify", "-x509_strict", "-purpose", "sslserver", "-CAfile", "ca/ca.pem"] + check + ["leaf.pem"], in: dir)
        #expect(out.contains("leaf.pem: OK"), "\(out)")
        let text = try OpenSSLTool.run(["x509", "-in", "leaf.pem", "-noout", "-text"], in: dir)
        #expect(text.contains("X509v3 Authority Key Identifier"))
        #expect(text.contains("X509v3 Subject Key Identifier"))
        // RFC 5280: a common name is at most 64 characters; a longer host is named by its SAN alone.
        #expect(text.contains("CN = \(host.count <= 64 ? host : "Tapedeck interception")"), "\(text)")
    }

    /// A TLS server that closes at once on plain HTTP (it waited for a handshake), named in `--upstream` with
    /// http://: the 502 asks whether it speaks TLS, with the https:// to use, on the lane and the full path.
    @Test func aPlainHTTPUpstreamThatIsATLSPortGetsTheHint() async throws {
        let dir = try Self.tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try Self.selfSigned(dir)
        let tls = try TLSFiles.serverContext(certificatePath: dir + "/server.crt", keyPath: dir + "/server.key")
        let server = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .childChannelInitializer { ch in ch.eventLoop.makeCompletedFuture { try ch.pipeline.syncOperations.addHandler(NIOSSLServerHandler(context: tls)) } }
            .bind(host: "127.0.0.1", port: 0).get()
        let port = server.localAddress?.port ?? 0
        try await TestProxy.with(cassette: dir + "/c.jsonl.gz", mode: .passthrough, upstream: "http://127.0.0.1:\(port)") { proxy in
            for headers in [[], [("Authorization", "x")]] {  // the lane's request, then the full path's
                let r = try await RawHTTPClient.request("GET", "/x", port: proxy.port, headers: headers)
                #expect(r.status == 502 && r.bodyString.contains("speak TLS") && r.bodyString.contains("https://127.0.0.1:\(port)"), "\(r.status) \(r.bodyString)")
            }
        }
        try await server.close()
    }

    @Test func upstreamTLSFailuresAreExplained() async throws {
        let dir = try Self.tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try Self.selfSigned(dir, cn: "upstream.test", san: "DNS:upstream.test")
        let path = dir + "/c.jsonl.gz"
        try await Self.serveTLS(cert: dir + "/server.crt", key: dir + "/server.key") { port in
            // Unknown CA.
            try await TestProxy.with(cassette: path, mode: .record, upstream: "https://127.0.0.1:\(port)") { proxy in
                let r = try await RawHTTPClient.request("GET", "/x", port: proxy.port)
                #expect(r.status == 502)
                #expect(r.bodyString.contains("self-signed") && r.bodyString.contains("--upstream-ca"), "\(r.bodyString)")
                #expect(!r.bodyString.contains("cassette"), "no cassette advice for a TLS failure")
            }
            // Trusted, but the name does not match.
            try await TestProxy.with(
                cassette: path, mode: .record, upstream: "https://127.0.0.1:\(port)",
                configure: { $0.upstreamCAFile = dir + "/server.crt" }
            ) { proxy in
                let r = try await RawHTTPClient.request("GET", "/x", port: proxy.port)
                #expect(r.status == 502)
                #expect(r.bodyString.contains("does not name 127.0.0.1") && r.bodyString.contains("upstream.test"), "\(r.bodyString)")
            }
            // Plain HTTP to the TLS port: the simulator answers a 400 that says to use https (nginx's answer), and a
            // proxy whose --upstream says http:// for it is told the same in its 502.
            let plain = try await RawHTTPClient.request("GET", "/?Action=DescribeRegions", port: port)
            #expect(plain.status == 400 && plain.bodyString.contains("use https://127.0.0.1:\(port)"), "\(plain.bodyString)")
            try await TestProxy.with(cassette: path, mode: .passthrough, upstream: "http://127.0.0.1:\(port)") { proxy in
                let r = try await RawHTTPClient.request("GET", "/x", port: proxy.port)
                #expect(r.status == 502 || r.status == 400, "\(r.status) \(r.bodyString)")
            }
            // The load generator explains the same in its own flags.
            let load = try await loadTLSFailure(port: port, ca: dir + "/server.crt")
            #expect(load.contains("does not name 127.0.0.1") && load.contains("--target https://upstream.test:\(port)"), "\(load)")
        }
        // Expired.
        let key = P256.Signing.PrivateKey()
        let name = try DistinguishedName { CommonName("localhost") }
        let old = try Certificate(
            version: .v3, serialNumber: Certificate.SerialNumber(), publicKey: .init(key.publicKey),
            notValidBefore: Date(timeIntervalSince1970: 1_577_836_800), notValidAfter: Date(timeIntervalSince1970: 1_580_515_200),
            issuer: name, subject: name, signatureAlgorithm: .ecdsaWithSHA256,
            extensions: try Certificate.Extensions {
                SubjectAlternativeNames([.ipAddress(ASN1OctetString(contentBytes: [127, 0, 0, 1]))])
            },
            issuerPrivateKey: .init(key))
        try old.serializeAsPEM().pemString.write(toFile: dir + "/old.crt", atomically: true, encoding: .utf8)
        try key.pemRepresentation.write(toFile: dir + "/old.key", atomically: true, encoding: .utf8)
        try await Self.serveTLS(cert: dir + "/old.crt", key: dir + "/old.key") { port in
            try await TestProxy.with(
                cassette: path, mode: .record, upstream: "https://127.0.0.1:\(port)",
                configure: { $0.upstreamCAFile = dir + "/old.crt" }
            ) { proxy in
                let r = try await RawHTTPClient.request("GET", "/x", port: proxy.port)
                #expect(r.status == 502)
                #expect(r.bodyString.contains("expired on 2020-02-01"), "\(r.bodyString)")
            }
            let load = try await loadTLSFailure(port: port, ca: dir + "/old.crt")
            #expect(load.contains("expired on 2020-02-01"), "\(load)")
        }
        // `simulate --tls-cert` says at start what clients will reject in its own certificate.
        #expect(TLSDiagnosis.problemsServing(dir + "/old.crt", host: "127.0.0.1").map { $0.contains("expired on 2020-02-01") } == [true])
        let misnamed = TLSDiagnosis.problemsServing(dir + "/server.crt", host: "127.0.0.1")
        #expect(misnamed.count == 1 && misnamed[0].contains("does not name 127.0.0.1") && misnamed[0].contains("upstream.test"), "\(misnamed)")
        #expect(TLSDiagnosis.problemsServing(dir + "/server.crt", host: "upstream.test").isEmpty)
    }
}

/// A short load over https that cannot complete a request: what its report tells the user to do.
func loadTLSFailure(port: Int, ca: String) async throws -> String {
    var conf = LoadConfiguration(target: LoadTarget(url: "https://127.0.0.1:\(port)/")!)
    conf.connections = 1
    conf.duration = .milliseconds(200)
    conf.tlsCAFile = ca
    let report = try await LoadRunner(
        configuration: conf, requests: [LoadRequest(bytes: ByteBuffer(string: "GET / HTTP/1.1\r\nHost: x\r\n\r\n"), expectation: nil, kind: "get")]
    ).run()
    #expect(report.result.completed == 0 && (report.result.errors["tls"] ?? 0) > 0, "\(report.text)")
    return report.nothingCompletedHint
}

/// One short closed-loop load over https against `port`, trusting `ca`: it must complete requests.
func loadOnce(port: Int, ca: String) async throws {
    var conf = LoadConfiguration(target: LoadTarget(url: "https://127.0.0.1:\(port)/?Action=DescribeSecurityGroups&RegionId=cn-hangzhou")!)
    conf.connections = 2
    conf.duration = .milliseconds(300)
    conf.tlsCAFile = ca
    let requests = [
        LoadRequest(
            bytes: ByteBuffer(string: "GET /?Action=DescribeSecurityGroups&RegionId=cn-hangzhou HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"),
            expectation: nil, kind: "get")
    ]
    let report = try await LoadRunner(configuration: conf, requests: requests).run()
    #expect(report.result.completed > 0, "errors: \(report.result.errors)")
    #expect(report.result.statuses[200, default: 0] == report.result.completed)
}
