import NIOCore
import TapedeckHTTP

/// Streams a response document straight into a `ByteBuffer`, as JSON or as Alibaba-style XML, from the
/// same calls: no intermediate tree and no Foundation encoder on the request path.
///
/// Alibaba lists are an object holding one key whose value is the array (`"Items":{"Item":[…]}` in JSON,
/// `<Items><Item>…</Item><Item>…</Item></Items>` in XML); `openList`/`openItem` express exactly that.
public struct DocumentWriter {
    public enum Format: Sendable { case json, xml }
    public let format: Format
    public var buffer: ByteBuffer
    /// Bit d: whether the next JSON member at nesting depth d needs a leading comma (a stack in a word:
    /// no allocation per document). Documents nest at most 63 deep.
    private var commaBits: UInt64 = 0
    private var depth = 0

    public init(format: Format, buffer: ByteBuffer) {
        self.format = format
        self.buffer = buffer
        if format == .xml { self.buffer.writeStaticString("<?xml version=\"1.0\" encoding=\"UTF-8\"?>") }
    }

    // MARK: structure

    /// Opens the root (JSON `{`; XML `<root>`).
    public mutating func openRoot(_ root: String) {
        if format == .json { buffer.writeInteger(UInt8(ascii: "{")) } else { tag(root, close: false) }
        push()
    }

    public mutating func closeRoot(_ root: String) {
        pop()
        if format == .json { buffer.writeInteger(UInt8(ascii: "}")) } else { tag(root, close: true) }
    }

    /// Opens a nested object under `key`.
    public mutating func openObject(_ key: String) {
        if format == .json { member(key); buffer.writeInteger(UInt8(ascii: "{")) } else { tag(key, close: false) }
        push()
    }

    public mutating func closeObject(_ key: String) {
        pop()
        if format == .json { buffer.writeInteger(UInt8(ascii: "}")) } else { tag(key, close: true) }
    }

    /// Opens an array under `key` (XML: nothing; its items carry the element name).
    public mutating func openList(_ key: String) {
        if format == .json { member(key); buffer.writeInteger(UInt8(ascii: "[")) }
        push()
    }

    public mutating func closeList(_ key: String) {
        pop()
        if format == .json { buffer.writeInteger(UInt8(ascii: "]")) }
    }

    /// Opens one object item of the current list.
    public mutating func openItem(_ key: String) {
        if format == .json {
            comma()
            buffer.writeInteger(UInt8(ascii: "{"))
        } else {
            tag(key, close: false)
        }
        push()
    }

    public mutating func closeItem(_ key: String) { closeObject(key) }

    // MARK: scalars

    public mutating func string(_ key: String, _ value: String) {
        if format == .json {
            member(key)
            TextEscaping.writeJSONString(value, into: &buffer)
        } else {
            tag(key, close: false)
            TextEscaping.writeXMLText(value, into: &buffer)
            tag(key, close: true)
        }
    }

    public mutating func int<I: BinaryInteger>(_ key: String, _ value: I) {
        if format == .json {
            member(key); buffer.writeString(String(value))
        } else {
            tag(key, close: false); buffer.writeString(String(value)); tag(key, close: true)
        }
    }

    public mutating func bool(_ key: String, _ value: Bool) {
        if format == .json { member(key) } else { tag(key, close: false) }
        if value { buffer.writeStaticString("true") } else { buffer.writeStaticString("false") }
        if format == .xml { tag(key, close: true) }
    }

    /// JSON `null` (XML: an empty element).
    public mutating func null(_ key: String) {
        if format == .json { member(key); buffer.writeStaticString("null") } else { tag(key, close: false); tag(key, close: true) }
    }

    /// A string, or `null` when `value` is nil.
    public mutating func optionalString(_ key: String, _ value: String?) {
        if let v = value { string(key, v) } else { null(key) }
    }

    public func finish() -> ByteBuffer { buffer }

    @inline(__always)
    private mutating func push() {
        depth += 1
        commaBits &= ~(1 << UInt64(depth))
    }

    @inline(__always)
    private mutating func pop() { depth -= 1 }

    @inline(__always)
    private mutating func comma() {
        let bit: UInt64 = 1 << UInt64(depth)
        if commaBits & bit != 0 { buffer.writeInteger(UInt8(ascii: ",")) }
        commaBits |= bit
    }

    // MARK: encoding

    private mutating func member(_ key: String) {
        comma()
        buffer.writeInteger(UInt8(ascii: "\""))
        buffer.writeString(key)
        buffer.writeStaticString("\":")
    }

    private mutating func tag(_ name: String, close: Bool) {
        buffer.writeStaticString(close ? "</" : "<")
        buffer.writeString(name)
        buffer.writeInteger(UInt8(ascii: ">"))
    }
}
