import Crypto
import Foundation

enum Hex {
    private static let digits: [UInt8] = Array("0123456789abcdef".utf8)
    static func encode<S: Sequence>(_ bytes: S) -> String where S.Element == UInt8 {
        var out = [UInt8]()
        for b in bytes {
            out.append(digits[Int(b >> 4)])
            out.append(digits[Int(b & 0xF)])
        }
        return String(decoding: out, as: UTF8.self)
    }
}

extension SHA256 {
    /// Lower-case hex SHA-256, as both clouds' canonical requests use it.
    static func hex<D: DataProtocol>(_ data: D) -> String { Hex.encode(SHA256.hash(data: data)) }
}

/// Compares two strings in time independent of where they first differ.
func constantTimeEquals(_ a: String, _ b: String) -> Bool {
    let x = Array(a.utf8), y = Array(b.utf8)
    guard x.count == y.count else { return false }
    var diff: UInt8 = 0
    for i in 0..<x.count { diff |= x[i] ^ y[i] }
    return diff == 0
}
