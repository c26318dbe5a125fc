import Foundation
import NIOSSL

/// Certificates and private keys loaded by their content, whatever the file is called: PEM or DER, RSA or
/// EC, PKCS#1, SEC1 or PKCS#8 (`server.key`, the name every openssl and nginx guide uses, is usually PEM).
/// Errors name the file, the flag it came from, what is wrong and how to fix it.
public enum TLSFiles {
    public struct Failure: Error, Sendable, CustomStringConvertible {
        public var description: String
        init(_ flag: String, _ path: String, _ what: String) { description = "\(flag) \(path): \(what)" }
    }

    /// Every certificate in the file (a chain or a CA bundle), leaf first.
    public static func certificates(_ path: String, flag: String) throws -> [NIOSSLCertificate] {
        let bytes = try read(path, flag: flag)
        if isPEM(bytes) {
            let text = String(decoding: bytes, as: UTF8.self)
            guard text.contains("-----BEGIN CERTIFICATE-----") || text.contains("-----BEGIN TRUSTED CERTIFICATE-----") else {
                if text.contains("PRIVATE KEY-----") {
                    throw Failure(flag, path, "holds a private key, not a certificate (are the certificate and key files swapped?)")
                }
                throw Failure(flag, path, "is PEM but holds no CERTIFICATE block")
            }
            do { return try NIOSSLCertificate.fromPEMBytes(bytes) } catch {
                throw Failure(flag, path, "holds a CERTIFICATE block that is not a valid X.509 certificate (\(error))")
            }
        }
        do { return [try NIOSSLCertificate(bytes: bytes, format: .der)] } catch {
            throw Failure(flag, path, "is neither a PEM certificate (-----BEGIN CERTIFICATE-----) nor a DER-encoded X.509 certificate")
        }
    }

    /// The private key in the file (RSA or EC; PEM or DER; PKCS#1, SEC1 or PKCS#8, unencrypted).
    public static func privateKey(_ path: String, flag: String) throws -> NIOSSLPrivateKey {
        let bytes = try read(path, flag: flag)
        if isPEM(bytes) {
            let text = String(decoding: bytes, as: UTF8.self)
            if text.contains("ENCRYPTED") {
                throw Failure(
                    flag, path, "is an encrypted private key; write an unencrypted copy with `openssl pkey -in \(path) -out plain.key`")
            }
            guard text.contains("PRIVATE KEY-----") else {
                if text.contains("CERTIFICATE-----") {
                    throw Failure(flag, path, "holds a certificate, not a private key (are the certificate and key files swapped?)")
                }
                throw Failure(flag, path, "is PEM but holds no PRIVATE KEY block")
            }
            do { return try NIOSSLPrivateKey(bytes: bytes, format: .pem) } catch {
                throw Failure(
                    flag, path,
                    "holds a PRIVATE KEY block that cannot be read (\(error)); supported: RSA and EC keys, PKCS#1, SEC1 or PKCS#8")
            }
        }
        do { return try NIOSSLPrivateKey(bytes: bytes, format: .der) } catch {
            throw Failure(flag, path, "is neither a PEM private key nor a DER-encoded RSA or EC key (PKCS#1, SEC1 or PKCS#8)")
        }
    }

    /// A server context from a certificate (chain) file and its key file.
    public static func serverContext(certificatePath: String, keyPath: String) throws -> NIOSSLContext {
        let chain = try certificates(certificatePath, flag: "--tls-cert")
        let key = try privateKey(keyPath, flag: "--tls-key")
        let configuration = TLSConfiguration.makeServerConfiguration(
            certificateChain: chain.map { .certificate($0) }, privateKey: .privateKey(key))
        do { return try NIOSSLContext(configuration: configuration) } catch {
            throw Failure("--tls-key", keyPath, "does not match the certificate in \(certificatePath) (\(error))")
        }
    }

    static func isPEM(_ bytes: [UInt8]) -> Bool {
        let marker = Array("-----BEGIN ".utf8)
        guard bytes.count >= marker.count else { return false }
        for i in 0...(bytes.count - marker.count) where bytes[i] == marker[0] {
            if Array(bytes[i..<(i + marker.count)]) == marker { return true }
        }
        return false
    }

    /// The file's bytes; a clear error for a missing, unreadable or non-regular path (a directory, a FIFO).
    static func read(_ path: String, flag: String) throws -> [UInt8] {
        var st = stat()
        guard stat(path, &st) == 0 else { throw Failure(flag, path, "cannot be read: \(String(cString: strerror(errno)))") }
        guard (st.st_mode & S_IFMT) == S_IFREG else { throw Failure(flag, path, "is not a regular file") }
        guard st.st_size <= 1 << 20 else { throw Failure(flag, path, "is over 1 MiB: not a certificate or key file") }
        guard let data = FileManager.default.contents(atPath: path) else {
            throw Failure(flag, path, "cannot be read (permission denied?)")
        }
        guard !data.isEmpty else { throw Failure(flag, path, "is empty") }
        return Array(data)
    }
}
