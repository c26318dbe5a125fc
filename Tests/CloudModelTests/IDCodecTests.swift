@testable import CloudModel
import Foundation
import Testing

@Suite struct IDCodecTests {
    @Test(arguments: [IDCodec.Style.aliyun, .huawei])
    func idsRoundTripAndLookLikeTheCloud(style: IDCodec.Style) {
        let codec = IDCodec(style: style, seed: 42)
        var seen = Set<String>()
        for key in [0, 1, 2, 999, 1_000_000, UInt64(UInt32.max) << 32 | 7] as [UInt64] {
            for kind in [IDCodec.Kind.group, .rule] {
                let id = codec.format(key, kind: kind)
                #expect(codec.parse(id, kind: kind) == key, "\(id)")
                #expect(seen.insert(id).inserted)
                switch style {
                case .aliyun: #expect(id.hasPrefix(kind == .group ? "sg-bp" : "sgr-bp"))
                case .huawei: #expect(id.count == 36 && id.split(separator: "-").map(\.count) == [8, 4, 4, 4, 12])
                }
            }
        }
    }

    /// Request ids are written digit by digit; Foundation's `UUID` formats the same 128 bits independently.
    @Test func requestIDsAreTheUUIDOfTheirBits() {
        var rng = SplitMix64(seed: 9)
        for _ in 0..<200 {
            let hi = rng.next(), lo = rng.next()
            var bytes = [UInt8]()
            for word in [hi, lo] { for i in (0..<8).reversed() { bytes.append(UInt8(truncatingIfNeeded: word >> (8 * UInt64(i)))) } }
            let uuid = UUID(uuid: (bytes[0], bytes[1], bytes[2], bytes[3], bytes[4], bytes[5], bytes[6], bytes[7],
                                   bytes[8], bytes[9], bytes[10], bytes[11], bytes[12], bytes[13], bytes[14], bytes[15])).uuidString
            #expect(IDCodec.hexID(hi, lo, dashes: true, uppercase: true) == uuid)
            #expect(IDCodec.uuid(hi, lo) == uuid.lowercased())
            #expect(IDCodec.hexID(hi, lo, dashes: false, uppercase: false) == uuid.lowercased().filter { $0 != "-" })
        }
        let clock = SimulatorClock(fixedTime: 0, seed: 3)
        #expect(clock.aliyunRequestID().count == 36 && clock.huaweiRequestID().count == 32)
    }

    /// The 1 + 6 + 6 reading of 13 base-36 digits agrees with the digit-by-digit one: random strings over digits,
    /// letters of both cases and other bytes, and every value around 2^64 (where the top digit 3 may overflow).
    @Test func thirteenDigitParseAgreesWithTheDigitByDigitOne() {
        // The reading it replaced: one checked multiply-add per digit.
        func digitByDigit(_ s: [UInt8]) -> UInt64? {
            var v: UInt64 = 0
            for c in s {
                let d: UInt64
                switch c {
                case UInt8(ascii: "0")...UInt8(ascii: "9"): d = UInt64(c - UInt8(ascii: "0"))
                case UInt8(ascii: "a")...UInt8(ascii: "z"): d = UInt64(c - UInt8(ascii: "a")) + 10
                default: return nil
                }
                let (m, o1) = v.multipliedReportingOverflow(by: 36)
                let (a, o2) = m.addingReportingOverflow(d)
                if o1 || o2 { return nil }
                v = a
            }
            return v
        }
        func both(_ text: [UInt8]) -> (UInt64?, UInt64?) {
            (text.withUnsafeBufferPointer { IDCodec.parseBase36($0) }, digitByDigit(text))
        }
        let alphabet = Array("0123456789abcdefghijklmnopqrstuvwxyzAZ-_/: \u{7f}".utf8) + [0, 0xC3, 0xFF]
        var rng = SplitMix64(seed: 13)
        var parsed = 0
        for i in 0..<200_000 {
            // Mostly valid digits (so most strings parse), sometimes one foreign byte.
            var text = (0..<13).map { _ in alphabet[rng.below(36)] }
            if i % 4 != 0 { text[0] = alphabet[rng.below(4)] }  // a top digit of 4 or more is always above 2^64
            if i % 3 == 0 { text[rng.below(13)] = alphabet[rng.below(alphabet.count)] }
            let (fast, slow) = both(text)
            #expect(fast == slow, "\(String(decoding: text, as: UTF8.self))")
            parsed += fast == nil ? 0 : 1
        }
        #expect(parsed > 80_000)
        let max = Array("3w5e11264sgsf".utf8)  // 2^64 - 1
        #expect(both(max) == (UInt64.max, UInt64.max))
        for text in ["3w5e11264sgsg", "3w5e11264sgt0", "3w5e11264sh00", "3zzzzzzzzzzzz", "4000000000000", "zzzzzzzzzzzzz"] {
            #expect(both(Array(text.utf8)) == (nil, nil), "\(text) is above 2^64 - 1")
        }
        #expect(both(Array("0000000000000".utf8)) == (0, 0))
    }

    @Test func foreignIdsDoNotParse() {
        let a = IDCodec(style: .aliyun, seed: 1), h = IDCodec(style: .huawei, seed: 1)
        #expect(a.parse("sg-1133aa", kind: .group) == nil)
        #expect(a.parse("sg-bp!!!!!!!!!!!!!", kind: .group) == nil)
        #expect(h.parse("69c999ad-d9ef-4d79-94fd-35e6ceb75325", kind: .group) == nil, "checksum half must match")
        #expect(h.parse("not-a-uuid", kind: .group) == nil)
    }

    @Test func seedsGiveDifferentIds() {
        #expect(IDCodec(style: .aliyun, seed: 1).format(5, kind: .group) != IDCodec(style: .aliyun, seed: 2).format(5, kind: .group))
    }
}
