import ArgumentParser
import Foundation
import LoadGen

struct Report: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Work with load reports.",
        subcommands: [Merge.self]
    )

    struct Merge: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Merge the --json reports of many load workers exactly (HdrHistograms add) into one report."
        )
        @Argument(help: "Worker reports written with `tapedeck load --json`.") var reports: [String]
        @Option(help: "Merged JSON report.") var json: String?
        @Option(help: "Merged HTML report.") var html: String?
        @Option(help: "Merged HdrHistogram interval log.") var hlog: String?
        @Option(help: "Merged .hgrm percentile distribution.") var hgrm: String?

        func run() throws {
            guard !reports.isEmpty else { throw ValidationError("give at least one report") }
            let merged = LoadReport.merge(try reports.map(LoadReport.read))
            print("merged \(reports.count) report(s)")
            print(merged.text, terminator: "")
            if let json { try merged.jsonData().write(to: URL(fileURLWithPath: json)) }
            if let html {
                try HTMLReport.render(title: "tapedeck load, \(reports.count) workers merged", reports: [("merged", merged)]).write(
                    toFile: html, atomically: true, encoding: .utf8)
            }
            if let hlog { try merged.hlog.write(toFile: hlog, atomically: true, encoding: .utf8) }
            if let hgrm { try merged.hgrm.write(toFile: hgrm, atomically: true, encoding: .utf8) }
        }
    }
}
