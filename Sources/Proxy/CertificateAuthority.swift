import Cassette
import Crypto
import _CryptoExtras
import Foundation
import NIOSSL
import SwiftASN1
import Synchronization
import X509

/// The interception CA: created on first use in its directory (`ca.pem`, and `ca-key.pem` readable by
/// the owner only), then mints and caches a leaf certificate per host for intercepted CONNECT tunnels.
/// Clients trust it through `DIR/ca.pem` (e.g. `REQUESTS_CA_BUNDLE`, `SSL_CERT_FILE`).
///
/// Certificates pass strict X.509 verification (OpenSSL's `X509_V_FLAG_X509_STRICT`, on by default in
/// Python ≥ 3.13 and recent urllib3): the CA has critical basic constraints, key usage and its Subject Key
/// Identifier; each leaf has an Authority Key Identifier equal to the CA's SKI, its own SKI, key usage,
/// EKU serverAuth and subjectAltNames (DNS names, or IP addresses for IP literals).
public final class CertificateAuthority: Sendable {
    public let directory: String
    public var certificatePath: String { directory + "/ca.pem" }
    let certificate: Certificate
    private let key: Certificate.PrivateKey
    /// The signature the CA's key makes (ECDSA with its curve's hash, or RSA PKCS#1 v1.5 with SHA-256).
    private let signatureAlgorithm: Certificate.SignatureAlgorithm
    /// The CA's Subject Key Identifier, which every leaf names as its Authority Key Identifier.
    private let keyIdentifier: ArraySlice<UInt8>
    private let contexts = Mutex<[String: NIOSSLContext]>([:])
    private let leaves = Mutex<[String: Certificate]>([:])

    /// Set when this start made a new CA where half of one was (a `ca.pem` without its key, or the reverse):
    /// clients that trusted the old certificate must trust the new one.
    public let notice: String?

    public init(directory: String) throws {
        self.directory = directory
        try CertificateAuthority.makeFolder(directory)
        // Proxies started together with the same new folder (parallel test workers, first run) make one CA:
        // the first makes it under the lock, the others then read it.
        let lockPath = directory + "/.lock"
        let lock = open(lockPath, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard lock >= 0 else { throw CertificateAuthorityError("cannot create \(lockPath): \(String(cString: strerror(errno)))") }
        defer { close(lock) }
        while flock(lock, LOCK_EX) != 0 && errno == EINTR {}
        let certPath = directory + "/ca.pem", keyPath = directory + "/ca-key.pem"
        let haveCert = access(certPath, F_OK) == 0, haveKey = access(keyPath, F_OK) == 0
        if haveCert && haveKey {
            (certificate, key, signatureAlgorithm) = try CertificateAuthority.load(certPath: certPath, keyPath: keyPath)
            keyIdentifier =
                (try? certificate.extensions.subjectKeyIdentifier?.keyIdentifier)
                ?? SubjectKeyIdentifier(hash: key.publicKey).keyIdentifier
            // A CA made by hand (`openssl req -x509` without -addext) often lacks keyUsage: OpenSSL's strict mode
            // (Python ≥ 3.13) then refuses every leaf it signs. Served as given, with the reason said once at start.
            let usage = (try? certificate.extensions.keyUsage) ?? nil
            notice =
                usage?.keyCertSign == true
                ? nil
                : "the CA in \(certPath) has no keyUsage with keyCertSign: strict clients (Python ≥ 3.13, `openssl verify -x509_strict`) refuse the certificates it signs (\"CA cert does not include key usage extension\"); remake it with -addext 'keyUsage=critical,keyCertSign,cRLSign', or remove ca.pem and ca-key.pem for a new CA"
            return
        }
        notice =
            haveCert || haveKey
            ? "made a new CA in \(directory): \(haveCert ? "ca.pem was there without ca-key.pem" : "ca-key.pem was there without ca.pem"); clients that trusted the old certificate must trust the new \(certPath)"
            : nil
        let key = P256.Signing.PrivateKey()
        self.key = Certificate.PrivateKey(key)
        self.signatureAlgorithm = .ecdsaWithSHA256
        let ski = SubjectKeyIdentifier(hash: .init(key.publicKey))
        keyIdentifier = ski.keyIdentifier
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
                ski
                AuthorityKeyIdentifier(keyIdentifier: ski.keyIdentifier)
            },
            issuerPrivateKey: .init(key))
        self.certificate = certificate
        // The key first, created owner-only by open(2) itself, so no byte of it is ever readable by others.
        try CertificateAuthority.writePrivate(Array(key.pemRepresentation.utf8), to: keyPath)
        // Ending in a newline, so `cat ca.pem other.pem > bundle.pem` is a valid bundle.
        try (certificate.serializeAsPEM().pemString + "\n").write(toFile: certPath, atomically: true, encoding: .utf8)
    }

    /// An existing CA: its key readable by the owner only, and the certificate's public key the key's.
    private static func load(certPath: String, keyPath: String) throws -> (Certificate, Certificate.PrivateKey, Certificate.SignatureAlgorithm) {
        var st = stat()
        if stat(keyPath, &st) == 0, st.st_mode & 0o077 != 0 {
            throw CertificateAuthorityError(
                "\(keyPath) is readable by other users (mode \(String(st.st_mode & 0o777, radix: 8))): whoever reads it can impersonate any site to clients that trust this CA; `chmod 600 \(keyPath)` if no one else has read it, else remove both files for a new CA"
            )
        }
        let certificate: Certificate
        do { certificate = try Certificate(pemEncoded: String(contentsOfFile: certPath, encoding: .utf8)) } catch {
            throw CertificateAuthorityError("\(certPath) is not a PEM certificate (\(error)); remove ca.pem and ca-key.pem for a new CA")
        }
        let pem = (try? String(contentsOfFile: keyPath, encoding: .utf8)) ?? ""
        // What openssl makes: EC (P-256, P-384, P-521; SEC1 or PKCS#8) or RSA (PKCS#1 or PKCS#8, 2048 bits or more).
        let key: Certificate.PrivateKey, algorithm: Certificate.SignatureAlgorithm
        if let k = try? P256.Signing.PrivateKey(pemRepresentation: pem) {
            (key, algorithm) = (.init(k), .ecdsaWithSHA256)
        } else if let k = try? P384.Signing.PrivateKey(pemRepresentation: pem) {
            (key, algorithm) = (.init(k), .ecdsaWithSHA384)
        } else if let k = try? P521.Signing.PrivateKey(pemRepresentation: pem) {
            (key, algorithm) = (.init(k), .ecdsaWithSHA512)
        } else if let k = try? _RSA.Signing.PrivateKey(pemRepresentation: pem) {
            (key, algorithm) = (.init(k), .sha256WithRSAEncryption)
        } else {
            throw CertificateAuthorityError(
                "\(keyPath) is not a PEM private key this proxy signs with (EC P-256/P-384/P-521 or RSA of 2048 bits or more, unencrypted); remove ca.pem and ca-key.pem for a new CA"
            )
        }
        guard certificate.publicKey == key.publicKey else {
            throw CertificateAuthorityError(
                "\(certPath) and \(keyPath) are not a pair (the certificate is for another key): every intercepted connection would fail; put the matching files back, or remove both for a new CA"
            )
        }
        return (certificate, key, algorithm)
    }

    /// `mkdir -p`, the last level owner-only (it holds the key); names the level that fails and why.
    private static func makeFolder(_ directory: String) throws {
        // A one-part relative path (`--ca-dir myca`) has no parent to create: it is in the working directory.
        let parent = CassettePath.directory(of: directory)
        if !parent.isEmpty {
            var prefix = parent.hasPrefix("/") ? "/" : ""
            for part in parent.split(separator: "/") {
                prefix += (prefix.isEmpty || prefix.hasSuffix("/") ? "" : "/") + part
                var st = stat()
                if stat(prefix, &st) == 0 && st.st_mode & S_IFMT != S_IFDIR {
                    throw CertificateAuthorityError("cannot create \(directory): \(prefix) is not a directory")
                }
                if mkdir(prefix, 0o755) != 0 && errno != EEXIST {
                    throw CertificateAuthorityError("cannot create \(directory): \(prefix): \(String(cString: strerror(errno)))")
                }
            }
        }
        if mkdir(directory, 0o700) != 0 && errno != EEXIST {
            throw CertificateAuthorityError("cannot create \(directory): \(String(cString: strerror(errno)))")
        }
        var st = stat()
        guard stat(directory, &st) == 0, st.st_mode & S_IFMT == S_IFDIR else {
            throw CertificateAuthorityError("\(directory) is not a directory; name a folder for the CA's certificate and key")
        }
    }

    /// A TLS server context presenting a certificate for `host` signed by this CA.
    public func serverContext(for host: String) throws -> NIOSSLContext {
        if let c = contexts.withLock({ $0[host] }) { return c }
        let leafKey = P256.Signing.PrivateKey()
        let now = Date()
        let san: GeneralName
        if let ip = CertificateAuthority.ipAddressBytes(host) {
            san = .ipAddress(ASN1OctetString(contentBytes: ArraySlice(ip)))
        } else {
            san = .dnsName(host)
        }
        let leaf = try Certificate(
            version: .v3, serialNumber: Certificate.SerialNumber(), publicKey: .init(leafKey.publicKey),
            notValidBefore: now.addingTimeInterval(-3600), notValidAfter: now.addingTimeInterval(365 * 86400),
            // The name is in the SAN; a CN holds at most 64 characters (RFC 5280 ub-common-name), so a longer host gets a fixed one.
            issuer: certificate.subject, subject: try DistinguishedName { CommonName(host.utf8.count <= 64 ? host : "Tapedeck interception") },
            signatureAlgorithm: signatureAlgorithm,
            extensions: try Certificate.Extensions {
                Critical(BasicConstraints.notCertificateAuthority)
                Critical(KeyUsage(digitalSignature: true))
                try ExtendedKeyUsage([.serverAuth])
                SubjectAlternativeNames([san])
                SubjectKeyIdentifier(hash: .init(leafKey.publicKey))
                AuthorityKeyIdentifier(keyIdentifier: keyIdentifier)
            },
            issuerPrivateKey: key)
        let chain = try [leaf, certificate].map { try NIOSSLCertificate(bytes: Array($0.serializeAsPEM().pemString.utf8), format: .pem) }
        let tls = TLSConfiguration.makeServerConfiguration(
            certificateChain: chain.map { .certificate($0) },
            privateKey: .privateKey(try NIOSSLPrivateKey(bytes: Array(leafKey.pemRepresentation.utf8), format: .pem)))
        let context = try NIOSSLContext(configuration: tls)
        contexts.withLock { $0[host] = context }
        leaves.withLock { $0[host] = leaf }
        return context
    }

}

extension CertificateAuthority {
    /// Creates `path` with mode 0600 from the first byte (O_EXCL: never reuses a file someone else made).
    static func writePrivate(_ bytes: [UInt8], to path: String) throws {
        unlink(path)  // a half-written key from an earlier crash; the certificate is missing too, so both are remade
        let fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw CertificateAuthorityError("cannot create \(path): \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        var written = 0
        while written < bytes.count {
            let n = bytes[written...].withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
            guard n > 0 else { throw CertificateAuthorityError("cannot write \(path): \(String(cString: strerror(errno)))") }
            written += n
        }
        guard fsync(fd) == 0 else { throw CertificateAuthorityError("cannot write \(path): \(String(cString: strerror(errno)))") }
    }

    /// The 4 or 16 bytes of an IPv4 or IPv6 literal (brackets allowed), nil for a DNS name.
    static func ipAddressBytes(_ host: String) -> [UInt8]? {
        let h = host.hasPrefix("[") && host.hasSuffix("]") ? String(host.dropFirst().dropLast()) : host
        var v4 = in_addr()
        if inet_pton(AF_INET, h, &v4) == 1 { return withUnsafeBytes(of: &v4) { Array($0) } }
        var v6 = in6_addr()
        if inet_pton(AF_INET6, h, &v6) == 1 { return withUnsafeBytes(of: &v6) { Array($0) } }
        return nil
    }

    /// The leaf certificate minted for `host`, PEM (for tests and `openssl verify`).
    func leafPEM(for host: String) throws -> String {
        _ = try serverContext(for: host)
        guard let leaf = leaves.withLock({ $0[host] }) else { throw CertificateAuthorityError("no leaf minted for \(host)") }
        return try leaf.serializeAsPEM().pemString
    }
}

public struct CertificateAuthorityError: Error, CustomStringConvertible {
    public var description: String
    init(_ d: String) { description = d }
}
