import Foundation

/// Which parameter, header and JSON field names carry credentials, whatever their case or separators:
/// a name is secret when, lower-cased with `_`, `-` and `.` removed, it contains one of `fragments` and none
/// of `harmless` (pagination and idempotency tokens, signature metadata). One rule for redaction and for
/// match keys, so a redacted field compares equal on replay.
public enum SecretNames {
    static let fragments: [[UInt8]] = [
        "secret", "password", "passwd", "passphrase", "privatekey", "token", "apikey", "accesskey", "signature",
        "credential", "sessionkey", "authorization", "authentication", "cookie", "authenticate",
    ].map { Array($0.utf8) }
    static let harmless: [[UInt8]] = [
        "nexttoken", "clienttoken", "pagetoken", "continuationtoken", "paginationtoken", "tokentype", "signaturemethod",
        "signatureversion", "signaturenonce", "signaturetype", "expiresin", "tokenexpir",
        // Counts and policies about credentials, not credentials: `prompt_tokens`, `MinimumPasswordLength`,
        // `token_ttl`, `MaxPasswordAge`, `PasswordReusePrevention`, `GetAccountPasswordPolicy`.
        "prompttokens", "completiontokens", "totaltokens", "maxtokens", "inputtokens", "outputtokens", "length", "ttl",
        "passwordage", "reuseprevention", "policy", "tokencount",
    ].map { Array($0.utf8) }

    /// Whole names (normalized) that are credentials though no fragment is in them: short forms APIs use
    /// (`pwd`, `pass`, Azure SAS `sig`, `X-Auth-Key`, `Ocp-Apim-Subscription-Key`). Exact only: `passenger`
    /// and a tag's `Key` are not.
    static let exactNames: [[UInt8]] = ["pwd", "pass", "sig", "xauthkey", "subscriptionkey", "ocpapimsubscriptionkey"].map { Array($0.utf8) }

    /// What a text is scanned for before it is parsed: the fragments and the exact names (a body whose only
    /// credential is `pwd=` is parsed too; a word that merely contains `sig` costs a parse, not a leak).
    static let gateFragments: [[UInt8]] = fragments + exactNames

    /// Whether `name` names a credential. Allocation-free for names up to 64 bytes (the common case).
    public static func isSecret(_ name: String) -> Bool {
        if let r = name.utf8.withContiguousStorageIfAvailable({ isSecret(utf8: $0) }) { return r }  // borrowed, not copied
        var name = name
        return name.withUTF8 { isSecret(utf8: $0) }
    }

    public static func isSecret<S: StringProtocol>(_ name: S) -> Bool {
        if let r = name.utf8.withContiguousStorageIfAvailable({ isSecret(utf8: $0) }) { return r }
        return isSecret(String(name))
    }

    private static func isSecret(utf8 src: UnsafeBufferPointer<UInt8>) -> Bool {
        guard src.count <= 64 else { return slowIsSecret(String(decoding: src, as: UTF8.self)) }
        var buffer: (UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0, 0, 0, 0, 0)
        return withUnsafeMutableBytes(of: &buffer) { raw -> Bool in
            let normalized = UnsafeRawBufferPointer(rebasing: raw[0..<normalize(src, into: raw)])
            return (scan(normalized) && !harmless.contains { contains(normalized, $0) })
                || exactNames.contains { $0.count == normalized.count && $0.elementsEqual(normalized) }
        }
    }

    /// Writes `src` normalized (lower-cased; `_`, `-`, `.` and NUL dropped) to `dst`, which holds at least
    /// `src.count` bytes; returns the normalized length.
    private static func normalize(_ src: UnsafeBufferPointer<UInt8>, into dst: UnsafeMutableRawBufferPointer) -> Int {
        var k = 0
        normalizing.withUnsafeBufferPointer { table in
            for b in src {
                let m = table[Int(b)]
                dst[k] = m
                k &+= m == 0 ? 0 : 1
            }
        }
        return k
    }

    /// Whether `text`, normalized as names are (lower-cased, `_`, `-` and `.` removed), contains a
    /// secret-name fragment or one of `extra` (given normalized). One pass: each position's two bytes are
    /// looked up in a bitmap of the fragments' first two, and only those candidates are compared, instead of
    /// a `memchr` + `memcmp` walk per fragment (which an answer full of `securitygroupid` kept stopping).
    public static func mentionsSecretName(in text: String, orAnyOf extra: [[UInt8]] = []) -> Bool {
        var text = text
        return text.withUTF8 { src -> Bool in
            guard !src.isEmpty else { return false }
            if scanRaw(src) { return true }
            guard !extra.isEmpty else { return false }
            // `--redact` names are searched in a normalized copy.
            let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: src.count, alignment: 8)
            defer { buffer.deallocate() }
            let hay = UnsafeRawBufferPointer(rebasing: buffer[0..<normalize(src, into: buffer)])
            return extra.contains { contains(hay, $0) }
        }
    }

    /// `scan` over `src` normalized on the fly, without a normalized copy (a recorded answer is scanned
    /// once per exchange): each normalized byte is paired with the one before it; a pair that starts a
    /// fragment is compared from there, normalizing as it goes.
    private static func scanRaw(_ src: UnsafeBufferPointer<UInt8>) -> Bool {
        normalizing.withUnsafeBufferPointer { table in
            leadPairs.withUnsafeBufferPointer { bits in
                var prev = 0  // the previous normalized byte (0: none yet)
                var prevAt = 0  // where it is in `src`
                for i in 0..<src.count {
                    let m = Int(table[Int(src[i])])
                    if m == 0 { continue }
                    let pair = prev | m << 8
                    if bits[pair >> 6] & (1 << UInt64(pair & 63)) != 0 && startsFragment(src, at: prevAt, table) { return true }
                    prev = m
                    prevAt = i
                }
                return false
            }
        }
    }

    /// Whether some fragment starts at `src[at]`, comparing normalized bytes.
    private static func startsFragment(_ src: UnsafeBufferPointer<UInt8>, at start: Int, _ table: UnsafeBufferPointer<UInt8>) -> Bool {
        gateFragments.contains { f in
            var j = start
            var k = 0
            while k < f.count {
                guard j < src.count else { return false }
                let m = table[Int(src[j])]
                j += 1
                if m == 0 { continue }
                guard m == f[k] else { return false }
                k += 1
            }
            return true
        }
    }

    /// Byte → its normalized form, 0 for the separators names drop.
    private static let normalizing: [UInt8] = (0..<256).map { b -> UInt8 in
        if b == 0x5F || b == 0x2D || b == 0x2E || b == 0 { return 0 }
        return b >= 65 && b <= 90 ? UInt8(b + 32) : UInt8(b)
    }

    /// Bit `a | b << 8` is set when some fragment starts with bytes a, b.
    private static let leadPairs: [UInt64] = {
        var bits = [UInt64](repeating: 0, count: 1024)
        for f in gateFragments {
            let pair = Int(f[0]) | Int(f[1]) << 8
            bits[pair >> 6] |= 1 << UInt64(pair & 63)
        }
        return bits
    }()

    private static func scan(_ hay: UnsafeRawBufferPointer) -> Bool {
        guard hay.count >= 2 else { return false }
        return leadPairs.withUnsafeBufferPointer { bits in
            for i in 0..<(hay.count - 1) {
                let pair = Int(hay[i]) | Int(hay[i + 1]) << 8
                guard bits[pair >> 6] & (1 << UInt64(pair & 63)) != 0 else { continue }
                let rest = UnsafeRawBufferPointer(rebasing: hay[i...])
                for f in fragments where f[0] == hay[i] && f[1] == hay[i + 1] && rest.count >= f.count {
                    if f.withUnsafeBytes({ memcmp(rest.baseAddress!, $0.baseAddress!, f.count) }) == 0 { return true }
                }
            }
            return false
        }
    }

    private static func slowIsSecret(_ name: String) -> Bool {
        let normalized = Array(
            name.lowercased().utf8.filter { $0 != UInt8(ascii: "_") && $0 != UInt8(ascii: "-") && $0 != UInt8(ascii: ".") })
        return normalized.withUnsafeBytes { n in
            fragments.contains { contains(n, $0) } && !harmless.contains { contains(n, $0) }
        } || exactNames.contains { $0 == normalized }
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
