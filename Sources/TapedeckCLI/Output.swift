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
    @Option(help: "Event-loop threads.") var threads = ProcessInfo.processInfo.activeProcessorCount
    @Option(help: "Log level.") var logLevel: Logger.Level = .info

    func validate() throws {
        if threads < 1 { throw ValidationError("--threads must be 1 or more") }
    }
}

/// The synthetic data set: the simulator builds it, and `load --synthetic` must name the same one.
struct DataSetOptions: ParsableArguments {
    @Option(help: "Synthetic security groups per cloud.") var groups = 1000
    @Option(help: "Seed for the synthetic data set and ids.") var seed: UInt64 = 1

    func validate() throws {
        if groups < 0 { throw ValidationError("--groups must be 0 or more") }
    }
}

// Enum-valued options parse as themselves: an unknown value is refused with the list of valid ones.
extension ProxyMode: ExpressibleByArgument {}
extension ExhaustedPolicy: ExpressibleByArgument {}
extension Logger.Level: @retroactive ExpressibleByArgument {}
extension LoadConfiguration.Arrival: ExpressibleByArgument {}
