import Histogram
@testable import LoadGen
import NIOCore
import Testing

/// The load worker's schedule and accounting without a socket or a clock: times are passed in (ns).
@Suite struct LoadWorkerStateMachineTests {
    static let ms: UInt64 = 1_000_000
    static let start: UInt64 = 1_000 * ms

    func machine(rate: Double? = nil, duration: Int64 = 1, timeout: Int64 = 2, requests: Int = 3, pacing: [Double]? = nil) -> LoadWorkerStateMachine {
        var conf = LoadConfiguration(target: LoadTarget(url: "http://127.0.0.1:9/")!)
        conf.rate = rate
        conf.pacing = pacing
        conf.duration = .seconds(duration)
        conf.timeout = .seconds(timeout)
        let rs = (0..<requests).map {
            LoadRequest(bytes: ByteBuffer(string: "GET /\($0) HTTP/1.1\r\n\r\n"), expectation: nil, kind: "r\($0)")
        }
        return LoadWorkerStateMachine(index: 0, configuration: conf, requests: rs, startAt: Self.start, progress: Progress())
    }

    let ok = ByteBuffer(string: "ok")

    @Test func closedLoopSendsNothingBeforeTheStartThenOneRequestPerAnswer() {
        var m = machine()
        let a = m.connecting(), b = m.connecting()
        let v1 = m.connected(a, now: Self.start - 10 * Self.ms)  // before the common start
        #expect(v1 == nil)
        let v2 = m.connected(b, now: Self.start - 10 * Self.ms)
        #expect(v2 == nil)
        let v3 = m.nextSend(now: Self.start - Self.ms)
        #expect(v3 == nil)
        let v4 = m.tick(now: Self.start)
        #expect(v4 == .none)
        let first = m.nextSend(now: Self.start), second = m.nextSend(now: Self.start)
        let v5 = m.nextSend(now: Self.start)
        #expect(v5 == nil)
        #expect(Set([first?.connection, second?.connection]) == [a, b])
        #expect([first?.request, second?.request] == [0, 1])  // requests in order, cycling
        let next = m.answered(a, status: 200, body: ok, now: Self.start + Self.ms)
        #expect(next == .init(connection: a, request: 2))
        let v6 = m.answered(a, status: 200, body: ok, now: Self.start + 2 * Self.ms)
        #expect(v6 == .init(connection: a, request: 0))
        #expect(m.result.completed == 2 && m.result.sent == 4 && m.result.scheduled == 4)
    }

    /// `--rate R --duration D` schedules R × D requests, also when 1/R is no whole number of nanoseconds
    /// (three truncated 333 333 333 ns gaps once left room for a fourth request in the second).
    @Test(arguments: [(3.0, 1, 3), (300.0, 1, 300), (7.0, 3, 21), (1000.0 / 3, 3, 1000)])
    func aRateSchedulesExactlyRateTimesDuration(_ rate: Double, _ seconds: Int64, _ expected: Int) {
        var m = machine(rate: rate, duration: seconds)
        let c = m.connecting()
        _ = m.connected(c, now: Self.start)
        var t = Self.start
        while t < Self.start + UInt64(seconds) * 1000 * Self.ms {
            _ = m.tick(now: t)
            t += 50 * Self.ms
        }
        let end = m.tick(now: t)
        #expect(end == .finish)
        #expect(m.result.scheduled == expected)
    }

    /// An answer that closes its connection (`Connection: close`, HTTP/1.0) is a completion; nothing more is sent
    /// on that connection, and its close asks for a replacement without counting an error. The slot is reused.
    @Test func aClosingAnswerIsCountedAndItsConnectionReplaced() {
        var m = machine()
        let a = m.connecting()
        let first = m.connected(a, now: Self.start)  // closed loop: sends at once
        #expect(first?.connection == a)
        let next = m.answered(a, status: 200, body: ok, closes: true, now: Self.start + Self.ms)
        #expect(next == nil, "nothing more on a closing connection")
        let none = m.nextSend(now: Self.start + Self.ms)
        #expect(none == nil)
        let replace = m.closed(a, now: Self.start + 2 * Self.ms)
        #expect(replace, "its close opens a replacement")
        #expect(m.result.completed == 1 && m.result.errors.isEmpty)
        let b = m.connecting()
        #expect(b == a, "the slot is reused: a connection per request does not grow the table")
        let again = m.connected(b, now: Self.start + 3 * Self.ms)
        #expect(again?.connection == b)
    }

    @Test func openLoopQueuesWhatIsDueAndMeasuresFromTheIntendedTime() {
        var m = machine(rate: 1000)  // one request per ms
        let c = m.connecting()
        _ = m.connected(c, now: Self.start - Self.ms)
        let v7 = m.tick(now: Self.start + 10 * Self.ms)
        #expect(v7 == .none)  // 11 are due (t = 0…10 ms)
        #expect(m.result.scheduled == 11)
        let s = m.nextSend(now: Self.start + 10 * Self.ms)
        #expect(s == .init(connection: c, request: 0))
        let v8 = m.nextSend(now: Self.start + 10 * Self.ms)  // one connection, busy
        #expect(v8 == nil)
        // Answered 1 ms after it was sent but 11 ms after it was due: the corrected latency shows the wait.
        let next = m.answered(c, status: 200, body: ok, now: Self.start + 11 * Self.ms)
        #expect(next?.request == 1)
        #expect(m.result.corrected.max >= 11_000 && m.result.uncorrected.max < 2_000)
    }

    /// Cassette pacing: each request at its offset / speed; an offset below zero (a clock that went back) is sent
    /// at the start instead of trapping on the conversion.
    @Test func cassettePacingSendsAtTheRecordedOffsetsAndNeverTraps() {
        var m = machine(requests: 3, pacing: [-0.5, 0, 0.002])  // speed 1
        let c = m.connecting()
        _ = m.connected(c, now: Self.start - Self.ms)
        _ = m.tick(now: Self.start)
        #expect(m.result.scheduled == 2, "the first two are due at the start")
        _ = m.tick(now: Self.start + 2 * Self.ms)
        #expect(m.result.scheduled == 3)
    }

    @Test func everyDueRequestIsAccountedForAtTheEnd() throws {
        var m = machine(rate: 1000)
        let c = m.connecting()
        _ = m.connected(c, now: Self.start)
        _ = m.tick(now: Self.start + 500 * Self.ms)
        _ = m.nextSend(now: Self.start + 500 * Self.ms)
        let v9 = m.tick(now: Self.start + 1_000 * Self.ms)
        #expect(v9 == .finish)
        let finished = m.finish(now: Self.start + 1_000 * Self.ms)
        let r = try #require(finished)
        // Every request due in the second (0 … 999 ms), those that fell due after the last tick before the end too.
        #expect(r.scheduled == 1000)
        #expect(r.sent == 1 && r.unanswered == 1 && r.neverSent == 999)
        #expect(r.scheduled == r.sent + r.neverSent && r.sent == r.completed + r.errors.values.reduce(0, +) + r.unanswered)
        // The corrected latency holds all 1000: the one stuck since t = 0 waited the whole second.
        #expect(r.corrected.totalCount == 1000 && r.corrected.max >= 999_000)
        #expect(r.uncorrected.totalCount == 0)
        let v10 = m.finish(now: Self.start + 1_001 * Self.ms)  // once
        #expect(v10 == nil)
        let v11 = m.nextSend(now: Self.start + 1_001 * Self.ms)
        #expect(v11 == nil)
    }

    /// The counts partition the schedule: an error answer is an error, not also a completion (unless it is the
    /// recorded answer); a warm-up request's timeout is not the run's; a timeout's wait is in the corrected latency.
    @Test func errorAnswersWarmupTimeoutsAndTheScheduleAddUp() throws {
        func machine(warmup: TimeAmount) -> LoadWorkerStateMachine {
            var conf = LoadConfiguration(target: LoadTarget(url: "http://127.0.0.1:9/")!)
            conf.rate = 1000
            conf.duration = .seconds(1)
            conf.warmup = warmup
            conf.timeout = .milliseconds(50)
            let rs = [
                LoadRequest(bytes: ByteBuffer(string: "GET /a HTTP/1.1\r\n\r\n"), expectation: nil, kind: "a"),
                LoadRequest(bytes: ByteBuffer(string: "GET /b HTTP/1.1\r\n\r\n"), expectation: .exact(status: 404, body: []), kind: "b"),
            ]
            return LoadWorkerStateMachine(index: 0, configuration: conf, requests: rs, startAt: Self.start, progress: Progress())
        }
        var m = machine(warmup: .zero)
        let c = m.connecting()
        _ = m.connected(c, now: Self.start)
        _ = m.tick(now: Self.start)
        let n0 = m.nextSend(now: Self.start)
        let s0 = try #require(n0)  // /a, due at 0
        _ = m.answered(s0.connection, status: 503, body: ByteBuffer(), now: Self.start + Self.ms)  // an error, not a completion
        _ = m.tick(now: Self.start + 2 * Self.ms)
        let n1 = m.nextSend(now: Self.start + 2 * Self.ms)
        let s1 = try #require(n1)  // /b, whose recorded answer is a 404
        let n2 = m.answered(s1.connection, status: 404, body: ByteBuffer(), now: Self.start + 3 * Self.ms)
        let s2 = try #require(n2)
        #expect(s2.request == 0)
        #expect(m.nextTimedOut(now: Self.start + 60 * Self.ms) == s2.connection)
        _ = m.tick(now: Self.start + 1_100 * Self.ms)
        let f = m.finish(now: Self.start + 1_100 * Self.ms)
        let r = try #require(f)
        #expect(r.errors["http-5xx"] == 1 && r.errors["timeout"] == 1 && r.completed == 1, "\(r.errors), \(r.completed) completed")
        let ended = r.completed + r.errors.values.reduce(0, +) + r.unanswered + r.neverSent
        #expect(ended == r.scheduled && r.scheduled == 1000, "\(ended) of \(r.scheduled)")
        #expect(r.corrected.totalCount == UInt64(r.scheduled), "every request of the window is in the corrected latency")

        var w = machine(warmup: .milliseconds(10))
        let d = w.connecting()
        _ = w.connected(d, now: Self.start)
        _ = w.tick(now: Self.start)
        let nw = w.nextSend(now: Self.start)
        let warm = try #require(nw)  // due at 0: a warm-up request
        #expect(w.nextTimedOut(now: Self.start + 80 * Self.ms) == warm.connection)
        _ = w.tick(now: Self.start + 1_200 * Self.ms)
        let fw = w.finish(now: Self.start + 1_200 * Self.ms)
        let rw = try #require(fw)
        #expect(rw.errors.isEmpty, "the warm-up request's timeout is not the run's: \(rw.errors)")
        #expect(rw.completed + rw.unanswered + rw.neverSent == rw.scheduled)
    }

    /// Constant arrival over two workers: one request every 1/rate between them, not two at once.
    @Test func workersOfAConstantRateAreSpacedOut() {
        var conf = LoadConfiguration(target: LoadTarget(url: "http://127.0.0.1:9/")!)
        conf.rate = 10
        conf.threads = 2
        conf.duration = .seconds(1)
        let rs = [LoadRequest(bytes: ByteBuffer(string: "GET / HTTP/1.1\r\n\r\n"), expectation: nil, kind: "r")]
        var w0 = LoadWorkerStateMachine(index: 0, configuration: conf, requests: rs, startAt: Self.start, progress: Progress())
        var w1 = LoadWorkerStateMachine(index: 1, configuration: conf, requests: rs, startAt: Self.start, progress: Progress())
        _ = w0.tick(now: Self.start + 50 * Self.ms)
        _ = w1.tick(now: Self.start + 50 * Self.ms)
        #expect(w0.result.scheduled == 1 && w1.result.scheduled == 0, "worker 1 starts 100 ms in")
        _ = w0.tick(now: Self.start + 1_000 * Self.ms)
        _ = w1.tick(now: Self.start + 1_000 * Self.ms)
        #expect(w0.result.scheduled + w1.result.scheduled == 10)
    }

    @Test func anAnswerAfterTheEndIsUnansweredNotCompleted() {
        var m = machine()
        let c = m.connecting()
        _ = m.connected(c, now: Self.start)
        _ = m.tick(now: Self.start)
        let late = Self.start + 1_000 * Self.ms + 1
        let after = m.answered(c, status: 200, body: ok, now: late)
        #expect(after == nil, "nothing is sent after the window, before the tick that finishes")
        #expect(m.result.completed == 0 && m.result.unanswered == 1)
        #expect(m.result.corrected.totalCount == 1 && m.result.corrected.max >= 999_000, "it waited the whole run")
        #expect(m.result.uncorrected.totalCount == 0)
    }

    @Test func aTimeoutIsOneErrorAndTheReplacementIsNotAnother() {
        var m = machine(timeout: 1)
        let c = m.connecting()
        _ = m.connected(c, now: Self.start)  // sends at once (closed loop, after the start)
        let v12 = m.nextTimedOut(now: Self.start + 500 * Self.ms)
        #expect(v12 == nil)
        let v13 = m.nextTimedOut(now: Self.start + 1_001 * Self.ms)
        #expect(v13 == c)
        let v14 = m.nextTimedOut(now: Self.start + 1_002 * Self.ms)  // counted once
        #expect(v14 == nil)
        let v15 = m.closed(c, now: Self.start + 1_002 * Self.ms)  // replace it
        #expect(v15)
        #expect(m.result.errors == ["timeout": 1])
        // The replacement takes the freed slot (a target that closes after every answer opens a connection per
        // request): the old channel's close was its last event (NIO's `channelInactive` comes once).
        let d = m.connecting()
        #expect(d == c && m.slots[d] == .connecting)
    }

    @Test func aFailureCountsOnceAndConnectFailuresAreNoErrors() {
        var m = machine()
        let c = m.connecting()
        _ = m.connected(c, now: Self.start)
        m.failed(c, kind: "protocol", now: Self.start + Self.ms)
        let v16 = m.closed(c, now: Self.start + Self.ms)
        #expect(v16)
        #expect(m.result.errors == ["protocol": 1])
        let d = m.connecting()
        let v17 = m.connectFailed(d, now: Self.start + 2 * Self.ms)  // retry
        #expect(v17)
        #expect(m.result.connectFailures == 1 && m.result.errors == ["protocol": 1])
        _ = m.finish(now: Self.start + 3 * Self.ms)
        let e = m.connecting()
        let v18 = m.connectFailed(e, now: Self.start + 4 * Self.ms)  // no retries after the end
        #expect(!v18)
    }

    /// A replaying proxy that ran out answers 404 `Tapedeck.ExchangesExhausted`: never the recorded answer, even
    /// for a request whose recording was a 404.
    @Test func aTapedeckAnswerIsAnErrorEvenWhereTheRecordingWasTheSameStatus() {
        var conf = LoadConfiguration(target: LoadTarget(url: "http://127.0.0.1:9/")!)
        conf.duration = .seconds(1)
        let rs = [LoadRequest(bytes: ByteBuffer(string: "GET /b HTTP/1.1\r\n\r\n"), expectation: .exact(status: 404, body: []), kind: "b")]
        var m = LoadWorkerStateMachine(index: 0, configuration: conf, requests: rs, startAt: Self.start, progress: Progress())
        let c = m.connecting()
        _ = m.connected(c, now: Self.start)
        _ = m.answered(c, status: 404, body: ByteBuffer(string: #"{"Code":"NotFound"}"#), now: Self.start + Self.ms)
        _ = m.answered(c, status: 404, body: ByteBuffer(string: #"{"Code":"Tapedeck.ExchangesExhausted"}"#), now: Self.start + 2 * Self.ms)
        #expect(m.result.completed == 1 && m.result.errors["http-4xx"] == 1, "\(m.result.errors)")
        #expect(m.result.tapedeckCodes == ["Tapedeck.ExchangesExhausted": 1])
    }

    @Test func tapedeckCodesAreFoundInErrorAnswers() {
        #expect(
            LoadWorkerStateMachine.tapedeckCode(ByteBuffer(string: #"{"Code":"Tapedeck.ExchangesExhausted"}"#))
                == "Tapedeck.ExchangesExhausted")
        #expect(LoadWorkerStateMachine.tapedeckCode(ByteBuffer(string: #"{"Code":"Throttling"}"#)) == nil)
    }
}
