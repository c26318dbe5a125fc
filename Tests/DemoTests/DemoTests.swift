import Foundation
import TapedeckDemo
import Testing

@Suite struct DemoTests {
    @Test func demoRunsEndToEndAndWritesItsArtifacts() async throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("tapedeck-demo-\(UInt32.random(in: 0...UInt32.max))").path
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var demo = Demo(outputDirectory: dir)
        demo.groups = 2000
        demo.loadDuration = .milliseconds(300)
        demo.connections = 4
        let lines = LinesBox()
        try await demo.run { lines.append($0) }
        let all = lines.value
        #expect(all.contains { $0.contains("answers byte-identical") })
        #expect(all.contains { $0.contains("no credential in the cassette") })
        for f in ["session.jsonl.gz", "report.html", "report.json"] {
            #expect(FileManager.default.fileExists(atPath: dir + "/" + f), "\(f)")
        }
        let html = try String(contentsOfFile: dir + "/report.html", encoding: .utf8)
        #expect(html.contains("<svg") && !html.contains("<script"))
    }
}

final class LinesBox: @unchecked Sendable {
    private let lock = NSLock()
    private var lines: [String] = []
    func append(_ s: String) { lock.lock(); lines.append(s); lock.unlock() }
    var value: [String] { lock.lock(); defer { lock.unlock() }; return lines }
}
