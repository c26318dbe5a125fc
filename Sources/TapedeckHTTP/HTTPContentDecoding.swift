import CompressNIO
import NIOCore

/// Decodes a `Content-Encoding` (gzip, deflate) with a bound on the decoded size, so a small compressed
/// answer cannot become gigabytes in memory. Blocking CPU work: call it off the event loops.
public enum HTTPContentDecoding {
    public enum Failure: Error, Sendable, Equatable, CustomStringConvertible {
        case tooLarge(limit: Int)
        case corrupt(encoding: String)

        public var description: String {
            switch self {
            case .tooLarge(let limit): return "the body decodes to more than \(limit) bytes"
            case .corrupt(let encoding): return "the body is not valid \(encoding) data"
            }
        }
    }

    /// Whether this `Content-Encoding` is one `decode` handles.
    public static func isDecodable(_ encoding: String) -> Bool {
        ["gzip", "x-gzip", "deflate"].contains(encoding.lowercased().trimmedHTTPWhitespace())
    }

    /// The decoded body; throws `tooLarge` past `limit` decoded bytes and `corrupt` for bad data.
    public static func decode(_ body: ByteBuffer, encoding: String, limit: Int) throws(Failure) -> ByteBuffer {
        // compress-nio's `maxSize` bounds what it asks for, not what it writes: its buffers round up to a power of
        // two and are filled, so 78 KB of gzip inflated to 80 MB under a 64 MiB limit. The bound is checked here.
        let out = try inflate(body, encoding: encoding, limit: limit)
        guard out.readableBytes <= limit else { throw .tooLarge(limit: limit) }
        return out
    }

    private static func inflate(_ body: ByteBuffer, encoding: String, limit: Int) throws(Failure) -> ByteBuffer {
        let name = encoding.lowercased().trimmedHTTPWhitespace()
        var input = body
        do {
            if name == "deflate" {
                // "deflate" is zlib-wrapped per RFC 9110; some servers send raw deflate: try both.
                do { return try input.decompress(with: .zlib(), maxSize: limit) } catch let e as CompressNIOError where e != .bufferOverflow
                {
                    input = body
                    return try input.decompress(with: .deflate(), maxSize: limit)
                }
            }
            // A gzip body may be several members back to back (RFC 1952 §2.2): each is inflated in turn.
            var out = try input.decompress(with: .gzip(), maxSize: limit)
            while input.readableBytes > 0 {
                // Padding of zero bytes after the last member is tolerated, as gzip(1) does.
                if input.readableBytesView.allSatisfy({ $0 == 0 }) { break }
                let before = input.readableBytes
                var next = try input.decompress(with: .gzip(), maxSize: max(0, limit - out.readableBytes))
                guard input.readableBytes < before else { throw Failure.corrupt(encoding: name) }
                guard out.readableBytes + next.readableBytes <= limit else { throw Failure.tooLarge(limit: limit) }
                out.writeBuffer(&next)
            }
            return out
        } catch let e as Failure {
            throw e
        } catch let e as CompressNIOError where e == .bufferOverflow {
            throw .tooLarge(limit: limit)
        } catch {
            throw .corrupt(encoding: name)
        }
    }
}

extension String {
    /// Without leading and trailing spaces and tabs (RFC 9110 §5.5: they are not part of a field value); the
    /// string itself, uncopied, when it has none (every header of an answer passes here).
    public func trimmedHTTPWhitespace() -> String {
        func isWhitespace(_ b: UInt8?) -> Bool { b == 0x20 || b == 0x09 }
        guard isWhitespace(utf8.first) || isWhitespace(utf8.last) else { return self }
        var s = unicodeScalars[...]
        while let f = s.first, f == " " || f == "\t" { s.removeFirst() }
        while let l = s.last, l == " " || l == "\t" { s.removeLast() }
        return String(s)
    }
}
