import CloudSigning
import Foundation

/// Credentials in text no parser took whole: a JSON body that does not parse (NDJSON, a lone surrogate, a BOM,
/// a Latin-1 byte), a form with a raw space, a multipart body, XML with attributes or CDATA, a URL in a
/// `Location` or `Referer` header, a query with a byte that does not decode. Found by their names, as the
/// structured passes find them, in the forms text gives them: `"name": "value"`, `name=value`, `name: value`,
/// `<Name attr="…">value</Name>`, `<Name><![CDATA[value]]></Name>` and a multipart part `name="Name"`.
extension Redactor {
    /// `bytes` with the value of every secret-named key replaced by the placeholder, its values collected into
    /// `seen`; nil when nothing changed. `structured`: a parser already took the text whole (objects and arrays
    /// under secret names are its business; this pass only catches what hides inside its strings).
    func scrubNamedValues(_ bytes: [UInt8], structured: Bool, _ seen: inout Seen) -> [UInt8]? {
        let n = bytes.count
        var out: [UInt8] = []
        var copied = 0
        var i = 0
        func isNameByte(_ b: UInt8) -> Bool {
            (b >= 0x30 && b <= 0x39) || ((b | 0x20) >= 0x61 && (b | 0x20) <= 0x7A) || b == 0x5F || b == 0x2D || b == 0x2E
        }
        var keyID = false  // whether the name being replaced is a key id's (its value is chased from 6 bytes only)
        func replace(_ range: Range<Int>, with text: String, value: [UInt8]) {
            let v = String(decoding: value, as: UTF8.self)
            Redactor.collect(v, keyID: keyID, &seen)
            if let decoded = PercentEncoding.decode(Array(v.utf8)), decoded != v {
                Redactor.collect(decoded, keyID: keyID, &seen)
            }
            out += bytes[copied..<range.lowerBound]
            out += text.utf8
            copied = range.upperBound
        }
        while i < n {
            guard isNameByte(bytes[i]), i == 0 || !isNameByte(bytes[i - 1]) else {
                i += 1
                continue
            }
            let start = i
            while i < n && isNameByte(bytes[i]) { i += 1 }
            let nameEnd = i
            guard nameEnd - start >= 3, nameEnd - start <= 128,
                isSecret(String(decoding: bytes[start..<nameEnd], as: UTF8.self))
            else { continue }
            let before: UInt8? = start > 0 ? bytes[start - 1] : nil
            keyID = Redactor.isKeyIDName(String(decoding: bytes[start..<nameEnd], as: UTF8.self))
            // An element (`<Password …>`, `<ns:AccessKeySecret …>`): its text, CDATA or every text node below it.
            var open = start - 1
            if before == UInt8(ascii: ":") {
                open -= 1
                while open >= 0 && isNameByte(bytes[open]) { open -= 1 }
            }
            if open >= 0, bytes[open] == UInt8(ascii: "<"), open + 1 < start || before == UInt8(ascii: "<") {
                guard let gt = Self.index(of: UInt8(ascii: ">"), in: bytes, from: nameEnd), bytes[gt - 1] != UInt8(ascii: "/") else { continue }
                let valueStart = gt + 1
                let endTag = Array("</".utf8) + bytes[(open + 1)..<nameEnd]
                guard let close = Self.index(ofCaseless: endTag, in: bytes, from: valueStart) else { continue }
                let inner = valueStart..<close
                let cdata = Array("<![CDATA[".utf8)
                let hasChildren = bytes[inner].contains(UInt8(ascii: "<")) && !bytes[inner].starts(with: cdata)
                if bytes[inner].starts(with: cdata), bytes[inner].reversed().starts(with: Array("]]>".utf8).reversed()) {
                    let text = (inner.lowerBound + cdata.count)..<(inner.upperBound - 3)
                    if !text.isEmpty { replace(text, with: Redactor.placeholder, value: Array(bytes[text])) }
                } else if hasChildren && !Self.namesACredential(bytes[start..<nameEnd]) {
                    // A container that merely mentions one (`CreateAccessKeyResponse`, `PasswordPolicy`): its
                    // children are judged by their own names.
                    continue
                } else {
                    // Text between tags (one run, or the text nodes of child elements, CDATA and comments aside).
                    var t = inner.lowerBound
                    while t < close {
                        if bytes[t] == UInt8(ascii: "<") {
                            let end = Self.index(of: UInt8(ascii: ">"), in: bytes, from: t).map { min($0 + 1, close) } ?? close
                            if bytes[t..<end].starts(with: cdata), let cend = Self.index(of: Array("]]>".utf8), in: bytes, from: t), cend < close {
                                let text = (t + cdata.count)..<cend
                                if !text.isEmpty { replace(text, with: Redactor.placeholder, value: Array(bytes[text])) }
                                t = cend + 3
                            } else {
                                t = end
                            }
                            continue
                        }
                        let textEnd = Self.index(of: UInt8(ascii: "<"), in: bytes, from: t).map { min($0, close) } ?? close
                        let run = bytes[t..<textEnd]
                        if run.contains(where: { $0 != 0x20 && $0 != 0x09 && $0 != 0x0A && $0 != 0x0D }), !run.elementsEqual(Redactor.placeholder.utf8) {
                            replace(t..<textEnd, with: Redactor.placeholder, value: Array(run))
                        }
                        t = textEnd
                    }
                }
                i = close
                continue
            }
            if before == UInt8(ascii: "\""), Self.endsWithMultipartName(bytes, at: start - 1), nameEnd < n, bytes[nameEnd] == UInt8(ascii: "\""),
                Self.lineStarts(bytes, before: start, with: "content-disposition:")
            {
                // A multipart part's `Content-Disposition: form-data; name="password"`: its content is the value.
                guard let blank = Self.index(of: Array("\r\n\r\n".utf8), in: bytes, from: nameEnd) ?? Self.index(of: Array("\n\n".utf8), in: bytes, from: nameEnd)
                else { continue }
                let valueStart = blank + (bytes[blank] == UInt8(ascii: "\r") ? 4 : 2)
                let valueEnd = Self.index(of: Array("\r\n--".utf8), in: bytes, from: valueStart) ?? Self.index(of: Array("\n--".utf8), in: bytes, from: valueStart) ?? n
                if valueEnd > valueStart, !bytes[valueStart..<valueEnd].elementsEqual(Redactor.placeholder.utf8) {
                    replace(valueStart..<valueEnd, with: Redactor.placeholder, value: Array(bytes[valueStart..<valueEnd]))
                }
                i = valueEnd
                continue
            }
            var k = nameEnd
            let quoted = before == UInt8(ascii: "\"") || before == UInt8(ascii: "'")
            if let q = before, quoted {
                guard k < n, bytes[k] == q else { continue }  // a quoted word in a sentence, not a key
                k += 1
            }
            // A name that starts its line (a header echoed in text, YAML, INI, .env): its value is the rest of the line.
            var lineStart = start
            while lineStart > 0 && (bytes[lineStart - 1] == 0x20 || bytes[lineStart - 1] == 0x09) { lineStart -= 1 }
            let startsLine = !quoted && (lineStart == 0 || bytes[lineStart - 1] == 0x0A || bytes[lineStart - 1] == 0x0D)
            while k < n && (bytes[k] == 0x20 || bytes[k] == 0x09) { k += 1 }
            guard k < n, bytes[k] == UInt8(ascii: ":") || bytes[k] == UInt8(ascii: "=") else { continue }
            let colon = bytes[k] == UInt8(ascii: ":")
            // An unquoted `name:` inside a sentence ("reset your password: visit …") is prose, not a field.
            if colon && !quoted && !startsLine { continue }
            // `token == null` compares, it does not assign.
            if !colon, k + 1 < n, bytes[k + 1] == UInt8(ascii: "=") { continue }
            k += 1
            while k < n && (bytes[k] == 0x20 || bytes[k] == 0x09 || (colon && quoted && (bytes[k] == 0x0A || bytes[k] == 0x0D))) {
                k += 1
            }
            guard k < n else { break }
            let first = bytes[k]
            if first == UInt8(ascii: "\"") || first == UInt8(ascii: "'") {
                var e = k + 1
                while e < n && bytes[e] != first {
                    e += bytes[e] == UInt8(ascii: "\\") ? 2 : 1
                }
                let inner = (k + 1)..<min(e, n)
                if !inner.isEmpty, !bytes[inner].elementsEqual(Redactor.placeholder.utf8) {
                    replace(inner, with: Redactor.placeholder, value: Array(bytes[inner]))
                }
                i = min(e + 1, n)
            } else if (first == UInt8(ascii: "{") || first == UInt8(ascii: "[")) && !startsLine {
                guard !structured, let e = Self.matchingBracket(bytes, from: k) else { continue }
                replace(k..<(e + 1), with: "\"\(Redactor.placeholder)\"", value: [])
                i = e + 1
            } else if startsLine {
                // To the end of the line; a YAML block scalar (`>` or `|`) is the indented lines below it.
                // (`name=value&…` at a line's start is a form: its value ends at the `&`.)
                var e = k
                while e < n && bytes[e] != 0x0A && bytes[e] != 0x0D && (colon || bytes[e] != UInt8(ascii: "&")) { e += 1 }
                var value = k..<e
                while value.upperBound > value.lowerBound && (bytes[value.upperBound - 1] == 0x20 || bytes[value.upperBound - 1] == 0x09) {
                    value = value.lowerBound..<(value.upperBound - 1)
                }
                if colon, value.count <= 2, first == UInt8(ascii: ">") || first == UInt8(ascii: "|") {
                    var b = e
                    while b < n, bytes[b] == 0x0A || bytes[b] == 0x0D { b += 1 }
                    var blockEnd = b
                    while blockEnd < n, bytes[blockEnd] == 0x20 || bytes[blockEnd] == 0x09 {
                        while blockEnd < n && bytes[blockEnd] != 0x0A { blockEnd += 1 }
                        while blockEnd < n, bytes[blockEnd] == 0x0A || bytes[blockEnd] == 0x0D { blockEnd += 1 }
                    }
                    if blockEnd > b { replace(b..<blockEnd, with: "  " + Redactor.placeholder + "\n", value: Array(bytes[b..<blockEnd])) }
                    i = blockEnd
                    continue
                }
                let v = bytes[value]
                // A sentence after `Token:` (documentation, a log line) is prose: four or more words.
                let prose = colon && v.filter({ $0 == 0x20 }).count >= 3
                let keep = prose || v.isEmpty || v.elementsEqual(Redactor.placeholder.utf8) || v.elementsEqual("true".utf8) || v.elementsEqual("false".utf8)
                    || v.elementsEqual("null".utf8)
                if !keep { replace(value, with: Redactor.placeholder, value: Array(v)) }
                i = e
            } else {
                var e = k
                while e < n && !Self.endsBareValue(bytes[e]) { e += 1 }
                let value = bytes[k..<e]
                // Code, not a value: `token = localStorage.getItem(…)`.
                let keep = value.contains(UInt8(ascii: "(")) || value.isEmpty || value.elementsEqual(Redactor.placeholder.utf8) || value.elementsEqual("true".utf8)
                    || value.elementsEqual("false".utf8) || value.elementsEqual("null".utf8)
                if !keep { replace(k..<e, with: Redactor.placeholder, value: Array(value)) }
                i = e
            }
        }
        guard copied > 0 else { return nil }
        out += bytes[copied...]
        return out
    }

    /// `name=value&…` (a query, a form) with each secret-named pair's value replaced and collected, every other
    /// byte as it was; a name or value that does not decode is taken as sent. Nil when nothing changed.
    func redactPairs(_ text: Substring, _ seen: inout Seen) -> String? {
        // Most queries name no secret: found without splitting or decoding (names with `%` or `+` are decoded below).
        var anySecret = false
        var rest = text[...]
        while !anySecret, !rest.isEmpty {
            let pieceEnd = rest.utf8.firstIndex(of: UInt8(ascii: "&")) ?? rest.endIndex
            let name = rest[..<(rest[..<pieceEnd].utf8.firstIndex(of: UInt8(ascii: "=")) ?? pieceEnd)]
            anySecret = name.utf8.contains { $0 == UInt8(ascii: "%") || $0 == UInt8(ascii: "+") } || isSecret(name)
            rest = pieceEnd == rest.endIndex ? rest[rest.endIndex...] : rest[rest.utf8.index(after: pieceEnd)...]
        }
        guard anySecret else { return nil }
        var changed = false
        let pieces = text.split(separator: "&", omittingEmptySubsequences: false).map { piece -> Substring in
            guard let eq = piece.firstIndex(of: "=") else { return piece }
            let rawName = piece[..<eq], rawValue = piece[piece.index(after: eq)...]
            let name = PercentEncoding.decode(Array(rawName.utf8)) ?? String(rawName)
            guard isSecret(name), !rawValue.isEmpty, rawValue != Substring(Redactor.placeholder) else { return piece }
            let keyID = Redactor.isKeyIDName(name)
            Redactor.collect(String(rawValue), keyID: keyID, &seen)
            if let decoded = PercentEncoding.decode(Array(rawValue.utf8)), decoded != String(rawValue) {
                Redactor.collect(decoded, keyID: keyID, &seen)
            }
            changed = true
            return rawName + "=" + Substring(Redactor.placeholder)
        }
        return changed ? pieces.joined(separator: "&") : nil
    }

    static func endsBareValue(_ b: UInt8) -> Bool {
        switch b {
        case 0x20, 0x09, 0x0A, 0x0D, UInt8(ascii: "&"), UInt8(ascii: ","), UInt8(ascii: ";"), UInt8(ascii: "<"), UInt8(ascii: ">"), UInt8(ascii: "`"),
            UInt8(ascii: "}"), UInt8(ascii: "]"), UInt8(ascii: ")"), UInt8(ascii: "\""), UInt8(ascii: "'"):
            return true
        default:
            return false
        }
    }

    /// Whether a name is a credential's own, not a container's that mentions one: it ends with a fragment
    /// (`Credentials`, `AccessKey`, `SecurityToken`), not `CreateAccessKeyResponse` or `PasswordPolicy`.
    static func namesACredential(_ name: ArraySlice<UInt8>) -> Bool {
        var n = name.compactMap { b -> UInt8? in b == 0x5F || b == 0x2D || b == 0x2E ? nil : (b >= 0x41 && b <= 0x5A ? b | 0x20 : b) }
        if n.last == UInt8(ascii: "s") { n.removeLast() }
        let ends = ["secret", "password", "passwd", "passphrase", "privatekey", "token", "apikey", "accesskey", "signature",
                    "credential", "sessionkey", "authorization", "cookie", "pwd", "pass"]
        return ends.contains { n.count >= $0.utf8.count && n.suffix($0.utf8.count).elementsEqual($0.utf8) }
    }

    /// Whether the line holding `index` starts (after spaces) with `prefix` (lower-case, compared without case).
    static func lineStarts(_ bytes: [UInt8], before index: Int, with prefix: String) -> Bool {
        var s = index
        while s > 0 && bytes[s - 1] != 0x0A { s -= 1 }
        while s < index && (bytes[s] == 0x20 || bytes[s] == 0x09) { s += 1 }
        let p = Array(prefix.utf8)
        guard s + p.count <= index else { return false }
        return zip(bytes[s..<(s + p.count)], p).allSatisfy { ($0 | 0x20) == $1 || $0 == $1 }
    }

    /// Whether the bytes up to and including `quote` end with `name="` (case-insensitive).
    static func endsWithMultipartName(_ bytes: [UInt8], at quote: Int) -> Bool {
        let marker = Array("name=\"".utf8)
        guard quote + 1 >= marker.count else { return false }
        let from = quote + 1 - marker.count
        return zip(bytes[from...quote], marker).allSatisfy { ($0 | 0x20) == ($1 | 0x20) || $0 == $1 }
    }

    static func index(of byte: UInt8, in bytes: [UInt8], from: Int) -> Int? {
        from < bytes.count ? bytes[from...].firstIndex(of: byte) : nil
    }

    static func index(of needle: [UInt8], in bytes: [UInt8], from: Int) -> Int? {
        guard let first = needle.first, from + needle.count <= bytes.count else { return nil }
        var i = from
        while i + needle.count <= bytes.count {
            guard let at = bytes[i...(bytes.count - needle.count)].firstIndex(of: first) else { return nil }
            if bytes[at..<(at + needle.count)].elementsEqual(needle) { return at }
            i = at + 1
        }
        return nil
    }

    /// Like `index(of:in:from:)`, ASCII letters compared without case (`</PASSWORD>` closes `<Password>`).
    static func index(ofCaseless needle: [UInt8], in bytes: [UInt8], from: Int) -> Int? {
        guard !needle.isEmpty, from + needle.count <= bytes.count else { return nil }
        var i = from
        while i + needle.count <= bytes.count {
            guard let at = bytes[i...(bytes.count - needle.count)].firstIndex(of: needle[0]) else { return nil }
            if zip(bytes[at..<(at + needle.count)], needle).allSatisfy({ ($0 | 0x20) == ($1 | 0x20) }) { return at }
            i = at + 1
        }
        return nil
    }

    /// The index of the bracket that closes the one at `open`, skipping strings; nil when it never closes.
    static func matchingBracket(_ bytes: [UInt8], from open: Int) -> Int? {
        var depth = 0
        var i = open
        while i < bytes.count {
            switch bytes[i] {
            case UInt8(ascii: "\""):
                i += 1
                while i < bytes.count && bytes[i] != UInt8(ascii: "\"") { i += bytes[i] == UInt8(ascii: "\\") ? 2 : 1 }
            case UInt8(ascii: "{"), UInt8(ascii: "["):
                depth += 1
            case UInt8(ascii: "}"), UInt8(ascii: "]"):
                depth -= 1
                if depth == 0 { return i }
            default:
                break
            }
            i += 1
        }
        return nil
    }
}
