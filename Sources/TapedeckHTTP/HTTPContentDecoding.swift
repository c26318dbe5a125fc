import CZlib
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

    /// The codings of a response's `Content-Encoding` values in the order they were applied (`gzip, gzip` and a
    /// second header line count; `identity` is none), when `decode` handles every one; nil when there is none
    /// or one it does not (`br`: the body is passed on as it came).
    public static func decodableLayers(_ values: [String]) -> [String]? {
        let layers = codings(values)
        guard !layers.isEmpty, layers.count <= 8, layers.allSatisfy(isDecodable) else { return nil }
        return layers
    }

    /// The codings `Content-Encoding` values name, in the order applied, lower-cased, without `identity`.
    public static func codings(_ values: [String]) -> [String] {
        values.flatMap { $0.split(separator: ",") }.map { String($0).lowercased().trimmedHTTPWhitespace() }
            .filter { !$0.isEmpty && $0 != "identity" }
    }

    /// The body with each layer undone, last applied first; each step bounded by `limit`.
    public static func decode(_ body: ByteBuffer, layers: [String], limit: Int) throws(Failure) -> ByteBuffer {
        var body = body
        for layer in layers.reversed() { body = try decode(body, encoding: layer, limit: limit) }
        return body
    }

    /// The decoded body; throws `tooLarge` past `limit` decoded bytes and `corrupt` for bad data, including a
    /// stream that stops before its end (a body cut short by the upstream): decoded as far as it goes it would
    /// look like a complete, shorter answer.
    public static func decode(_ body: ByteBuffer, encoding: String, limit: Int) throws(Failure) -> ByteBuffer {
        let name = encoding.lowercased().trimmedHTTPWhitespace()
        if name == "deflate" {
            // "deflate" is zlib-wrapped per RFC 9110; some servers send raw deflate: try both.
            do { return try inflate(body, windowBits: 15, name: name, limit: limit) } catch .corrupt {
                return try inflate(body, windowBits: -15, name: name, limit: limit)
            }
        }
        return try inflate(body, windowBits: 15 + 16, name: name, limit: limit)
    }

    /// Inflates `body` whole with zlib's own API (which, unlike compress-nio's, says where a stream ends).
    /// A gzip body may be several members back to back (RFC 1952 §2.2): each is inflated in turn; zero bytes
    /// after the last are tolerated, as gzip(1) does. Any other byte after the end is corruption.
    private static func inflate(_ body: ByteBuffer, windowBits: Int32, name: String, limit: Int) throws(Failure) -> ByteBuffer {
        var stream = z_stream()
        guard inflateInit2_(&stream, windowBits, ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size)) == Z_OK else {
            throw .corrupt(encoding: name)
        }
        defer { inflateEnd(&stream) }
        var out = ByteBuffer()
        let result: Failure? = body.withUnsafeReadableBytes { input -> Failure? in
            guard let base = input.baseAddress, !input.isEmpty else { return nil }  // an empty body stays empty
            stream.next_in = UnsafeMutablePointer(mutating: base.assumingMemoryBound(to: Bytef.self))
            stream.avail_in = uInt(min(input.count, Int(UInt32.max)))
            guard input.count <= Int(UInt32.max) else { return .tooLarge(limit: limit) }
            while true {
                // Room for what may come, never more than one byte past the limit (which proves it is passed).
                let room = min(max(16 * 1024, out.readableBytes), limit + 1 - out.readableBytes)
                guard room > 0 else { return .tooLarge(limit: limit) }
                out.reserveCapacity(minimumWritableBytes: room)
                var code = Z_OK
                let written = out.writeWithUnsafeMutableBytes(minimumWritableBytes: room) { space -> Int in
                    guard let start = space.baseAddress else { return 0 }
                    stream.next_out = start.assumingMemoryBound(to: Bytef.self)
                    stream.avail_out = uInt(room)
                    code = CZlib.inflate(&stream, Z_NO_FLUSH)
                    return room - Int(stream.avail_out)
                }
                guard out.readableBytes <= limit else { return .tooLarge(limit: limit) }
                switch code {
                case Z_STREAM_END:
                    let rest = UnsafeRawBufferPointer(start: stream.next_in, count: Int(stream.avail_in))
                    if rest.allSatisfy({ $0 == 0 }) { return nil }
                    // Another gzip member follows; raw and zlib streams have nothing after their end.
                    guard windowBits > 15, inflateReset(&stream) == Z_OK else { return .corrupt(encoding: name) }
                case Z_OK:
                    continue
                case Z_BUF_ERROR where stream.avail_in == 0:
                    return .corrupt(encoding: name)  // the input ended before the stream did: cut short
                case Z_BUF_ERROR where written > 0:
                    continue
                default:
                    return .corrupt(encoding: name)
                }
            }
        }
        if let result { throw result }
        return out
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
