@testable import CloudModel
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
