import CloudModel
import CloudSim
import Foundation
import Histogram
@testable import LoadGen
import NIOCore
import NIOEmbedded
import TapedeckTesting
import Testing

@Suite struct LoadGenTests {
    @Test func syntheticLoadVerifiesAgainstGroundTruth() async throws {
        try await TestSimulator.with(groups: 3000, seed: 4, threads: 1) { sim in
            let target = LoadTarget(url: sim.url)!
            let requests = await SyntheticSource.requests(dataSet: SyntheticDataSet(groups: 3000, seed: 4), target: target, count: 500)
            #expect(Set(requests.map(\.kind)).count == 4)
            var conf = LoadConfiguration(target: target)
            conf.connections = 4
            conf.duration = .milliseconds(700)
            conf.verify = true
            let report = try await LoadRunner(configuration: conf, requests: requests).run()
            #expect(report.result.completed > 0)
            #expect(report.result.verifyChecked == report.result.completed)
            #expect(report.result.verifyMismatched.isEmpty, "\(report.result.mismatchSamples)")
            #expect(report.errorCount == 0, "\(report.result.errors)")
            // Unknown ids are part of the mix and answered with the cloud's error.
            #expect(report.result.statuses.keys.contains(200))
        }
    }

    @Test func verifyCatchesAWrongAnswer() async throws {
        try await TestSimulator.with(groups: 500, seed: 1) { sim in
            let target = LoadTarget(url: sim.url)!
            // Ground truth of another seed: the ids do not exist here.
            let wrong = await SyntheticSource.requests(dataSet: SyntheticDataSet(groups: 500, seed: 2), target: target, count: 50)
            var conf = LoadConfiguration(target: target)
            conf.connections = 2
            conf.duration = .milliseconds(300)
            conf.verify = true
            let report = try await LoadRunner(configuration: conf, requests: wrong).run()
            #expect(report.result.verifyMismatched.values.reduce(0, +) > 0)
            #expect(!report.result.mismatchSamples.isEmpty)
        }
    }

    @Test func openLoopReportsBothLatenciesAndTheJSONKeys() async throws {
        try await TestSimulator.with(groups: 100) { sim in
            var conf = LoadConfiguration(target: LoadTarget(url: sim.url + "/?Action=DescribeSecurityGroups&RegionId=cn-hangzhou")!)
            conf.rate = 300
            conf.connections = 4
            conf.duration = .milliseconds(500)
            let req = LoadRequest(
                bytes: ByteBuffer(string: "GET \(conf.target.path) HTTP/1.1\r\nHost: x\r\n\r\n"), expectation: nil, kind: "get")
            let report = try await LoadRunner(configuration: conf, requests: [req]).run()
            #expect(report.result.completed > 0 && report.result.statuses[200] == report.result.completed)
            // The corrected histogram also holds the requests that were due but never sent, and those still
            // unanswered at the end, as waiting.
            #expect(
                report.result.corrected.totalCount
                    == report.result.uncorrected.totalCount + UInt64(report.result.neverSent + report.result.unanswered))
            #expect(report.latency(50) >= report.latency(50, corrected: false), "corrected latency includes any queueing")
            let json = report.json
            for k in ["version", "requests", "throughput_rps", "latency_us", "status", "verify"] { #expect(json[k] != nil, "\(k)") }
            let lat = json["latency_us"] as! [String: Any]
            for side in ["corrected", "uncorrected"] {
                let d = lat[side] as! [String: Any]
                for p in ["p50", "p90", "p99", "p999", "max"] { #expect(d[p] != nil, "\(side).\(p)") }
            }
            #expect(report.hgrm.contains("Value     Percentile TotalCount 1/(1-Percentile)"))
        }
    }

    @Test func resultsMergeExactly() {
        var a = WorkerResult(), b = WorkerResult()
        for v in [100, 200, 300] as [UInt64] { _ = a.corrected.record(v) }
        for v in [400, 500] as [UInt64] { _ = b.corrected.record(v) }
        a.completed = 3; b.completed = 2
        a.statuses = [200: 3]; b.statuses = [200: 1, 500: 1]
        a.add(b)
        #expect(a.completed == 5 && a.corrected.totalCount == 5)
        #expect(a.statuses == [200: 4, 500: 1])
        #expect(a.corrected.valueAtPercentile(100) == b.corrected.max)
    }

    @Test func responseReaderHandlesSplitReads() throws {
        let channel = EmbeddedChannel()
        final class Received { var responses: [LoadResponse] = [] }
        let received = Received()
        try channel.pipeline.syncOperations.addHandler(ResponseReader { received.responses.append($0) })
        let raw =
            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\ncontent-length: 5\r\n\r\nhelloHTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n"
        for chunk in raw.utf8.map({ [$0] }) { try channel.writeInbound(ByteBuffer(bytes: chunk)) }
        #expect(received.responses.count == 2)
        let first = try #require(received.responses.first)
        #expect(first.status == 200 && String(buffer: first.body) == "hello")
        let second = try #require(received.responses.last)
        #expect(second.status == 404 && second.body.readableBytes == 0)
    }

    /// Servers the load generator did not come with: chunked bodies (split anywhere), `Connection: close`
    /// and HTTP/1.0 answers, and bodies that run until the server closes.
    @Test func responseReaderReadsChunkedCloseDelimitedAndClosingAnswers() throws {
        let channel = EmbeddedChannel()
        final class Received { var responses: [LoadResponse] = [] }
        let received = Received()
        try channel.pipeline.syncOperations.addHandler(ResponseReader { received.responses.append($0) })
        let chunked = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;ext=1\r\nhello\r\n1\r\n \r\nA\r\n0123456789\r\n0\r\nX-Trailer: t\r\n\r\n"
        let closing = "HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok"
        for chunk in (chunked + closing).utf8.map({ [$0] }) { try channel.writeInbound(ByteBuffer(bytes: chunk)) }
        #expect(received.responses.map(\.status) == [200, 200])
        #expect(String(buffer: received.responses[0].body) == "hello 0123456789" && !received.responses[0].closes)
        #expect(String(buffer: received.responses[1].body) == "ok" && received.responses[1].closes, "HTTP/1.0 closes")
        // No length, not chunked: the body runs to the close.
        try channel.writeInbound(ByteBuffer(string: "HTTP/1.1 503 Busy\r\nConnection: close\r\n\r\nbusy, "))
        try channel.writeInbound(ByteBuffer(string: "try later"))
        #expect(received.responses.count == 2)
        try channel.close().wait()
        #expect(received.responses.count == 3)
        #expect(received.responses.last.map { $0.status == 503 && String(buffer: $0.body) == "busy, try later" && $0.closes } == true)
    }

    /// A HEAD answer announces the GET's length and sends no body: the next answer follows its headers.
    @Test func aHeadAnswerHasNoBodyWhateverItsLength() throws {
        let channel = EmbeddedChannel()
        final class Received { var responses: [LoadResponse] = [] }
        let received = Received()
        let reader = ResponseReader { received.responses.append($0) }
        try channel.pipeline.syncOperations.addHandler(reader)
        reader.expectHeadAnswer(true)
        try channel.writeInbound(ByteBuffer(string: "HTTP/1.1 200 OK\r\nContent-Length: 7309\r\n\r\n"))
        #expect(received.responses.map(\.status) == [200] && received.responses[0].body.readableBytes == 0)
        reader.expectHeadAnswer(false)
        try channel.writeInbound(ByteBuffer(string: "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"))
        #expect(received.responses.count == 2 && String(buffer: received.responses[1].body) == "ok")
        #expect(LoadRequest(bytes: ByteBuffer(string: "HEAD / HTTP/1.1\r\n\r\n"), expectation: nil, kind: "h").isHead)
    }

    @Test func malformedChunksAreProtocolErrors() {
        // (A signed size: `Int(_:radix:)` reads "-1" as minus one, which once trapped at the slice.)
        for bad in ["zz\r\n", "5\r\nhelloX\r\n", String(repeating: "1", count: 9) + "\r\n", "-1\r\nx\r\n", "+5\r\nhello\r\n", "5\nhello\r\n", "5\r\nhello\n"] {
            var decoder = ResponseDecoder()
            var buffer = ByteBuffer(string: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + bad)
            #expect(throws: ResponseDecoder.Unsupported.self, "\(bad)") { _ = try decoder.next(&buffer) }
        }
    }

    /// A target cannot make the load generator buffer an endless body: one announced over the limit is an error.
    @Test func aBodyOverTheLimitIsRefusedBeforeItIsRead() {
        var decoder = ResponseDecoder()
        var buffer = ByteBuffer(string: "HTTP/1.1 200 OK\r\nContent-Length: 10000000000\r\n\r\nxxxx")
        #expect { try decoder.next(&buffer) } throws: { "\($0)".contains("over the load generator's 64 MiB limit") }
    }

    @Test func responseReaderDeliversEveryAnswerOfOneReadAndKeepsThePartialRest() throws {
        let channel = EmbeddedChannel()
        final class Received { var responses: [LoadResponse] = [] }
        let received = Received()
        try channel.pipeline.syncOperations.addHandler(ResponseReader { received.responses.append($0) })
        let one = "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabc"
        let interim = "HTTP/1.1 100 Continue\r\n\r\n"
        // Three answers (one after a 100 Continue) and half a fourth in one read, then the rest of it.
        let raw = one + interim + one + one + "HTTP/1.1 503 Busy\r\nContent-Len"
        try channel.writeInbound(ByteBuffer(string: raw))
        #expect(received.responses.map(\.status) == [200, 200, 200])
        #expect(received.responses.allSatisfy { String(buffer: $0.body) == "abc" })
        try channel.writeInbound(ByteBuffer(string: "gth: 4\r\n\r\nbusy"))
        #expect(received.responses.map(\.status) == [200, 200, 200, 503])
        #expect(String(buffer: received.responses[3].body) == "busy")
        // A malformed head is an error once; later bytes on the failing connection are ignored.
        #expect(throws: ResponseDecoder.Unsupported.self) { try channel.writeInbound(ByteBuffer(string: "HTTP/1.1 2000 OK\r\n\r\n")) }
        try channel.writeInbound(ByteBuffer(string: one))
        #expect(received.responses.count == 4)
    }
}

@Suite struct HistogramCodecTests {
    @Test func v2EncodingRoundTripsExactly() throws {
        var h = Histogram<UInt64>(highestTrackableValue: 60_000_000, numberOfSignificantValueDigits: .three)
        var rng = SystemRandomNumberGenerator()
        for _ in 0..<20_000 { _ = h.record(UInt64.random(in: 1...5_000_000, using: &rng)) }
        _ = h.record(1, count: 7)
        let back = try HistogramCodec.decodeCompressed(try HistogramCodec.encodeCompressed(h))
        #expect(back.totalCount == h.totalCount)
        // The encoding keeps buckets, not exact values: percentiles agree to the histogram's resolution.
        for p in [0.0, 50, 90, 99, 99.9, 100] {
            #expect(HistogramCodec.index(of: back.valueAtPercentile(p)) == HistogramCodec.index(of: h.valueAtPercentile(p)), "p\(p)")
        }
        #expect(Array(try HistogramCodec.encodeCompressed(h).prefix(4)) == [0x1C, 0x84, 0x93, 0x04])
    }

    @Test func indexAndValueAreInverse() {
        for v in [1, 2, 1023, 1024, 2047, 2048, 2049, 100_000, 59_999_999] as [UInt64] {
            let i = HistogramCodec.index(of: v)
            let lo = HistogramCodec.value(at: i)
            #expect(lo <= v && HistogramCodec.index(of: lo) == i, "\(v)")
        }
    }

    @Test func theJSONDocumentRoundTripsAndABadFieldIsNamed() throws {
        var conf = LoadConfiguration(target: LoadTarget(url: "http://127.0.0.1:8080/")!)
        conf.rate = 500
        conf.verify = true
        conf.notes = ["a note"]
        var r = WorkerResult()
        for v in [100, 200, 300, 5_000] as [UInt64] {
            _ = r.corrected.record(v)
            _ = r.uncorrected.record(v / 2)
        }
        r.scheduled = 5
        r.sent = 4
        r.completed = 4
        r.neverSent = 1
        r.statuses = [200: 3, 404: 1]
        r.tapedeckCodes = ["Tapedeck.NoMatchingExchange": 1]
        r.verifyChecked = 4
        r.verifyMismatched = ["body": 1]
        let report = LoadReport(configuration: conf, result: r, seconds: 2)
        let data = try report.jsonData()
        let text = String(decoding: data, as: UTF8.self)
        for key in ["\"requested_rps\" : 500", "\"never_sent\" : 1", "\"p99_us\"", "\"latency_us\"", "\"tapedeck_codes\"", "\"by_kind\""] {
            #expect(text.contains(key), "\(key)")
        }
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("tapedeck-doc-\(UInt32.random(in: 0...UInt32.max)).json")
        defer { try? FileManager.default.removeItem(at: path) }
        try data.write(to: path)
        let back = try LoadReport.read(path.path)
        #expect(back.result.statuses == r.statuses && back.result.neverSent == 1 && back.result.tapedeckCodes == r.tapedeckCodes)
        #expect(back.result.corrected.totalCount == 4 && back.latency(99) == report.latency(99))
        #expect(back.configuration.rate == 500 && back.configuration.notes == ["a note"] && back.seconds == 2)
        #expect(back.document.requests.scheduled == 5)

        // A field of the wrong type is named, with the file.
        try Data(text.replacingOccurrences(of: "\"completed\" : 4", with: "\"completed\" : \"four\"").utf8).write(to: path)
        do {
            _ = try LoadReport.read(path.path)
            Issue.record("a bad field must be refused")
        } catch {
            #expect("\(error)".contains(path.path) && "\(error)".contains("requests.completed"), "\(error)")
        }
        // Counts edited so they no longer add up, or negative, are refused: a merge would report nonsense.
        for (from, to, said) in [("\"completed\" : 4", "\"completed\" : -5", "never negative"), ("\"completed\" : 4", "\"completed\" : 3", "do not add up"),
                                 ("\"never_sent\" : 1", "\"never_sent\" : 0", "do not add up")] {
            try Data(text.replacingOccurrences(of: from, with: to).utf8).write(to: path)
            #expect { try LoadReport.read(path.path) } throws: { "\($0)".contains(path.path) && "\($0)".contains(said) }
        }
    }

    @Test func reportsMergeThroughTheirJSON() async throws {
        try await TestSimulator.with(groups: 100) { sim in
            let req = LoadRequest(
                bytes: ByteBuffer(string: "GET /?Action=DescribeSecurityGroups&RegionId=cn-hangzhou HTTP/1.1\r\nHost: x\r\n\r\n"),
                expectation: nil, kind: "get")
            var conf = LoadConfiguration(target: LoadTarget(url: sim.url)!)
            conf.connections = 2
            conf.duration = .milliseconds(300)
            let a = try await LoadRunner(configuration: conf, requests: [req]).run()
            let b = try await LoadRunner(configuration: conf, requests: [req]).run()
            let dir = FileManager.default.temporaryDirectory
            let pa = dir.appendingPathComponent("tapedeck-a-\(UInt32.random(in: 0...UInt32.max)).json"),
                pb = dir.appendingPathComponent("tapedeck-b-\(UInt32.random(in: 0...UInt32.max)).json")
            defer { try? FileManager.default.removeItem(at: pa); try? FileManager.default.removeItem(at: pb) }
            try a.jsonData().write(to: pa)
            try b.jsonData().write(to: pb)
            let merged = LoadReport.merge([try LoadReport.read(pa.path), try LoadReport.read(pb.path)])
            #expect(merged.result.completed == a.result.completed + b.result.completed)
            var direct = a.result.corrected
            direct.add(b.result.corrected)
            #expect(merged.result.corrected.totalCount == direct.totalCount)
            for p in [50.0, 99, 100] {
                #expect(HistogramCodec.index(of: merged.latency(p)) == HistogramCodec.index(of: direct.valueAtPercentile(p)))
            }
            #expect(merged.configuration.connections == 4)
        }
    }
}
