import ArgumentParser
import Foundation
import TapedeckDemo

struct DemoCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "demo",
        abstract: "Simulate, record, replay offline, and load-test, on built-in data (no cloud account needed).",
        discussion: "Writes the cassette, report.html and report.json to --out; exits non-zero if any step fails."
    )

    @Option(help: "Folder for the cassette and reports.") var out = "tapedeck-demo"
    @Option(parsing: .unconditional, help: "Synthetic groups per cloud.") var groups = 20_000
    @Option(parsing: .unconditional, help: "Seconds of load per target.") var seconds = 3

    func validate() throws {
        guard !out.isEmpty else { throw ValidationError("--out needs a folder name, got an empty one") }
        guard (1...DataSetOptions.maxGroups).contains(groups) else {
            throw ValidationError("--groups must be 1 to \(DataSetOptions.maxGroups), got \(groups)")
        }
        try validateMemory(groups: groups)
        guard (1...3600).contains(seconds) else { throw ValidationError("--seconds must be 1 to 3600, got \(seconds)") }
    }

    func run() async throws {
        var demo = Demo(outputDirectory: out)
        demo.groups = groups
        demo.loadDuration = .seconds(Int64(seconds))
        do {
            try await demo.run { printLine($0) }  // unbuffered: a SIGTERM keeps the steps already shown
        } catch {
            print("✗ demo failed: \(error)")
            throw ExitCode(1)
        }
    }
}
