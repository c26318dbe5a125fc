import CloudModel
import Foundation
import Histogram
import NIOCore

/// One worker's load as events and actions, with no I/O: its share of the schedule, its connections'
/// states and every measurement. `LoadWorker` feeds it connection events and clock ticks (times are
/// uptime nanoseconds, passed in) and carries out the sends it answers. Tested without a socket.
///
/// Open loop: request i has an intended send time; each tick queues every request that is due and
/// `nextSend` pairs queued ones with idle connections. Sending never waits for answers; when all
/// connections are busy the queue grows and the wait shows in the corrected latency (done − intended),
/// while the uncorrected latency (done − actually sent) shows only the service time. Closed loop: each
/// connection sends its next request when the previous answer arrives. Nothing is sent before the common
/// start, and every request due in the measured window ends as completed, an error, unanswered or never
/// sent.
struct LoadWorkerStateMachine {
    /// A connection's id: its slot, never reused, so a late event of a closed connection cannot reach its
    /// replacement.
    typealias ConnectionID = Int

    struct InFlight: Equatable {
        var request: Int
        var intended: UInt64
        var sent: UInt64
    }

    enum Slot: Equatable {
        case connecting
        case idle
        case busy(InFlight)
        /// Failed or timed out: being closed; its `closed` event frees the slot.
        case closing
        case free
    }

    /// Write request `request` on connection `connection`.
    struct Send: Equatable {
        var connection: ConnectionID
        var request: Int
    }

    enum TickAction: Equatable {
        case none
        /// The run is over: call `finish`.
        case finish
    }

    let index: Int
    let configuration: LoadConfiguration
    let requests: [LoadRequest]
    let start: UInt64
    let measureFrom: UInt64
    let stopAt: UInt64
    private let openLoop: Bool
    private let timeoutNanos: UInt64

    private(set) var result = WorkerResult()
    private(set) var slots: [Slot] = []
    private var idle: [ConnectionID] = []
    /// Slots whose connection is gone, for the next one opened (a target that closes after every answer
    /// opens a connection per request).
    private var freeSlots: [ConnectionID] = []
    /// Intended send times of requests that are due but not yet sent (open loop).
    private var queue: [UInt64] = []
    private var queueHead = 0
    private var nextRequest: Int
    private var pacedIndex = 0
    private var nextIntended: UInt64
    /// Requests this worker has scheduled so far (open loop at a rate).
    private var arrivals = 0
    private var rng: SplitMix64
    private var currentSecond = 0
    private var intervalHistogram = Histogram<UInt64>(highestTrackableValue: 60_000_000, numberOfSignificantValueDigits: .three)
    private(set) var stopped = false
    /// Live counters for the progress line, bumped as things happen.
    let progress: Progress

    init(index: Int, configuration: LoadConfiguration, requests: [LoadRequest], startAt: UInt64, progress: Progress) {
        self.index = index
        self.configuration = configuration
        self.requests = requests
        self.start = startAt
        self.measureFrom = startAt &+ UInt64(max(0, configuration.warmup.nanoseconds))
        self.stopAt = measureFrom &+ UInt64(max(0, configuration.duration.nanoseconds))
        self.openLoop = configuration.rate != nil || configuration.pacing != nil
        self.timeoutNanos = UInt64(max(0, configuration.timeout.nanoseconds))
        self.nextRequest = index
        // Constant arrival over several workers: worker k starts k/rate in, so together they send one request
        // every 1/rate, not `threads` at once every threads/rate.
        if configuration.arrival == .constant, let rate = configuration.rate, rate > 0 {
            self.nextIntended = startAt &+ UInt64(min((Double(index) / rate * 1e9).rounded(), 1e18))
        } else {
            self.nextIntended = startAt
        }
        self.rng = SplitMix64(seed: configuration.seed &+ UInt64(index))
        self.progress = progress
    }

    // MARK: connections

    /// A connection is being opened: its slot.
    mutating func connecting() -> ConnectionID {
        if let id = freeSlots.popLast() {
            slots[id] = .connecting
            return id
        }
        slots.append(.connecting)
        return slots.count - 1
    }

    /// The connection is open: maybe it has something to send at once.
    mutating func connected(_ id: ConnectionID, now: UInt64) -> Send? {
        guard slots[id] == .connecting else { return nil }
        slots[id] = .idle
        return becameIdle(id, now: now)
    }

    /// The attempt failed. A failed attempt is retried and is no request's error (a run where nothing
    /// connects ends with nothing completed, which the report and the exit status say).
    /// - Returns: whether to try again (later).
    mutating func connectFailed(_ id: ConnectionID, detail: String? = nil, now: UInt64) -> Bool {
        if let detail, result.errorDetails["connect"] == nil { result.errorDetails["connect"] = detail }
        if now >= measureFrom { result.connectFailures += 1 }
        release(id)
        return !stopped
    }

    /// The connection failed (I/O, TLS or an undecodable answer): one failure is one error, for the request
    /// it broke; the close that follows is not another. Close it.
    mutating func failed(_ id: ConnectionID, kind: String, detail: String? = nil, now: UInt64) {
        if let detail, result.errorDetails[kind] == nil { result.errorDetails[kind] = detail }
        if case .busy(let f) = slots[id] { countError(kind, f, now: now) }
        if slots[id] != .free { slots[id] = .closing }
        idle.removeAll { $0 == id }
    }

    /// The connection closed. - Returns: whether to open a replacement.
    mutating func closed(_ id: ConnectionID, now: UInt64) -> Bool {
        let was = slots[id]
        release(id)
        guard !stopped else { return false }  // closed by us at the end: in-flight requests are not errors
        if case .busy(let f) = was { countError("closed", f, now: now) }
        return was != .free
    }

    private mutating func release(_ id: ConnectionID) {
        if slots[id] == .idle { idle.removeAll { $0 == id } }
        if slots[id] != .free { freeSlots.append(id) }
        slots[id] = .free
    }

    // MARK: the clock

    /// Every 200 µs or so: queue what is due, start a new per-second interval, notice the end.
    mutating func tick(now: UInt64) -> TickAction {
        if stopped || now < start { return .none }  // everyone starts together
        if now >= stopAt {
            if openLoop { scheduleDue(stopAt &- 1) }  // what fell due since the last tick: never sent, but counted
            return .finish
        }
        let second = Int((now &- start) / 1_000_000_000)
        if second != currentSecond {
            flushSecond()
            currentSecond = second
        }
        if openLoop { scheduleDue(now) }
        if queueHead > 4096 && queueHead * 2 > queue.count {
            queue.removeFirst(queueHead)
            queueHead = 0
        }
        return .none
    }

    /// The next request to send now on an idle connection, if any (call until nil after each tick).
    mutating func nextSend(now: UInt64) -> Send? {
        // Nothing is sent after the window (a request sent then is no part of the run; the target saw up to six
        // more requests than the report's "sent" between the end and the tick that finishes).
        guard !stopped, now >= start, now < stopAt else { return nil }
        while let c = idle.popLast() {
            let intended: UInt64
            if openLoop {
                guard queueHead < queue.count else {
                    idle.append(c)
                    return nil
                }
                intended = queue[queueHead]
                queueHead += 1
            } else {
                intended = now
            }
            if let s = send(on: c, intended: intended, now: now) { return s }
        }
        return nil
    }

    /// A connection whose answer is overdue, if any: counted as a timeout; close it (call until nil).
    mutating func nextTimedOut(now: UInt64) -> ConnectionID? {
        for (id, slot) in slots.enumerated() {
            if case .busy(let f) = slot, now > f.sent, now - f.sent > timeoutNanos {
                slots[id] = .closing
                countError("timeout", f, now: now)
                return id
            }
        }
        return nil
    }

    // MARK: answers

    /// An answer arrived on `id`: measure it, then maybe send the next request on the same connection.
    /// When the answer `closes` the connection (`Connection: close`, HTTP/1.0), nothing more is sent on it:
    /// it is closed, and replaced when its close arrives.
    mutating func answered(_ id: ConnectionID, status: Int, body: ByteBuffer, closes: Bool = false, now: UInt64) -> Send? {
        guard case .busy(let f) = slots[id] else { return nil }
        slots[id] = .idle
        if f.intended >= measureFrom && f.intended < stopAt && now > stopAt {
            result.unanswered += 1  // answered after the end: not within the run, but it waited until the end
            _ = result.corrected.record(min((stopAt &- min(f.intended, stopAt)) / 1000, 60_000_000))
        } else if f.intended >= measureFrom && now <= stopAt {
            record(f, status: status, body: body, now: now)
        }
        if closes {
            slots[id] = .closing
            return nil
        }
        return becameIdle(id, now: now)
    }

    private mutating func record(_ f: InFlight, status: Int, body: ByteBuffer, now: UInt64) {
        result.statuses[status, default: 0] += 1
        let request = requests[f.request]
        // An error answer (4xx, 5xx: a throttled or failing target) is an error, not a completion, unless it is
        // the answer expected (a recorded 404). Either way its latency is measured: it was answered.
        // A replaying proxy's own `Tapedeck.*` answer (ran out, no match) is never the recorded one, even where
        // the recording was an error of the same status.
        let tapedeckCode = status >= 400 ? LoadWorkerStateMachine.tapedeckCode(body) : nil
        let isError = status >= 400 && (tapedeckCode != nil || !(request.expectation.map { Self.expects($0, status: status) } ?? false))
        if isError {
            countError("http-\(status / 100)xx", f, now: now)
        } else {
            result.completed += 1
            progress.completed.add(1, ordering: .relaxed)
        }
        let corrected = min((now &- f.intended) / 1000, 60_000_000), uncorrected = min((now &- f.sent) / 1000, 60_000_000)
        _ = result.corrected.record(corrected)
        _ = result.uncorrected.record(uncorrected)
        if !isError { _ = intervalHistogram.record(corrected) }  // each second's completions (`per_second.completed`, --hlog)
        if let code = tapedeckCode { result.tapedeckCodes[code, default: 0] += 1 }
        if configuration.verify, let e = request.expectation {
            result.verifyChecked += 1
            if let m = Verifier.check(status, body, e) {
                result.verifyMismatched[m.kind, default: 0] += 1
                // Numbered from 1, as `tapedeck cassette ls` numbers a cassette's exchanges; each request once.
                let sample = "\(request.kind) #\(f.request + 1): \(m.kind): \(m.detail)"
                if result.mismatchSamples.count < 5 && !result.mismatchSamples.contains(sample) { result.mismatchSamples.append(sample) }
            }
        }
    }

    // MARK: the end

    /// Ends the run (its end, or Ctrl-C): every scheduled request is accounted for. Queued ones never got
    /// a connection (they waited at least until now); in-flight ones got no answer before the end.
    /// Close every connection after this. - Returns: nil if the run had already finished.
    mutating func finish(now: UInt64) -> WorkerResult? {
        guard !stopped else { return nil }
        stopped = true
        let end = min(now, stopAt)
        if openLoop {
            for intended in queue[queueHead...] where intended >= measureFrom && intended < stopAt {
                result.neverSent += 1
                let waited = min((end &- min(intended, end)) / 1000, 60_000_000)
                _ = result.corrected.record(waited)  // in the run's corrected latency; not a completion of its last second
            }
        }
        for slot in slots {
            if case .busy(let f) = slot, f.intended >= measureFrom && f.intended < stopAt {
                result.unanswered += 1
                // It waited at least until the end: a stalled target's stuck requests are in the corrected
                // latency, as unsent ones are (they once left every percentile at 0 µs).
                _ = result.corrected.record(min((end &- min(f.intended, end)) / 1000, 60_000_000))
            }
        }
        flushSecond()
        return result
    }

    // MARK: internals

    /// The connection is free: it waits in `idle`, and takes what `nextSend` gives it now (nothing before
    /// the common start: closed loop too starts together, so nothing is sent, or used up, early).
    private mutating func becameIdle(_ c: ConnectionID, now: UInt64) -> Send? {
        guard !stopped else { return nil }
        idle.append(c)
        return nextSend(now: now)
    }

    private mutating func send(on c: ConnectionID, intended: UInt64, now: UInt64) -> Send? {
        let i: Int
        if configuration.pacing != nil {
            i = index + pacedIndex * configuration.threads
            pacedIndex += 1
        } else {
            i = nextRequest % requests.count
            nextRequest += configuration.threads
        }
        guard i < requests.count else {
            idle.append(c)
            return nil
        }
        slots[c] = .busy(InFlight(request: i, intended: intended, sent: now))
        if intended >= measureFrom && intended < stopAt {
            result.sent += 1
            if !openLoop { result.scheduled += 1 }
        }
        progress.sent.add(1, ordering: .relaxed)
        return Send(connection: c, request: i)
    }

    private mutating func scheduleDue(_ now: UInt64) {
        if let pacing = configuration.pacing {
            // Cassette pacing: this worker takes every `threads`-th request at its recorded offset / speed.
            while nextRequest < requests.count {
                // Offsets are sorted and non-negative (`CassetteSource`); clamped all the same, so no input traps here.
                let ns = pacing[nextRequest] / configuration.speed * 1e9
                let at = start + (ns > 0 ? UInt64(min(ns, 1e18)) : 0)
                guard at <= now else { break }
                queue.append(at)
                if at >= measureFrom && at < stopAt { result.scheduled += 1 }
                nextRequest += configuration.threads
            }
        } else if let rate = configuration.rate {
            let perWorker = rate / Double(configuration.threads)  // constant: offset per worker (init)
            while nextIntended <= now && nextIntended < stopAt {
                queue.append(nextIntended)
                if nextIntended >= measureFrom { result.scheduled += 1 }
                arrivals += 1
                if configuration.arrival == .constant {
                    // The n-th request of the run at n/rate, from the start (not by adding a rounded gap each time:
                    // at --rate 3 three truncated gaps fell short of 1 s and scheduled a fourth request in it).
                    let n = Double(index) + Double(arrivals) * Double(configuration.threads)
                    nextIntended = start &+ UInt64(min((n / rate * 1e9).rounded(), 1e18))
                } else {
                    nextIntended &+= UInt64(-log(1 - rng.unit()) / perWorker * 1e9)
                }
            }
        }
    }

    /// One request's error: counted for the run when the request was due in the measured window (a warm-up
    /// request that times out later, or one sent after the end, is not one of the run's). A request that ends
    /// without an answer (a timeout, a failed or closed connection) goes into the corrected latency with the
    /// time it waited, as one never sent does at the end: the corrected histogram holds every request of the
    /// window that ended, answered or not.
    private mutating func countError(_ kind: String, _ f: InFlight, now: UInt64) {
        progress.errors.add(1, ordering: .relaxed)
        guard f.intended >= measureFrom && f.intended < stopAt else { return }
        result.errors[kind, default: 0] += 1
        if !kind.hasPrefix("http-") { _ = result.corrected.record(min((min(now, stopAt) &- min(f.intended, now)) / 1000, 60_000_000)) }
    }

    /// Whether `e` expects an answer with `status` (an error answer that is the recorded or true one).
    static func expects(_ e: Expectation, status: Int) -> Bool {
        switch e {
        case .exact(let s, _): return s == status
        case .anyOf(let answers): return answers.contains { $0.status == status }
        case .error(let s, _): return s == status
        case .aliyunReferences, .huaweiGroup, .huaweiRules: return status < 400
        }
    }

    private mutating func flushSecond() {
        result.intervals.append(intervalHistogram)
        intervalHistogram.reset()
    }

    /// The `Tapedeck.*` code in an error answer of a tapedeck proxy, if there is one (error answers only).
    static func tapedeckCode(_ body: ByteBuffer) -> String? {
        let marker = Array("Tapedeck.".utf8)
        let bytes = body.readableBytesView
        guard bytes.count >= marker.count, bytes.count < 64 * 1024 else { return nil }
        var i = bytes.startIndex
        while i <= bytes.endIndex - marker.count {
            if bytes[i] == marker[0], bytes[i..<(i + marker.count)].elementsEqual(marker) {
                var j = i + marker.count
                while j < bytes.endIndex, (bytes[j] >= 0x41 && bytes[j] <= 0x5A) || (bytes[j] >= 0x61 && bytes[j] <= 0x7A) { j += 1 }
                return j > i + marker.count ? String(decoding: bytes[i..<j], as: UTF8.self) : nil
            }
            i += 1
        }
        return nil
    }
}
