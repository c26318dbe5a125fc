import Foundation
import Synchronization

/// Who records into a cassette: one process at a time. Writers of this process share one `flock` per file
/// (held on a descriptor of its own, counted), so switching a proxy back to the cassette it is still
/// finishing is not refused; another process's writer, or a `repair` while one records, is.
public enum CassetteLock {
    struct FileID: Hashable, Sendable {
        var device: UInt64
        var inode: UInt64
    }

    private static let held = Mutex<[FileID: (count: Int, fd: Int32)]>([:])

    private static func id(_ fd: Int32) -> FileID? {
        var st = stat()
        guard fstat(fd, &st) == 0 else { return nil }
        return FileID(device: UInt64(st.st_dev), inode: UInt64(st.st_ino))
    }

    /// The message for a cassette another process records into.
    static func busy(_ path: String) -> CassetteError {
        CassetteError(
            .io, file: path,
            "another tapedeck process is recording into it; record into another file, or stop that process first")
    }

    /// Takes the file `fd` (open on `path`) for this process's writers; returns the token `release` wants.
    static func acquire(_ fd: Int32, path: String) throws -> FileID? {
        guard let id = id(fd) else { return nil }
        return try held.withLock { table throws -> FileID? in
            if let entry = table[id] {
                table[id] = (entry.count + 1, entry.fd)
                return id
            }
            let lockFD = open(path, O_RDONLY | O_CLOEXEC)
            guard lockFD >= 0, self.id(lockFD) == id else {
                if lockFD >= 0 { close(lockFD) }
                return nil  // replaced in between: the writer's own checks report that
            }
            guard flock(lockFD, LOCK_EX | LOCK_NB) == 0 else {
                close(lockFD)
                throw busy(path)
            }
            table[id] = (1, lockFD)
            return id
        }
    }

    static func release(_ token: FileID?) {
        guard let id = token else { return }
        held.withLock { table in
            guard let entry = table[id] else { return }
            if entry.count > 1 {
                table[id] = (entry.count - 1, entry.fd)
            } else {
                close(entry.fd)
                table[id] = nil
            }
        }
    }

    /// Refuses `path` when another process records into it: said when a proxy starts (or switches to it),
    /// not at its first request. A missing file, or one this process records into, passes.
    public static func checkNotBusy(_ path: String) throws {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return }
        defer { close(fd) }
        if heldHere(fd) { return }
        guard lockSoon(fd) else { throw busy(path) }
        flock(fd, LOCK_UN)
    }

    /// Whether this process's writers hold the file open on `fd`.
    private static func heldHere(_ fd: Int32) -> Bool { id(fd).map { i in held.withLock { $0[i] != nil } } ?? false }

    /// Takes `fd`'s exclusive lock, allowing a few short retries: a lock just released can still be held for a
    /// moment by a child this process is spawning (its copy of the descriptor lives until its exec closes it).
    private static func lockSoon(_ fd: Int32) -> Bool {
        for attempt in 0..<5 {
            if attempt > 0 { usleep(10_000) }
            if flock(fd, LOCK_EX | LOCK_NB) == 0 { return true }
        }
        return false
    }

    /// Runs `body` while no writer (of any process) records into `path`; refuses when one does.
    public static func exclusive<T>(_ path: String, _ body: () throws -> T) throws -> T {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return try body() }  // missing or unreadable: `body` reports it
        defer { close(fd) }
        guard !heldHere(fd), lockSoon(fd) else {
            throw CassetteError(
                .io, file: path,
                "a tapedeck proxy is recording into it; stop it first (or switch it to another cassette), then repair")
        }
        return try body()
    }
}
