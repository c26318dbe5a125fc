import CloudSigning
import CompressNIO
import Foundation
import NIOCore

/// Looks for live secrets in a cassette's decompressed records: each value plain, percent-encoded and
/// base64-encoded (alone, and as `id:value` for basic auth).
public enum SecretScanner {
    public struct Finding: Sendable, Equatable, CustomStringConvertible {
        public var secretName: String
        public var form: String
        public var record: Int
        public var description: String { "record \(record): the value of \(secretName) appears (\(form))" }
    }

    public static func scan(path: String, secrets: [(name: String, value: String)]) throws -> [Finding] {
        var needles: [(String, String, [UInt8])] = []
        for (name, value) in secrets where value.count >= 4 {
            needles.append((name, "plain", Array(value.utf8)))
            let pct = PercentEncoding.encode(value)
            if pct != value { needles.append((name, "percent-encoded", Array(pct.utf8))) }
            needles.append((name, "base64", Array(Data(value.utf8).base64EncodedString().utf8)))
            // As a JSON string stores it: quotes, backslashes, slashes and control characters escaped.
            for options: JSONSerialization.WritingOptions in [[.fragmentsAllowed], [.fragmentsAllowed, .withoutEscapingSlashes]] {
                if let data = try? JSONSerialization.data(withJSONObject: value, options: options) {
                    let escaped = Array(data.dropFirst().dropLast())
                    if escaped != Array(value.utf8), !needles.contains(where: { $0.0 == name && $0.2 == escaped }) {
                        needles.append((name, "JSON-escaped", escaped))
                    }
                }
            }
            needles.append((name, "base64, unpadded", Array(Data(value.utf8).base64EncodedString().trimmingCharacters(in: ["="]).utf8)))
            // Every other form the redactor scrubs (`+`-encoded, lower-case `%xx`, `\u`-escaped), as the record's own
            // JSON line stores it (a backslash doubled).
            for form in Redactor.needles([value]) {
                let stored = (try? JSONSerialization.data(withJSONObject: form, options: [.fragmentsAllowed, .withoutEscapingSlashes]))
                    .map { Array($0.dropFirst().dropLast()) } ?? Array(form.utf8)
                for bytes in [Array(form.utf8), stored] where !needles.contains(where: { $0.0 == name && $0.2 == bytes }) {
                    needles.append((name, "encoded", bytes))
                }
            }
        }
        var findings: [Finding] = []
        // What `ls` and `verify` refuse (a folder, a FIFO that would block, a device, an empty file) is refused
        // here too: a secret check must not pass on something that is not a cassette.
        try CassettePath.check(path, writable: false)
        var st = stat()
        guard stat(path, &st) == 0, st.st_size > 0 else { throw CassetteError(.notACassette, file: path, "the file is empty (a recording that failed before its first write, e.g. on a full disk, leaves one); record into it (--mode record starts it afresh) or delete it") }
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw CassetteError(.io, file: path, "cannot open: \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        let decompressor = try ZlibDecompressor(algorithm: .deflate)
        try CassetteReader.walk(fd: fd, path: path, allowTornTail: true, decompressor: decompressor, allocator: ByteBufferAllocator()) {
            index, _, _, _, line in
            let bytes = Array(line.readableBytesView)
            for (name, form, needle) in needles where contains(bytes, needle) {
                findings.append(Finding(secretName: name, form: form, record: index))
            }
        }
        return findings
    }

    /// Substring search (`memchr` to each candidate first byte, then `memcmp`; shared with `SecretNames`).
    static func contains(_ hay: [UInt8], _ needle: [UInt8]) -> Bool {
        hay.withUnsafeBytes { SecretNames.contains($0, needle) }
    }
}
