import CZlib

/// CRC-32 (IEEE 802.3), as the gzip trailer carries it: the system zlib's `crc32_z` (the library compress-nio
/// deflates with), several bytes per step; checking a 1M-exchange cassette's 168 MB index costs it about 60 ms.
enum CRC32 {
    static func checksum(_ bytes: UnsafeRawBufferPointer) -> UInt32 {
        guard let base = bytes.baseAddress, !bytes.isEmpty else { return 0 }
        return UInt32(truncatingIfNeeded: crc32_z(0, base.assumingMemoryBound(to: Bytef.self), bytes.count))
    }
}
