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

        func validate() throws {
            for (flag, path) in [("--json", json), ("--html", html), ("--hlog", hlog), ("--hgrm", hgrm)] { try validateOutputPath(path, flag) }
        }

        func run() throws {
            guard !reports.isEmpty else { throw ValidationError("give at least one report") }
            let merged = LoadReport.merge(try reports.map(LoadReport.read))
            print("merged \(reports.count) report(s)")
            print(merged.text, terminator: "")
            if let json { try writeOutput(try merged.jsonData(), to: json, "--json") }
            if let html {
                let page = HTMLReport.render(title: "tapedeck load, \(reports.count) workers merged", reports: [("merged", merged)])
                try writeOutput(Data(page.utf8), to: html, "--html")
            }
            if let hlog { try writeOutput(Data(merged.hlog.utf8), to: hlog, "--hlog") }
            if let hgrm { try writeOutput(Data(merged.hgrm.utf8), to: hgrm, "--hgrm") }
        }
    }
}
