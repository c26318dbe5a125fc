import Crypto
import Foundation
import NIOSSL
import SwiftASN1
import Synchronization
import X509

/// The interception CA: created on first use in its directory (`ca.pem`, and `ca-key.pem` readable by
/// the owner only), then mints and caches a leaf certificate per host for intercepted CONNECT tunnels.
/// Clients trust it through `DIR/ca.pem` (e.g. `REQUESTS_CA_BUNDLE`, `SSL_CERT_FILE`).
public final class CertificateAuthority: Sendable {
    public let directory: String
    public var certificatePath: String { directory + "/ca.pem" }
    private let certificate: Certificate
    private let key: P256.Signing.PrivateKey
    private let contexts = Mutex<[String: NIOSSLContext]>([:])

    public init(directory: String) throws {
        self.directory = directory
        let fm = FileManager.default
        let certPath = directory + "/ca.pem", keyPath = directory + "/ca-key.pem"
        if fm.fileExists(atPath: certPath), fm.fileExists(atPath: keyPath) {
            certificate = try Certificate(pemEncoded: String(contentsOfFile: certPath, encoding: .utf8))
            key = try P256.Signing.PrivateKey(pemRepresentation: String(contentsOfFile: keyPath, encoding: .utf8))
            return
        }
        try fm.createDirectory(atPath: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        let key = P256.Signing.PrivateKey()
        self.key = key
        let name = try DistinguishedName {
            OrganizationName("Tapedeck")
            CommonName("Tapedeck interception CA")
        }
        let now = Date()
        let certificate = try Certificate(
            version: .v3, serialNumber: Certificate.SerialNumber(), publicKey: .init(key.publicKey),
            notValidBefore: now.addingTimeInterval(-3600), notValidAfter: now.addingTimeInterval(10 * 365 * 86400),
            issuer: name, subject: name, signatureAlgorithm: .ecdsaWithSHA256,
            extensions: try Certificate.Extensions {
                Critical(BasicConstraints.isCertificateAuthority(maxPathLength: 0))
                Critical(KeyUsage(keyCertSign: true, cRLSign: true))
                SubjectKeyIdentifier(hash: .init(key.publicKey))
            },
            issuerPrivateKey: .init(key))
        self.certificate = certificate
        // The key first, created owner-only, so it is never readable by others even briefly.
        guard fm.createFile(atPath: keyPath, contents: Data(key.pemRepresentation.utf8), attributes: [.posixPermissions: 0o600]) else {
            throw CertificateAuthorityError("cannot write \(keyPath)")
        }
        try certificate.serializeAsPEM().pemString.write(toFile: certPath, atomically: true, encoding: .utf8)
    }

    /// A TLS server context presenting a certificate for `host` signed by this CA.
    public func serverContext(for host: String) throws -> NIOSSLContext {
        if let c = contexts.withLock({ $0[host] }) { return c }
        let leafKey = P256.Signing.PrivateKey()
        let now = Date()
        let san: GeneralName
        if let ip = IPv4(host) { san = .ipAddress(ASN1OctetString(contentBytes: ArraySlice(ip))) } else { san = .dnsName(host) }
        let leaf = try Certificate(
            version: .v3, serialNumber: Certificate.SerialNumber(), publicKey: .init(leafKey.publicKey),
            notValidBefore: now.addingTimeInterval(-3600), notValidAfter: now.addingTimeInterval(365 * 86400),
            issuer: certificate.subject, subject: try DistinguishedName { CommonName(host) }, signatureAlgorithm: .ecdsaWithSHA256,
            extensions: try Certificate.Extensions {
                Critical(BasicConstraints.notCertificateAuthority)
                Critical(KeyUsage(digitalSignature: true))
                try ExtendedKeyUsage([.serverAuth])
                SubjectAlternativeNames([san])
            },
            issuerPrivateKey: .init(key))
        let chain = try [leaf, certificate].map { try NIOSSLCertificate(bytes: Array($0.serializeAsPEM().pemString.utf8), format: .pem) }
        let tls = TLSConfiguration.makeServerConfiguration(
            certificateChain: chain.map { .certificate($0) },
            privateKey: .privateKey(try NIOSSLPrivateKey(bytes: Array(leafKey.pemRepresentation.utf8), format: .pem)))
        let context = try NIOSSLContext(configuration: tls)
        contexts.withLock { $0[host] = context }
        return context
    }

}

private func IPv4(_ s: String) -> [UInt8]? {
    let parts = s.split(separator: ".")
    guard parts.count == 4 else { return nil }
    let bytes = parts.compactMap { UInt8($0) }
    return bytes.count == 4 ? bytes : nil
}

public struct CertificateAuthorityError: Error, CustomStringConvertible {
    public var description: String
    init(_ d: String) { description = d }
}
