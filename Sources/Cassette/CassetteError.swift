/// Why a cassette cannot be read or written, naming the file, the record and the byte offset, and
/// what to do about it.
public struct CassetteError: Error, Sendable, CustomStringConvertible, Equatable {
    public enum Kind: Sendable, Equatable {
        /// The file cannot be opened, read or written.
        case io
        /// The last record is incomplete (the writer was killed mid-write); `tapedeck cassette repair` drops it.
        case tornTail
        /// A record before the end is damaged.
        case corrupt
        /// Written by a newer Tapedeck.
        case newerFormat
        /// Not a Tapedeck cassette at all.
        case notACassette
    }

    public var kind: Kind
    public var file: String
    /// 1-based record number (the header is record 0), if the problem is in a record.
    public var record: Int?
    public var offset: Int?
    public var detail: String

    public init(_ kind: Kind, file: String, record: Int? = nil, offset: Int? = nil, _ detail: String) {
        self.kind = kind
        self.file = file
        self.record = record
        self.offset = offset
        self.detail = detail
    }

    /// What a failed inflate means, for a person: the bytes changed after they were written.
    static func inflating(_ error: Error) -> String {
        if error is GzipMemberError { return "\(error)" }
        return "its compressed bytes do not inflate (zlib: \(error)); the file was changed after it was written"
    }

    public var description: String {
        var where_ = file
        if let record { where_ += ": record \(record)" }
        if let offset { where_ += " at byte \(offset)" }
        switch kind {
        case .tornTail: return "\(where_): torn last record (\(detail)); run `tapedeck cassette repair \(file)` to drop it"
        case .corrupt:
            return "\(where_): damaged record (\(detail)); `tapedeck cassette repair --salvage \(file)` keeps every record that decodes (the original stays as \(file).damaged)"
        case .newerFormat: return "\(where_): \(detail); upgrade tapedeck to read it"
        case .notACassette: return "\(where_): not a Tapedeck cassette (\(detail))"
        case .io: return "\(where_): \(detail)"
        }
    }
}
