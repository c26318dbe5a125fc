import CompressNIO
import Foundation
import NIOCore

/// Reads exchanges from JSON Lines that are not a Tapedeck cassette any more (the framing is gone, e.g.
/// after `zcat cassette.jsonl.gz | jq … | gzip`): plain or gzip (one or several members), an optional
/// header line, then one exchange per line. `tapedeck cassette import-jsonl` writes them as a new cassette.
public enum JSONLImport {
    public static func exchanges(path: String) throws -> [Exchange] {
        guard access(path, F_OK) == 0 || errno != ENOENT else {
            throw CassetteError(.io, file: path, "does not exist; give a JSON Lines file (plain or gzip) to import")
        }
        try CassettePath.check(path, writable: false)
        guard let data = FileManager.default.contents(atPath: path) else {
            throw CassetteError(.io, file: path, "cannot be read")
        }
        var bytes = ByteBuffer(bytes: data)
        if data.count >= 2 && data[data.startIndex] == 0x1F && data[data.startIndex + 1] == 0x8B {
            var plain = ByteBuffer()
            // gzip allows several members back to back (`cat a.gz b.gz`): inflate each in turn.
            while bytes.readableBytes > 0 {
                let before = bytes.readableBytes
                do {
                    var member = try bytes.decompress(with: .gzip(), maxSize: 1 << 32)
                    plain.writeBuffer(&member)
                } catch {
                    throw CassetteError(.notACassette, file: path, offset: data.count - before, "not valid gzip data (\(error))")
                }
                guard bytes.readableBytes < before else { break }
            }
            bytes = plain
        }
        var out: [Exchange] = []
        var lineNumber = 0
        let decoder = JSONDecoder()
        for line in bytes.readableBytesView.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false) {
            lineNumber += 1
            if line.allSatisfy({ $0 == 32 || $0 == 9 || $0 == 13 }) { continue }
            if lineNumber == 1, (try? decoder.decode(CassetteHeader.self, from: Data(line))) != nil { continue }
            do {
                var e = try decoder.decode(Exchange.self, from: Data(line))
                e.seq = out.count + 1
                out.append(e)
            } catch {
                // Text to edit, not damaged compression: no salvage hint.
                throw CassetteError(
                    .io, file: path, record: lineNumber, "line \(lineNumber) is not an exchange: \(error); correct or delete that line and import again")
            }
        }
        return out
    }
}
