import Foundation
import NIOSSL
import SwiftASN1
import X509

/// Turns an upstream TLS failure into a sentence a user can act on: which host, what failed (unknown CA,
/// name not in the certificate, expired, not TLS at all) and the fix. The certificate the upstream
/// presented is read back from the TLS handler and checked the way a verifier would.
enum UpstreamTLSDiagnosis {
    static func explain(_ error: Error, target: UpstreamTarget, peer: NIOSSLCertificate?, extraCAFile: String?, now: Date = Date()) -> Error
    {
        guard error is NIOSSLError || error is BoringSSLError || error is NIOSSLExtraError else { return error }
        return UpstreamError.tls(sentence(error, target: target, peer: peer, extraCAFile: extraCAFile, now: now))
    }

    static func sentence(_ error: Error, target: UpstreamTarget, peer: NIOSSLCertificate?, extraCAFile: String?, now: Date) -> String {
        let host = "\(target.host):\(target.port)"
        let text = "\(error)"
        guard let peer, let der = try? peer.toDERBytes(), let cert = try? Certificate(derEncoded: der) else {
            if text.contains("WRONG_VERSION_NUMBER") || text.contains("PACKET_LENGTH_TOO_LONG") || text.contains("HTTP_REQUEST") {
                return "\(host) does not speak TLS: use --upstream http://\(target.authority) if it is plain HTTP"
            }
            return "the TLS handshake with \(host) failed before it presented a certificate (\(shortReason(text)))"
        }
        if now > cert.notValidAfter {
            return
                "the certificate of \(host) expired on \(iso(cert.notValidAfter)); renew it on the server (or check this machine's clock)"
        }
        if now < cert.notValidBefore {
            return
                "the certificate of \(host) is not valid until \(iso(cert.notValidBefore)); check the clocks of this machine and the server"
        }
        var problems: [String] = []
        // Trust: a certificate that is, or is issued by, one in --upstream-ca is trusted; a self-signed one that
        // is not there cannot be.
        let extra = extraCAFile.map(loadCertificates) ?? []
        let trustedByExtra = extra.contains { $0 == cert || $0.subject == cert.issuer }
        let selfSigned = cert.issuer == cert.subject
        let trustedBy = extraCAFile.map { "the system trust store or \($0)" } ?? "the system trust store"
        let trustProblem =
            "it is \(selfSigned ? "self-signed" : "issued by \(cert.issuer)"), which \(trustedBy) does not trust (unknown CA): "
            + "pass \(selfSigned ? "that certificate" : "that CA's certificate") with --upstream-ca FILE (PEM)"
        if selfSigned && !trustedByExtra { problems.append(trustProblem) }
        let names = subjectNames(cert)
        if !matches(target.host, names) {
            let listed = names.isEmpty ? "none" : names.joined(separator: ", ")
            let usable = names.first(where: { !$0.hasPrefix("*") && !$0.hasPrefix("IP ") }) ?? "NAME"
            problems.append(
                "it does not name \(target.host) (its names: \(listed)): connect with a name it carries, "
                    + "e.g. --upstream https://\(usable):\(target.port), or reissue it with \(target.host) in its subjectAltName")
        }
        if problems.isEmpty && !trustedByExtra { problems.append(trustProblem) }
        if problems.isEmpty { return "the TLS handshake with \(host) failed (\(shortReason(text)))" }
        return "the certificate of \(host) was rejected: " + problems.joined(separator: "; and ")
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
