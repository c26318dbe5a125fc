import Foundation

/// Checks a cassette path before anything opens it, so a directory, a FIFO, a device, an unreadable file or
/// a missing or read-only directory is refused with a message that names the path and the fix, instead of
/// blocking on a FIFO, trapping on a directory, or failing at the first exchange.
public enum CassettePath {
    /// The folder part of `path` ("" for a bare name), as `NSString.deletingLastPathComponent` gives it: that
    /// one traps on a one-character string (swift-corelibs-foundation), so a file named `c` crashed the CLI.
    public static func directory(of path: String) -> String {
        var p = Substring(path)
        while p.count > 1, p.hasSuffix("/") { p = p.dropLast() }
        guard let slash = p.lastIndex(of: "/") else { return "" }
        var d = p[..<slash]
        while d.count > 1, d.hasSuffix("/") { d = d.dropLast() }
        return d.isEmpty ? "/" : String(d)
    }

    /// - Parameter writable: whether exchanges will be appended (record and auto modes).
    /// - Parameter existing: whether the file must already be there (repairing it), even when writable.
    public static func check(_ path: String, writable: Bool, existing: Bool = false) throws {
        guard !path.isEmpty else {
            throw CassetteError(.io, file: path, "empty cassette path; name a file such as cassettes/session.jsonl.gz")
        }
        guard !path.hasSuffix("/") else {
            throw CassetteError(.io, file: path, "ends in /, so it names a folder; name a file in it, such as \(path)session.jsonl.gz")
        }
        var st = stat()
        if stat(path, &st) == 0 {
            let type = st.st_mode & S_IFMT
            guard type == S_IFREG else {
                let what =
                    type == S_IFDIR
                    ? "a directory" : type == S_IFIFO ? "a FIFO" : type == S_IFCHR || type == S_IFBLK ? "a device" : "not a regular file"
                throw CassetteError(
                    .io, file: path,
                    "is \(what), not a cassette file; name a file such as \(type == S_IFDIR ? path.trimmingTrailingSlash + "/session.jsonl.gz" : "session.jsonl.gz")"
                )
            }
            guard access(path, R_OK) == 0 else {
                throw CassetteError(.io, file: path, "cannot be read (\(String(cString: strerror(errno)))); check its permissions")
            }
            if writable, access(path, W_OK) != 0 {
                throw CassetteError(
                    .io, file: path,
                    existing
                        ? "cannot be written (\(String(cString: strerror(errno)))); check its permissions: repairing rewrites it"
                        : "cannot be written (\(String(cString: strerror(errno)))); check its permissions, or replay it to only read it (--mode replay, or \"mode\":\"replay\" in a control call)")
            }
            return
        }
        guard errno == ENOENT else { throw CassetteError(.io, file: path, "cannot be used: \(String(cString: strerror(errno)))") }
        guard writable else { throw CassetteError(.io, file: path, "does not exist; record one first (--mode record)") }
        guard !existing else { throw CassetteError(.io, file: path, "does not exist; there is nothing to repair (check the path: tapedeck cassette ls FILE)") }
        var directory = CassettePath.directory(of: path).isEmpty ? "." : CassettePath.directory(of: path)
        // A symlink to a file not there yet is created where it points: that folder must exist.
        var link = stat()
        if lstat(path, &link) == 0, link.st_mode & S_IFMT == S_IFLNK {
            var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
            let n = readlink(path, &buffer, buffer.count - 1)
            let target = n > 0 ? String(decoding: buffer[..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self) : ""
            let resolved = target.hasPrefix("/") ? target : directory + "/" + target
            let folder = CassettePath.directory(of: resolved)
            var dst = stat()
            guard !folder.isEmpty, stat(folder, &dst) == 0, dst.st_mode & S_IFMT == S_IFDIR else {
                throw CassetteError(
                    .io, file: path,
                    "is a symbolic link to \(target), whose folder does not exist; create it (mkdir -p \(folder.isEmpty ? "." : folder)) or point the link elsewhere")
            }
            directory = folder
        }
        var dst = stat()
        guard stat(directory, &dst) == 0, dst.st_mode & S_IFMT == S_IFDIR else {
            throw CassetteError(
                .io, file: path, "its directory \(directory) does not exist; create it (mkdir -p \(directory)) or choose another path")
        }
        guard access(directory, W_OK | X_OK) == 0 else {
            throw CassetteError(.io, file: path, "its directory \(directory) is not writable by this user; choose a path you can write")
        }
    }
}

extension String {
    var trimmingTrailingSlash: String { hasSuffix("/") && count > 1 ? String(dropLast()) : self }
}
