import Cassette
import LoadGen
import Matching
import Proxy
import Foundation
import ArgumentParser
import Logging
import ServiceLifecycle
import Synchronization
import UnixSignals

/// The line scripts wait for, on stdout, flushed at once.
func printListening(_ url: String) {
    FileHandle.standardOutput.write(Data("listening on \(url)\n".utf8))
}

/// A line on stdout, flushed at once.
func printLine(_ s: String) {
    FileHandle.standardOutput.write(Data("\(s)\n".utf8))
}

/// `--port` is 0 (any free port) to 65535; larger numbers are refused, not wrapped.
/// A number of seconds for `flag`: positive, finite, at most a year (NIO's timers take 64-bit nanoseconds).
func validateSeconds(_ value: Double, _ flag: String) throws {
    guard value > 0, value <= 365 * 86_400 else {
        throw ValidationError("\(flag) must be a positive number of seconds, at most a year (\(365 * 86_400)), got \(value)")
    }
}

/// The open-files limit after `raiseFileLimit`.
func fileLimit() -> Int {
    raiseFileLimit()
    var limit = rlimit()
    guard getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0 else { return Int.max }
    return limit.rlim_cur > UInt64(Int.max) ? Int.max : Int(limit.rlim_cur)
}

/// Refuses an output path that cannot be written, before a run that would only fail to save its result at the end.
func validateOutputPath(_ path: String?, _ flag: String) throws {
    guard let path else { return }
    guard !path.isEmpty else { throw ValidationError("\(flag) needs a file name, got an empty one") }
    if isStandardOutput(path) { return }
    if path.hasSuffix("/") { throw ValidationError("\(flag) \(path) ends in /, so it names a folder; give a file name, e.g. \(path)report") }
    var isDirectory: ObjCBool = false
    var st = stat()
    if stat(path, &st) != 0 && errno != ENOENT {
        throw ValidationError("\(flag) \(path): \(String(cString: strerror(errno))); pick another path")  // a symlink loop…
    }
    if FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) {
        if isDirectory.boolValue { throw ValidationError("\(flag) \(path) is a directory; give a file name, e.g. \(path)/out") }
        // A FIFO would block the end of the run; a device is not where a report is kept.
        if st.st_mode & S_IFMT != S_IFREG { throw ValidationError("\(flag) \(path) is not a regular file; give a file name") }
        if !FileManager.default.isWritableFile(atPath: path) { throw ValidationError("\(flag) \(path) is not writable by this user") }
        if isCassette(path) {
            throw ValidationError("\(flag) \(path) is a Tapedeck cassette; a report or export never replaces a recording: write it to another file")
        }
        return
    }
    let dir = CassettePath.directory(of: path)
    let parent = dir.isEmpty ? "." : dir
    guard FileManager.default.fileExists(atPath: parent, isDirectory: &isDirectory), isDirectory.boolValue else {
        throw ValidationError("\(flag) \(path): the folder \(parent) does not exist; create it (mkdir -p \(parent)) or pick another path")
    }
    guard FileManager.default.isWritableFile(atPath: parent) else {
        throw ValidationError("\(flag) \(path): the folder \(parent) is not writable by this user; pick another path")
    }
}

/// Refuses a synthetic data set larger than the memory this machine has available, instead of failing to
/// allocate it halfway.
func validateMemory(groups: Int) throws {
    let needed = Double(groups) * Double(DataSetOptions.bytesPerGroup)
    guard let meminfo = try? String(contentsOfFile: "/proc/meminfo", encoding: .utf8),
        let line = meminfo.split(separator: "\n").first(where: { $0.hasPrefix("MemAvailable:") }),
        let kb = Double(line.split(separator: " ").dropFirst().first ?? "")
    else { return }
    let available = kb * 1024
    if needed > available {
        let gib = { (b: Double) in String(format: "%.1f GiB", b / 1_073_741_824) }
        throw ValidationError(
            "--groups \(groups) needs about \(gib(needed)) of memory and \(gib(available)) is available; use a smaller --groups (about \(Int(available / Double(DataSetOptions.bytesPerGroup))) fits)"
        )
    }
}

/// A failure while running (not a usage mistake: no usage text follows it).
struct RunFailure: Error, CustomStringConvertible {
    var description: String
}

/// Whether `path` (through symlinks) starts like a Tapedeck cassette: a gzip member with the `TD` length field.
func isCassette(_ path: String) -> Bool {
    var st = stat()
    guard stat(path, &st) == 0, st.st_mode & S_IFMT == S_IFREG else { return false }  // (a FIFO would block the read)
    guard let handle = FileHandle(forReadingAtPath: path), let head = try? handle.read(upToCount: 14) else { return false }
    try? handle.close()
    let bytes = [UInt8](head)
    return bytes.count == 14 && bytes[0] == 0x1F && bytes[1] == 0x8B && bytes[3] & 4 != 0 && bytes[12] == UInt8(ascii: "T")
        && bytes[13] == UInt8(ascii: "D")
}

/// Writes an output file whole or not at all (a temporary file renamed into place: a full disk leaves no
/// truncated report behind), and says what went wrong in a sentence that names the flag and file.
/// `-` (and `/dev/stdout`) name standard output: the report goes there, and the text summary to stderr.
func isStandardOutput(_ path: String?) -> Bool { path == "-" || path == "/dev/stdout" }

/// Where the text summary goes: stdout, unless a report is written there.
func printSummary(_ text: String, reportsOnStdout: Bool) {
    (reportsOnStdout ? FileHandle.standardError : FileHandle.standardOutput).write(Data(text.utf8))
}

func writeOutput(_ data: Data, to path: String, _ flag: String) throws {
    if isStandardOutput(path) {
        FileHandle.standardOutput.write(data)
        return
    }
    guard !isCassette(path) else {
        throw RunFailure(description: "\(flag) \(path) is a Tapedeck cassette; a report or export never replaces a recording: nothing was written there")
    }
    // Through a symlink to its file (the atomic rename would otherwise replace the link with a file).
    do { try data.write(to: URL(fileURLWithPath: path).resolvingSymlinksInPath(), options: .atomic) } catch {
        let posix = ((error as NSError).userInfo[NSUnderlyingErrorKey] as? NSError).flatMap { $0.domain == NSPOSIXErrorDomain ? $0.code : nil }
        let why: String
        switch (error as NSError).code {
        case NSFileWriteOutOfSpaceError: why = "no space left on its file system"
        case NSFileWriteNoPermissionError: why = "not writable by this user"
        default: why = posix.map { String(cString: strerror(Int32($0))) } ?? error.localizedDescription
        }
        throw RunFailure(description: "\(flag) \(path): cannot write it (\(why)); nothing was written there")
    }
}

/// Refuses two report flags naming one file, and a report written over one of `inputs`.
func checkDistinctOutputs(_ outputs: [(flag: String, path: String?)], inputs: [String] = []) throws {
    func id(_ path: String) -> String { URL(fileURLWithPath: path).resolvingSymlinksInPath().standardizedFileURL.path }
    let named = outputs.compactMap { flag, path in path.map { (flag, id($0)) } }
    for (i, a) in named.enumerated() {
        if let b = named[(i + 1)...].first(where: { $0.1 == a.1 }) {
            throw ValidationError("\(a.0) and \(b.0) name the same file \(a.1); give each report its own file")
        }
        if let input = inputs.first(where: { id($0) == a.1 }) {
            throw ValidationError("\(a.0) \(input) is one of the reports read; write the result to another file")
        }
    }
}

/// Writes every requested report file (flag, path, its bytes made on demand), each whole or not at all; a
/// failure does not stop the others, and the error names each file that failed and each that was written.
func writeOutputs(_ outputs: [(flag: String, path: String?, data: () throws -> Data)]) throws {
    var failed: [String] = [], written: [String] = []
    for (flag, path, data) in outputs {
        guard let path else { continue }
        do {
            try writeOutput(try data(), to: path, flag)
            written.append("\(flag) \(path)")
        } catch {
            failed.append("\(error)")
        }
    }
    guard failed.isEmpty else {
        throw RunFailure(description: failed.joined(separator: "\n") + (written.isEmpty ? "" : "\n(written: \(written.joined(separator: ", ")))"))
    }
}

/// The bytes of an input file, refusing folders, FIFOs and devices (a FIFO would block) by what they are.
/// (`RunFailure`, not `ValidationError`: called from `run()`, where a usage line would be the root command's.)
func readInputFile(_ path: String, _ what: String) throws -> Data {
    var st = stat()
    guard stat(path, &st) == 0 else { throw RunFailure(description: "\(path): \(String(cString: strerror(errno))); give \(what)") }
    switch st.st_mode & S_IFMT {
    case S_IFREG: break
    case S_IFDIR: throw RunFailure(description: "\(path) is a folder; give \(what)")
    default: throw RunFailure(description: "\(path) is not a regular file; give \(what)")
    }
    do { return try Data(contentsOf: URL(fileURLWithPath: path)) } catch {
        throw RunFailure(description: "\(path): cannot read it (\(access(path, R_OK) == 0 ? error.localizedDescription : "not readable by this user"))")
    }
}

func validatePort(_ port: Int) throws {
    guard (0...65535).contains(port) else { throw ValidationError("--port must be 0 to 65535 (0 picks a free port), got \(port)") }
}

/// Lifts the open-files soft limit to the hard limit, so many client connections do not run out of
/// descriptors at a default of 1024 (the way nginx's worker_rlimit_nofile does).
func raiseFileLimit() {
    var limit = rlimit()
    guard getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0, limit.rlim_cur < limit.rlim_max else { return }
    limit.rlim_cur = limit.rlim_max
    _ = setrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit)
}

/// swift-log to stderr at the given level.
func bootstrapLogging(level: Logger.Level, label: String) -> Logger {
    LoggingSystem.bootstrap { label in
        var h = StreamLogHandler.standardError(label: label)
        h.logLevel = level
        return h
    }
    return Logger(label: label)
}

/// What every server subcommand (`simulate`, `proxy`) takes alike.
struct ServerOptions: ParsableArguments {
    @Option(help: "Address to bind.") var host = "127.0.0.1"
    @Option(parsing: .unconditional, help: "Event-loop threads.") var threads = ProcessInfo.processInfo.activeProcessorCount
    @Option(help: "Log level.") var logLevel: Logger.Level = .info

    func validate() throws { try validateThreads(threads) }
}

/// Event-loop threads: each holds three file descriptors (epoll, eventfd, timerfd) and a stack, and NIO stops
/// the process when it cannot make one, so an absurd count is refused here with the reason.
func validateThreads(_ threads: Int) throws {
    let cores = ProcessInfo.processInfo.activeProcessorCount
    if threads < 1 { throw ValidationError("--threads must be 1 or more, got \(threads)") }
    if threads > maxThreads {
        throw ValidationError("--threads takes at most \(maxThreads), got \(threads) (one per core is what helps: this machine has \(cores))")
    }
    let files = fileLimit()
    if threads * 3 > files - 64 {
        throw ValidationError(
            "--threads \(threads) needs \(threads * 3 + 64) open files (3 a thread, 64 kept for connections and files), and this user may open \(files) (ulimit -n); lower --threads (this machine has \(cores) cores) or raise the limit"
        )
    }
}

let maxThreads = 1024

/// The synthetic data set: the simulator builds it, and `load --synthetic` must name the same one.
struct DataSetOptions: ParsableArguments {
    /// Group handles are 32-bit, and each group of both clouds takes about 1 KB of memory (0.96 GiB at 1M).
    static let maxGroups = 100_000_000
    static let bytesPerGroup = 1_100
    @Option(parsing: .unconditional, help: "Synthetic security groups per cloud.") var groups = 1000
    @Option(parsing: .unconditional, help: "Seed for the synthetic data set and ids.") var seed: UInt64 = 1

    func validate() throws {
        if groups < 0 { throw ValidationError("--groups must be 0 or more, got \(groups)") }
        if groups > DataSetOptions.maxGroups {
            throw ValidationError("--groups takes at most \(DataSetOptions.maxGroups) groups per cloud, got \(groups)")
        }
    }
}

// Enum-valued options parse as themselves: an unknown value is refused with the list of valid ones.
extension ProxyMode: ExpressibleByArgument {}
extension ExhaustedPolicy: ExpressibleByArgument {}
extension Logger.Level: @retroactive ExpressibleByArgument {}
extension LoadConfiguration.Arrival: ExpressibleByArgument {}

/// Runs a server's service group, which stops gracefully on the first SIGTERM or SIGINT (in-flight exchanges
/// finish, the cassette is flushed). Another one during that drain, a quarter second or more later (a double
/// Ctrl-C), stops at once: the group is cancelled, what is in flight is abandoned (and not recorded), the
/// cassette is closed on its last whole record, and the exit status is 128 + the signal's number, as for a
/// process the signal ended. (A
/// repeat within a quarter second is the same stop delivered twice, as `timeout` does to its command's process
/// group, or a terminal's Ctrl-C to a wrapper that passes it on: not a second request.)
func runServer(_ group: ServiceGroup, logger: Logger) async throws {
    let run = Task { try await group.run() }
    let signals = await UnixSignalsSequence(trapping: .sigterm, .sigint)
    let forced = Mutex<UnixSignal?>(nil)
    let watcher = Task {
        var first: ContinuousClock.Instant?
        for await signal in signals {
            guard let at = first else {
                first = .now
                continue
            }
            guard ContinuousClock.now - at >= .milliseconds(250) else { continue }
            logger.warning("second \(signal): stopping now; exchanges still in flight are abandoned and not recorded")
            forced.withLock { $0 = signal }
            run.cancel()
            return
        }
    }
    defer { watcher.cancel() }
    try await withTaskCancellationHandler { try await run.value } onCancel: { run.cancel() }
    if let signal = forced.withLock({ $0 }) { throw ExitCode(128 + (signal == .sigint ? SIGINT : SIGTERM)) }
}
