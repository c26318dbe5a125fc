import Foundation

/// Drops a torn last record so the cassette opens again.
public enum CassetteRepair {
    /// Truncates `path` after its last complete record; returns the bytes removed (0 if it was intact).
    @discardableResult
    public static func repair(path: String) throws -> Int {
        let reader = try CassetteReader(path: path, allowTornTail: true)
        var st = stat()
        guard stat(path, &st) == 0 else { throw CassetteError(.io, file: path, "cannot stat") }
        let removed = Int(st.st_size) - reader.validLength
        if removed > 0 {
            guard truncate(path, off_t(reader.validLength)) == 0 else {
                throw CassetteError(.io, file: path, "cannot truncate: \(String(cString: strerror(errno)))")
            }
        }
        return removed
    }
}
