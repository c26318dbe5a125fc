import CompressNIO
import Foundation
import Histogram
import NIOCore

/// HdrHistogram's standard V2 encoding (and its zlib-compressed form), as the Java, C, Go and Python
/// implementations read and write it: the `--hlog` interval log and merging reports from many workers rest
/// on it. (hdrhistogram-swift has no encoder.) Histograms here track 1 µs … 60 s at 3 significant digits.
public enum HistogramCodec {
    static let encodingCookieV2: UInt32 = 0x1C84_9303
    static let compressedCookieV2: UInt32 = 0x1C84_9304
    static let subBucketHalfCountMagnitude = 10  // 3 significant digits, lowest discernible value 1
    static let subBucketHalfCount = 1 << subBucketHalfCountMagnitude
    static let subBucketMask: UInt64 = UInt64(1 << (subBucketHalfCountMagnitude + 1)) - 1

    public struct DecodeError: Error, CustomStringConvertible { public var description: String }

    static func index(of value: UInt64) -> Int {
        let bucketIndex = 64 - (subBucketHalfCountMagnitude + 1) - (value | subBucketMask).leadingZeroBitCount
        let subBucketIndex = Int(value >> UInt64(bucketIndex))
        return ((bucketIndex + 1) << subBucketHalfCountMagnitude) + (subBucketIndex - subBucketHalfCount)
    }

    static func value(at index: Int) -> UInt64 {
        var bucketIndex = (index >> subBucketHalfCountMagnitude) - 1
        var subBucketIndex = (index & (subBucketHalfCount - 1)) + subBucketHalfCount
        if bucketIndex < 0 {
            subBucketIndex -= subBucketHalfCount
            bucketIndex = 0
        }
        return UInt64(subBucketIndex) << UInt64(bucketIndex)
    }

    /// The uncompressed V2 encoding.
    public static func encode(_ h: Histogram<UInt64>) -> [UInt8] {
        var counts: [Int64] = []
        for v in h.recordedValues() {
            let i = index(of: v.value)
            if counts.count <= i { counts += [Int64](repeating: 0, count: i + 1 - counts.count) }
            counts[i] += Int64(v.count)
        }
        var payload: [UInt8] = []
        var i = 0
        while i < counts.count {
            let c = counts[i]
            i += 1
            if c == 0 {
                var zeros: Int64 = 1
                while i < counts.count && counts[i] == 0 { zeros += 1; i += 1 }
                putZigZag(&payload, zeros > 1 ? -zeros : 0)
            } else {
                putZigZag(&payload, c)
            }
        }
        var out: [UInt8] = []
        put32(&out, encodingCookieV2)
        put32(&out, UInt32(payload.count))
        put32(&out, 0)  // normalizing index offset
        put32(&out, 3)  // significant digits
        put64(&out, 1)  // lowest discernible value
        put64(&out, h.highestTrackableValue)
        put64(&out, Double(1.0).bitPattern)
        return out + payload
    }

    /// The compressed V2 encoding (cookie, length, zlib stream).
    public static func encodeCompressed(_ h: Histogram<UInt64>) throws -> [UInt8] {
        var input = ByteBuffer(bytes: encode(h))
        let deflated = try input.compress(with: .zlib())
        var out: [UInt8] = []
        put32(&out, compressedCookieV2)
        put32(&out, UInt32(deflated.readableBytes))
        return out + Array(deflated.readableBytesView)
    }

    public static func decodeCompressed(_ bytes: [UInt8]) throws -> Histogram<UInt64> {
        guard bytes.count > 8, get32(bytes, 0) == compressedCookieV2 else {
            throw DecodeError(description: "not a compressed V2 histogram")
        }
        var input = ByteBuffer(bytes: bytes[8...])
        let raw = Array(try input.decompress(with: .zlib()).readableBytesView)
        guard raw.count >= 40, get32(raw, 0) == encodingCookieV2 else { throw DecodeError(description: "not a V2 histogram encoding") }
        let length = Int(get32(raw, 4))
        guard raw.count >= 40 + length else { throw DecodeError(description: "truncated payload") }
        var h = Histogram<UInt64>(highestTrackableValue: 60_000_000, numberOfSignificantValueDigits: .three)
        var pos = 40, index = 0
        while pos < 40 + length {
            let c = getZigZag(raw, &pos)
            if c < 0 {
                index += Int(-c)
            } else {
                if c > 0 { _ = h.record(value(at: index), count: UInt64(c)) }
                index += 1
            }
        }
        return h
    }

    // MARK: bytes

    static func put32(_ b: inout [UInt8], _ v: UInt32) {
        for s in stride(from: 24, through: 0, by: -8) { b.append(UInt8(truncatingIfNeeded: v >> UInt32(s))) }
    }
    static func put64(_ b: inout [UInt8], _ v: UInt64) {
        for s in stride(from: 56, through: 0, by: -8) { b.append(UInt8(truncatingIfNeeded: v >> UInt64(s))) }
    }
    static func get32(_ b: [UInt8], _ at: Int) -> UInt32 { (0..<4).reduce(0) { $0 << 8 | UInt32(b[b.startIndex + at + $1]) } }

    static func putZigZag(_ b: inout [UInt8], _ v: Int64) {
        var u = UInt64(bitPattern: (v << 1) ^ (v >> 63))
        repeat {
            var byte = UInt8(u & 0x7F)
            u >>= 7
            if u != 0 { byte |= 0x80 }
            b.append(byte)
        } while u != 0 && b.count > 0
    }

    static func getZigZag(_ b: [UInt8], _ pos: inout Int) -> Int64 {
        var u: UInt64 = 0, shift: UInt64 = 0
        while pos < b.count {
            let byte = b[pos]
            pos += 1
            if shift < 64 { u |= UInt64(byte & 0x7F) << shift }
            if byte & 0x80 == 0 { break }
            shift += 7
        }
        return Int64(bitPattern: u >> 1) ^ -Int64(bitPattern: u & 1)
    }
}
