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
    @Option(help: "Synthetic groups per cloud.") var groups = 20_000
    @Option(help: "Seconds of load per target.") var seconds = 3

    func run() async throws {
        var demo = Demo(outputDirectory: out)
        demo.groups = groups
        demo.loadDuration = .seconds(Int64(seconds))
        do {
            try await demo.run { print($0) }
        } catch {
            print("✗ demo failed: \(error)")
            throw ExitCode(1)
        }
    }
}
