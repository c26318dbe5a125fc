import LoadGen
import Matching
import Proxy
import Foundation
import ArgumentParser
import Logging

/// The line scripts wait for, on stdout, flushed at once.
func printListening(_ url: String) {
    FileHandle.standardOutput.write(Data("listening on \(url)\n".utf8))
}

/// A line on stdout, flushed at once.
func printLine(_ s: String) {
    FileHandle.standardOutput.write(Data("\(s)\n".utf8))
}

/// `--port` is 0 (any free port) to 65535; larger numbers are refused, not wrapped.
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
func bootstrapLogging(level: String, label: String) -> Logger {
    let lvl = Logger.Level(rawValue: level) ?? .info
    LoggingSystem.bootstrap { label in
        var h = StreamLogHandler.standardError(label: label)
        h.logLevel = lvl
        return h
    }
    return Logger(label: label)
}

// Enum-valued options parse as themselves: an unknown value is refused with the list of valid ones.
extension ProxyMode: ExpressibleByArgument {}
extension ExhaustedPolicy: ExpressibleByArgument {}
extension LoadConfiguration.Arrival: ExpressibleByArgument {}
