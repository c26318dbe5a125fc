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
            let outputs = [("--json", json), ("--html", html), ("--hlog", hlog), ("--hgrm", hgrm)]
            for (flag, path) in outputs { try validateOutputPath(path, flag) }
            if outputs.filter({ isStandardOutput($0.1) }).count > 1 {
                throw ValidationError("only one report can go to standard output (-); write the others to files")
            }
            try checkDistinctOutputs(outputs, inputs: reports)
        }

        func run() throws {
            guard !reports.isEmpty else { throw ValidationError("give at least one report") }
            // The same file twice would count its requests twice.
            var seen: [String: String] = [:]
            for path in reports {
                var st = stat()
                guard stat(path, &st) == 0, st.st_mode & S_IFMT == S_IFREG else { continue }  // (read below names the problem)
                let id = "\(st.st_dev):\(st.st_ino)"
                if let first = seen[id] { throw RunFailure(description: "\(first) and \(path) are the same report; give each worker's report once") }
                seen[id] = path
            }
            let read = try reports.map(LoadReport.read)
            // A copy of one report (cp a.json b.json) is the same run: same start, same counts.
            for i in read.indices {
                for j in read.indices where j > i {
                    let a = read[i].result, b = read[j].result
                    if a.startedAt == b.startedAt && a.scheduled == b.scheduled && a.completed == b.completed
                        && a.corrected.totalCount == b.corrected.totalCount && a.corrected.max == b.corrected.max
                    {
                        throw RunFailure(description: "\(reports[i]) and \(reports[j]) hold the same run (same start and counts); give each worker's report once")
                    }
                }
            }
            // Workers of one test load one target; merging runs against different servers mixes two measurements.
            let targets = Set(read.map { "\($0.configuration.target.host):\($0.configuration.target.port)" })
            if targets.count > 1 {
                throw RunFailure(
                    description: "the reports measured different targets (\(targets.sorted().joined(separator: ", "))); merge the reports of one target at a time")
            }
            // Open-loop and closed-loop runs measure different things: their sum is neither.
            if Set(read.map { $0.configuration.rate == nil }).count > 1 {
                throw RunFailure(
                    description: "the reports mix open-loop (--rate) and closed-loop runs; merge the reports of one kind of run at a time")
            }
            let merged = LoadReport.merge(read)
            let onStdout = [json, html, hlog, hgrm].contains { isStandardOutput($0) }
            printSummary("merged \(reports.count) report(s)\n" + merged.text, reportsOnStdout: onStdout)
            try writeOutputs([
                ("--json", json, { try merged.jsonData() }),
                ("--html", html, { Data(HTMLReport.render(title: "tapedeck load, \(reports.count) workers merged", reports: [("merged", merged)]).utf8) }),
                ("--hlog", hlog, { Data(merged.hlog.utf8) }),
                ("--hgrm", hgrm, { Data(merged.hgrm.utf8) }),
            ])
        }
    }
}
