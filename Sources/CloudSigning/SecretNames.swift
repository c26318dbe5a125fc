import Foundation

/// Which parameter, header and JSON field names carry credentials, whatever their case or separators:
/// a name is secret when, lower-cased with `_`, `-` and `.` removed, it contains one of `fragments` and none
/// of `harmless` (pagination and idempotency tokens, signature metadata). One rule for redaction and for
/// match keys, so a redacted field compares equal on replay.
public enum SecretNames {
    static let fragments: [[UInt8]] = [
        "secret", "password", "passwd", "privatekey", "token", "apikey", "accesskey", "signature",
        "credential", "sessionkey", "authorization", "cookie", "authenticate",
    ].map { Array($0.utf8) }
    static let harmless: [[UInt8]] = [
        "nexttoken", "clienttoken", "pagetoken", "continuationtoken", "tokentype", "signaturemethod",
        "signatureversion", "signaturenonce", "signaturetype", "expiresin", "tokenexpir",
    ].map { Array($0.utf8) }

    /// Whether `name` names a credential. Allocation-free for names up to 64 bytes (the common case).
    public static func isSecret<S: StringProtocol>(_ name: S) -> Bool {
        var buffer: (UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0, 0, 0, 0, 0)
        return withUnsafeMutableBytes(of: &buffer) { raw -> Bool in
            var n = 0
            for b in name.utf8 where b != UInt8(ascii: "_") && b != UInt8(ascii: "-") && b != UInt8(ascii: ".") {
                guard n < raw.count else { return slowIsSecret(String(name)) }
                raw[n] = b >= 65 && b <= 90 ? b + 32 : b
                n += 1
            }
            let normalized = UnsafeRawBufferPointer(rebasing: raw[0..<n])
            return fragments.contains { contains(normalized, $0) } && !harmless.contains { contains(normalized, $0) }
        }
    }

    /// Whether already-normalized text (lower-cased, separators removed) contains any secret-name fragment.
    public static func mentionsSecretName(_ normalized: [UInt8]) -> Bool {
        normalized.withUnsafeBytes { n in fragments.contains { contains(n, $0) } }
    }

    private static func slowIsSecret(_ name: String) -> Bool {
        let normalized = Array(
            name.lowercased().utf8.filter { $0 != UInt8(ascii: "_") && $0 != UInt8(ascii: "-") && $0 != UInt8(ascii: ".") })
        return normalized.withUnsafeBytes { n in
            fragments.contains { contains(n, $0) } && !harmless.contains { contains(n, $0) }
        }
    }

    /// Substring search: `memchr` (vectorised in libc) to each candidate first byte, then `memcmp`.
    public static func contains(_ hay: UnsafeRawBufferPointer, _ needle: [UInt8]) -> Bool {
        guard !needle.isEmpty, hay.count >= needle.count, let base = hay.baseAddress else { return false }
        return needle.withUnsafeBytes { n -> Bool in
            guard let nb = n.baseAddress else { return false }
            let end = base + (hay.count - n.count + 1)
            var p = base
            while p < end {
                guard let hit = memchr(p, Int32(n[0]), end - p) else { return false }
                if memcmp(hit, nb, n.count) == 0 { return true }
                p = UnsafeRawPointer(hit) + 1
            }
            return false
        }
    }
}
