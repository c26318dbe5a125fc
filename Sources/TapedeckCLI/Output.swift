import Foundation
import Logging

/// The line scripts wait for, on stdout, flushed at once.
func printListening(_ url: String) {
    FileHandle.standardOutput.write(Data("listening on \(url)\n".utf8))
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
