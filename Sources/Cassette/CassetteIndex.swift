import Foundation

/// The sidecar index of a cassette, `PATH.idx` (like BGZF's `.gzi`): every record's key, offset and
/// length, so opening a large cassette for replay reads one flat file instead of inflating every record.
/// The cassette itself is unchanged and stays readable by `zcat`; the index is only a cache.
///
/// It is written when a writer that knows every record closes, and by a reader after it had to walk the
/// file. It is trusted only for the bytes it covers, checked by their length and a CRC-32 of their first
/// and last 4 KB; records appended after it was written are walked and added. An index that is
/// missing, damaged (its own CRC-32), or made for other bytes is rebuilt, never an error.
///
/// Layout (little-endian): `TDIDX2\n\0`, covered length (u64), fingerprint (u32), count (u64), then per
/// record its member's offset (u64) and length (u32), its line in the member (u32), key length (u32) and key
/// bytes; last, a CRC-32 of all before it. (A `TDIDX1` index, from before members held several records, is
/// not read: it is rebuilt.)
public enum CassetteIndex {
    static let magic: [UInt8] = Array("TDIDX2\n\0".utf8)
    static let fingerprintSpan = 4096

    public static func path(for cassette: String) -> String { cassette + ".idx" }

    /// Cassettes with fewer records get no index: walking them is already quick (and sample cassettes in
    /// a repository stay alone).
    public static let minimumRecords = 4096

    /// Entries for the first `covered` bytes of the open cassette `fd`, if a valid index for them exists.
    static func load(for cassette: String, fd: Int32, size: Int) -> (entries: [CassetteReader.Entry], covered: Int)? {
        guard let bytes = readRegularFile(path(for: cassette)), bytes.count >= magic.count + 24 else { return nil }
        return bytes.withUnsafeBytes { raw -> (entries: [CassetteReader.Entry], covered: Int)? in
            let body = UnsafeRawBufferPointer(rebasing: raw[0..<(raw.count - 4)])
            guard raw.loadUnaligned(fromByteOffset: raw.count - 4, as: UInt32.self).littleEndian == CRC32.checksum(body),
                raw.prefix(magic.count).elementsEqual(magic)
            else { return nil }
            var p = magic.count
            func u64() -> Int? {
                guard p + 8 <= body.count else { return nil }
                defer { p += 8 }
                return Int(exactly: body.loadUnaligned(fromByteOffset: p, as: UInt64.self).littleEndian)
            }
            func u32() -> Int? {
                guard p + 4 <= body.count else { return nil }
                defer { p += 4 }
                return Int(body.loadUnaligned(fromByteOffset: p, as: UInt32.self).littleEndian)
            }
            guard let covered = u64(), covered <= size, let print = u32(), let count = u64(), count <= (body.count - p) / 20,
                fingerprint(fd: fd, covered: covered) == UInt32(print)
            else { return nil }
            var entries: [CassetteReader.Entry] = []
            entries.reserveCapacity(count)
            var end = 0
            for i in 0..<count {
                guard let offset = u64(), let length = u32(), let line = u32(), let keyLength = u32(), p + keyLength <= body.count,
                    offset <= covered, length <= covered - offset
                else { return nil }
                // A record opens the next member (line 0), or is the next line of the one before it.
                if let last = entries.last, offset == last.offset {
                    guard length == last.length, line == last.line + 1 else { return nil }
                } else {
                    guard offset >= end, line == 0 else { return nil }
                }
                let key = String(decoding: UnsafeRawBufferPointer(rebasing: body[p..<(p + keyLength)]), as: UTF8.self)
                p += keyLength
                entries.append(CassetteReader.Entry(seq: i + 1, key: key, offset: offset, length: length, line: line))
                end = offset + length
            }
            guard p == body.count, count == 0 || end == covered else { return nil }
            return (entries, covered)
        }
    }

    /// Writes the index of `entries`, which cover the cassette's first `covered` bytes (best effort: a
    /// directory that cannot take it only means the next open walks the file). Written aside, then renamed.
    static func write(for cassette: String, fd: Int32, entries: [CassetteReader.Entry], covered: Int) {
        var out: [UInt8] = magic
        out.reserveCapacity(64 + entries.reduce(0) { $0 + 20 + $1.key.utf8.count })
        func put<T: FixedWidthInteger>(_ v: T) { withUnsafeBytes(of: v.littleEndian) { out += $0 } }
        put(UInt64(covered))
        put(fingerprint(fd: fd, covered: covered))
        put(UInt64(entries.count))
        for e in entries {
            put(UInt64(e.offset))
            put(UInt32(e.length))
            put(UInt32(e.line))
            put(UInt32(e.key.utf8.count))
            out += e.key.utf8
        }
        put(out.withUnsafeBytes { CRC32.checksum($0) })
        let target = path(for: cassette)
        let temporary = target + ".tmp-\(getpid())"
        let tfd = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0o644)
        guard tfd >= 0 else { return }
        let complete = out.withUnsafeBytes { raw -> Bool in
            var done = 0
            while done < raw.count {
                let n = Foundation.write(tfd, raw.baseAddress! + done, raw.count - done)
                if n < 0 && errno == EINTR { continue }
                if n <= 0 { return false }
                done += n
            }
            return true
        }
        Foundation.close(tfd)
        if !complete || rename(temporary, target) != 0 { unlink(temporary) }
    }

    /// Removes a cassette's index (a rewrite of the cassette makes it stale).
    public static func remove(for cassette: String) { unlink(path(for: cassette)) }

    /// CRC-32 of the first and last `fingerprintSpan` bytes of the first `covered` bytes, and their length.
    static func fingerprint(fd: Int32, covered: Int) -> UInt32 {
        let span = min(fingerprintSpan, covered)
        var bytes = [UInt8](repeating: 0, count: 2 * span + 8)
        let ok = bytes.withUnsafeMutableBytes { raw -> Bool in
            pread(fd, raw.baseAddress!, span, 0) == span
                && pread(fd, raw.baseAddress! + span, span, off_t(covered - span)) == span
        }
        guard ok else { return 0 }
        withUnsafeBytes(of: UInt64(covered).littleEndian) { for (i, b) in $0.enumerated() { bytes[2 * span + i] = b } }
        return bytes.withUnsafeBytes { CRC32.checksum($0) }
    }

    /// The whole content of `path` if it is a regular file (not a FIFO, a directory or a device).
    static func readRegularFile(_ path: String) -> [UInt8]? {
        let fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOFOLLOW)
        guard fd >= 0 else { return nil }
        defer { Foundation.close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0, (st.st_mode & S_IFMT) == S_IFREG else { return nil }
        let size = Int(st.st_size)
        var bytes = [UInt8](repeating: 0, count: size)
        let n = bytes.withUnsafeMutableBytes { raw -> Int in
            var done = 0
            while done < size {
                let k = pread(fd, raw.baseAddress! + done, size - done, off_t(done))
                if k < 0 && errno == EINTR { continue }
                if k <= 0 { break }
                done += k
            }
            return done
        }
        return n == size ? bytes : nil
    }
}
