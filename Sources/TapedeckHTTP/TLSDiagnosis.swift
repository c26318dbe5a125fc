import Foundation
import NIOSSL
import SwiftASN1
import X509

/// Turns a failed TLS handshake into a sentence a user can act on: which host, what failed (unknown CA,
/// name not in the certificate, expired, not TLS at all) and the fix, in the words of the flags of the
/// command that connected (the proxy's `--upstream`, the load generator's `--target`). The certificate the
/// server presented is read back from the TLS handler and checked the way a verifier would.
public enum TLSDiagnosis {
    /// How the connecting command spells its fixes.
    public struct Advice: Sendable {
        /// The flag that adds a trusted CA (`--upstream-ca`, `--ca`).
        public var caFlag: String
        /// How to connect to `name:port` instead (`--upstream https://NAME:PORT`).
        public var reconnect: @Sendable (_ name: String, _ port: Int) -> String
        /// What to do when the server speaks plain HTTP.
        public var plainHTTP: String

        public init(caFlag: String, reconnect: @escaping @Sendable (String, Int) -> String, plainHTTP: String) {
            self.caFlag = caFlag
            self.reconnect = reconnect
            self.plainHTTP = plainHTTP
        }
    }

    /// Whether `error` is a TLS failure this can explain.
    public static func isTLS(_ error: Error) -> Bool { error is NIOSSLError || error is BoringSSLError || error is NIOSSLExtraError }

    public static func sentence(
        _ error: Error, host: String, port: Int, peer: NIOSSLCertificate?, extraCAFile: String?, advice: Advice, now: Date = Date()
    ) -> String {
        let hostPort = "\(host):\(port)"
        let text = "\(error)"
        guard let peer, let der = try? peer.toDERBytes(), let cert = try? Certificate(derEncoded: der) else {
            if text.contains("WRONG_VERSION_NUMBER") || text.contains("PACKET_LENGTH_TOO_LONG") || text.contains("HTTP_REQUEST") {
                return "\(hostPort) does not speak TLS: \(advice.plainHTTP) if it is plain HTTP"
            }
            return "the TLS handshake with \(hostPort) failed before it presented a certificate (\(shortReason(text)))"
        }
        if now > cert.notValidAfter {
            return
                "the certificate of \(hostPort) expired on \(iso(cert.notValidAfter)); renew it on the server (or check this machine's clock)"
        }
        if now < cert.notValidBefore {
            return
                "the certificate of \(hostPort) is not valid until \(iso(cert.notValidBefore)); check the clocks of this machine and the server"
        }
        var problems: [String] = []
        // Trust: a certificate that is, or is issued by, one in the extra CA file is trusted; a self-signed one
        // that is not there cannot be.
        let extra = extraCAFile.map(loadCertificates) ?? []
        let trustedByExtra = extra.contains { $0 == cert || $0.subject == cert.issuer }
        let selfSigned = cert.issuer == cert.subject
        let trustedBy = extraCAFile.map { "the system trust store or \($0)" } ?? "the system trust store"
        let trustProblem =
            "it is \(selfSigned ? "self-signed" : "issued by \(cert.issuer)"), which \(trustedBy) does not trust (unknown CA): "
            + "pass \(selfSigned ? "that certificate" : "that CA's certificate") with \(advice.caFlag) FILE (PEM)"
        if selfSigned && !trustedByExtra { problems.append(trustProblem) }
        let names = subjectNames(cert)
        if !matches(host, names) {
            let listed = names.isEmpty ? "none" : names.joined(separator: ", ")
            let usable = names.first(where: { !$0.hasPrefix("*") && !$0.hasPrefix("IP ") }) ?? "NAME"
            problems.append(
                "it does not name \(host) (its names: \(listed)): connect with a name it carries, "
                    + "e.g. \(advice.reconnect(usable, port)), or reissue it with \(host) in its subjectAltName")
        }
        if problems.isEmpty && !trustedByExtra { problems.append(trustProblem) }
        if problems.isEmpty { return "the TLS handshake with \(hostPort) failed (\(shortReason(text)))" }
        return "the certificate of \(hostPort) was rejected: " + problems.joined(separator: "; and ")
    }

    /// What clients will reject in a server's own certificate (the first in `chainFile`), served for `host`:
    /// validity dates, and whether it names the host (the one clients connect to: 127.0.0.1 and localhost
    /// for a wildcard address). Empty when nothing is wrong; a test server may mean to serve a bad one.
    public static func problemsServing(_ chainFile: String, host: String, now: Date = Date()) -> [String] {
        guard let first = try? TLSFiles.certificates(chainFile, flag: "--tls-cert").first, let der = try? first.toDERBytes(),
            let leaf = try? Certificate(derEncoded: der)
        else { return [] }
        var problems: [String] = []
        if now > leaf.notValidAfter { problems.append("expired on \(iso(leaf.notValidAfter)): every verifying client rejects it") }
        if now < leaf.notValidBefore { problems.append("is not valid until \(iso(leaf.notValidBefore)): verifying clients reject it") }
        let names = subjectNames(leaf)
        let wildcardAddress = host == "0.0.0.0" || host == "::" || host == "[::]"
        let hosts = wildcardAddress ? ["127.0.0.1", "localhost"] : [host.hasPrefix("[") ? String(host.dropFirst().dropLast()) : host]
        if !hosts.contains(where: { matches($0, names) }) {
            problems.append(
                "does not name \(hosts.joined(separator: " or ")) (its subjectAltNames: \(names.isEmpty ? "none" : names.joined(separator: ", "))): "
                    + "clients that verify (Python ≥ 3.13, curl, the SDKs) reject it; reissue it with the names in its subjectAltName (openssl req -x509 … -addext \"subjectAltName=IP:127.0.0.1,DNS:localhost\"; a CA-signed one: openssl x509 -req … -extfile with subjectAltName=IP:127.0.0.1,DNS:localhost)")
        }
        return problems
    }

    static func loadCertificates(_ path: String) -> [Certificate] {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { return [] }
        if let docs = try? PEMDocument.parseMultiple(pemString: text) {
            return docs.compactMap { try? Certificate(derEncoded: $0.derBytes) }
        }
        return []
    }

    static func subjectNames(_ cert: Certificate) -> [String] {
        guard let san = try? cert.extensions.subjectAlternativeNames else { return [] }
        return san.compactMap { name in
            switch name {
            case .dnsName(let d): return d
            case .ipAddress(let ip): return "IP " + ipString(Array(ip.bytes))
            default: return nil
            }
        }
    }

    static func matches(_ host: String, _ names: [String]) -> Bool {
        let h = host.lowercased()
        for n in names.map({ $0.lowercased() }) {
            if n == h || n == "ip " + h { return true }
            if n.hasPrefix("*."), let dot = h.firstIndex(of: "."), h[dot...] == n.dropFirst() { return true }
        }
        return false
    }

    static func ipString(_ b: [UInt8]) -> String {
        if b.count == 4 { return b.map(String.init).joined(separator: ".") }
        return stride(from: 0, to: b.count, by: 2).map { String(UInt16(b[$0]) << 8 | UInt16(b[$0 + 1]), radix: 16) }.joined(separator: ":")
    }

    static func shortReason(_ text: String) -> String {
        if let r = text.range(of: "OPENSSL_internal:") {
            return String(text[r.upperBound...].prefix { $0 != "]" && $0 != ")" })
        }
        return String(text.prefix(160))
    }

    static func iso(_ d: Date) -> String {
        let f = ISO8601DateFormatter()
        return f.string(from: d)
    }
}
