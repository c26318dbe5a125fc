import CloudSigning
import Foundation
import Testing

@Suite struct SM3Tests {
    static func hex(_ b: [UInt8]) -> String { b.map { String(format: "%02x", $0) }.joined() }

    /// GB/T 32905-2016, appendix A: examples 1 ("abc") and 2 ("abcd" × 16).
    @Test func theStandardsTestVectors() {
        #expect(Self.hex(SM3.hash(Array("abc".utf8))) == "66c7f0f462eeedd9d1f2d46bdc10e4e24167c4875cf2f7a2297da02b8f4ba8e0")
        #expect(
            Self.hex(SM3.hash(Array(String(repeating: "abcd", count: 16).utf8)))
                == "debe9ff92275b8a138604889c18e5a4d6fdb70e5387e5765293dcba39c0c5732")
        #expect(Self.hex(SM3.hash([UInt8]())) == "1ab21d8355cfa17f8e61194831e81a8f22bec8c728fefb747ed035eb5082aa2b")
    }

    /// HMAC-SM3 agrees with OpenSSL's independent implementation, for short, block-sized and long keys and messages.
    @Test(arguments: [
        ("key", "The quick brown fox jumps over the lazy dog"), (String(repeating: "k", count: 64), "m"),
        (String(repeating: "long-key-", count: 12), String(repeating: "message ", count: 40)),
    ])
    func hmacMatchesOpenSSL(key: String, message: String) throws {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = ["openssl", "dgst", "-sm3", "-hmac", key, "-r"]
        let input = Pipe(), output = Pipe()
        p.standardInput = input
        p.standardOutput = output
        try p.run()
        input.fileHandleForWriting.write(Data(message.utf8))
        try input.fileHandleForWriting.close()
        let out = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        p.waitUntilExit()
        #expect(p.terminationStatus == 0)
        let expected = String(out.prefix { $0 != " " })
        #expect(Self.hex(SM3.hmac(key: Array(key.utf8), message: Array(message.utf8))) == expected)
    }
}
