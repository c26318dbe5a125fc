import CloudModel
import Foundation
import Histogram
import Synchronization
import NIOCore
import NIOPosix
import NIOSSL
import TapedeckHTTP

/// What one event loop measured; workers' results add up exactly (histograms add).
public struct WorkerResult: Sendable {
    public var startedAt = Date()
    public var corrected = Histogram<UInt64>(highestTrackableValue: 60_000_000, numberOfSignificantValueDigits: .three)
    public var uncorrected = Histogram<UInt64>(highestTrackableValue: 60_000_000, numberOfSignificantValueDigits: .three)
    /// Requests due in the measured window (open loop: by the schedule; closed loop: those sent).
    public var scheduled = 0
    public var sent = 0
    public var completed = 0
    /// Due in the measured window but never sent: every connection was busy until the end (the client, or
    /// the target, could not keep up). Counted in the corrected latency as waiting until the end.
    public var neverSent = 0
    /// Sent in the measured window, no answer by the end of the run (not an error: the run stopped).
    public var unanswered = 0
    /// Failed connection attempts (retried); not request errors.
    public var connectFailures = 0
    public var statuses: [Int: Int] = [:]
    public var errors: [String: Int] = [:]
    public var verifyChecked = 0
    public var verifyMismatched: [String: Int] = [:]
    public var mismatchSamples: [String] = []
    /// Answers carrying a `Tapedeck.*` error code (a proxy that ran out of recordings, or has none for a
    /// request), by code: explained once in the report instead of once per answer.
    public var tapedeckCodes: [String: Int] = [:]
    /// One corrected-latency histogram per second of the run (the `--hlog` intervals, the over-time plot).
    public var intervals: [Histogram<UInt64>] = []
    /// Per-second completed counts.
    public var perSecond: [Int] { intervals.map { Int($0.totalCount) } }
    /// Per-second corrected p99 (µs).
    public var perSecondP99: [UInt64] { intervals.map { $0.totalCount > 0 ? $0.valueAtPercentile(99) : 0 } }

    public init() {}

    mutating func add(_ o: WorkerResult) {
        corrected.add(o.corrected)
        uncorrected.add(o.uncorrected)
        scheduled += o.scheduled
        sent += o.sent
        completed += o.completed
        neverSent += o.neverSent
        unanswered += o.unanswered
        connectFailures += o.connectFailures
        statuses.merge(o.statuses, uniquingKeysWith: +)
        errors.merge(o.errors, uniquingKeysWith: +)
        verifyChecked += o.verifyChecked
        verifyMismatched.merge(o.verifyMismatched, uniquingKeysWith: +)
        for m in o.mismatchSamples where mismatchSamples.count < 5 && !mismatchSamples.contains(m) { mismatchSamples.append(m) }
        tapedeckCodes.merge(o.tapedeckCodes, uniquingKeysWith: +)
        for (i, h) in o.intervals.enumerated() {
            if i < intervals.count { intervals[i].add(h) } else { intervals.append(h) }
        }
    }
}

/// Live counters for the progress line (relaxed atomics; the report uses the exact per-worker results).
final class Progress: Sendable {
    let sent = Atomic<Int>(0)
    let completed = Atomic<Int>(0)
    let errors = Atomic<Int>(0)
}

/// The load on one event loop: its connections, its share of the schedule, its measurements.
///
/// Open loop: request i has an intended send time; a tick every 200 µs queues every request that is due
/// and hands queued ones to idle connections. Sending never waits for answers; when all connections are
/// busy the queue grows and the wait shows in the corrected latency (done − intended), while the
/// uncorrected latency (done − actually sent) shows only the service time. Closed loop: each connection
/// sends its next request when the previous answer arrives.
final class LoadWorker: @unchecked Sendable {  // all state is touched on `loop` only
    let loop: EventLoop
    let index: Int
    let configuration: LoadConfiguration
    let requests: [LoadRequest]
    var result = WorkerResult()
    private var intervalHistogram = Histogram<UInt64>(highestTrackableValue: 60_000_000, numberOfSignificantValueDigits: .three)
    private var idle: [Connection] = []
    private var all: [Connection] = []
    private var queue: [UInt64] = []
    private var queueHead = 0
    private var nextRequest: Int
    private var nextIntended: UInt64 = 0
    private var scheduled = 0
    private var rng: SplitMix64
    private var start: UInt64 = 0
    private var measureFrom: UInt64 = 0
    private var stopAt: UInt64 = 0
    private var tick: RepeatedTask?
    private var stopped = false
    private var currentSecond = 0
    private let done: EventLoopPromise<WorkerResult>

    let progress: Progress

    /// Set for `https://` targets.
    let tls: NIOSSLContext?

    init(loop: EventLoop, index: Int, configuration: LoadConfiguration, requests: [LoadRequest], progress: Progress, tls: NIOSSLContext?) {
        self.tls = tls
        self.progress = progress
        self.loop = loop
        self.index = index
        self.configuration = configuration
        self.requests = requests
        self.nextRequest = index
        self.rng = SplitMix64(seed: configuration.seed &+ UInt64(index))
        self.done = loop.makePromise()
    }

    final class Connection: ChannelInboundHandler, @unchecked Sendable {
        typealias InboundIn = LoadResponse
        unowned let worker: LoadWorker
        var channel: Channel?
        var inFlight: (request: Int, intended: UInt64, sent: UInt64)?
        init(worker: LoadWorker) { self.worker = worker }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            worker.completed(self, unwrapInboundIn(data))
        }
        func channelInactive(context: ChannelHandlerContext) { worker.lost(self, reason: "closed") }
        func errorCaught(context: ChannelHandlerContext, error: Error) {
            // One failure is one error, for the request it broke; the close that follows is not another.
            if inFlight != nil {
                inFlight = nil
                worker.count(error is ResponseDecoder.Unsupported || error is ByteToMessageDecoderError ? "protocol" : "io")
            }
            context.close(promise: nil)
        }
    }

    static func now() -> UInt64 { UInt64(NIODeadline.now().uptimeNanoseconds) }

    /// Starts at `startAt` (an uptime in ns shared by all workers); the future completes at the end.
    func run(startAt: UInt64, connections: Int) -> EventLoopFuture<WorkerResult> {
        loop.execute {
            self.start = startAt
            self.measureFrom = startAt + UInt64(self.configuration.warmup.nanoseconds)
            self.stopAt = self.measureFrom + UInt64(self.configuration.duration.nanoseconds)
            self.nextIntended = startAt
            for _ in 0..<connections { self.connect() }
            self.tick = self.loop.scheduleRepeatedTask(initialDelay: .microseconds(200), delay: .microseconds(200)) { _ in self.onTick() }
        }
        return done.futureResult
    }

    /// Ends early (Ctrl-C): stop sending, report what was measured.
    func stopNow() { loop.execute { self.finish() } }

    private func connect() {
        let conn = Connection(worker: self)
        let tls = self.tls, host = configuration.target.host, port = configuration.target.port
        all.append(conn)
        ClientBootstrap(group: loop)
            .channelOption(.tcpOption(.tcp_nodelay), value: 1)
            .connectTimeout(.seconds(2))
            .channelInitializer { ch in
                ch.eventLoop.makeCompletedFuture {
                    if let tls {
                        let sni = Authority(host: host, port: port).isIPAddress ? nil : host
                        try ch.pipeline.syncOperations.addHandler(NIOSSLClientHandler(context: tls, serverHostname: sni))
                    }
                    try ch.pipeline.syncOperations.addHandler(ByteToMessageHandler(ResponseDecoder()))
                    try ch.pipeline.syncOperations.addHandler(conn)
                }
            }
            .connect(host: configuration.target.host, port: configuration.target.port)
            .whenComplete { r in
                switch r {
                case .success(let ch):
                    conn.channel = ch
                    self.becameIdle(conn)
                case .failure:
                    // A failed attempt is retried; it is no request's error (a run where nothing connects
                    // ends with nothing completed, which the report and the exit status say).
                    if LoadWorker.now() >= self.measureFrom { self.result.connectFailures += 1 }
                    self.all.removeAll { $0 === conn }
                    if !self.stopped { self.loop.scheduleTask(in: .milliseconds(100)) { self.connect() } }
                }
            }
    }

    private var openLoop: Bool { configuration.rate != nil || configuration.pacing != nil }

    private func onTick() {
        let now = LoadWorker.now()
        if now < start { return }  // everyone starts together
        if now >= stopAt { return finish() }
        let second = Int((now &- start) / 1_000_000_000)
        if second != currentSecond {
            flushSecond()
            currentSecond = second
        }
        if openLoop {
            scheduleDue(now)
        } else if !idle.isEmpty {
            let waiting = idle
            idle.removeAll()
            for c in waiting { send(on: c, intended: now) }
        }
        // Time out answers that never come: close the connection, count it, replace it.
        let limit = UInt64(configuration.timeout.nanoseconds)
        for c in all where c.inFlight.map({ now > $0.sent && now - $0.sent > limit }) == true {
            c.inFlight = nil
            count("timeout")
            c.channel?.close(promise: nil)
        }
    }

    private func scheduleDue(_ now: UInt64) {
        if let pacing = configuration.pacing {
            // Cassette pacing: this worker takes every `threads`-th request at its recorded offset / speed.
            while nextRequest < requests.count {
                let at = start + UInt64(pacing[nextRequest] / configuration.speed * 1e9)
                guard at <= now else { break }
                queue.append(at)
                if at >= measureFrom && at < stopAt { result.scheduled += 1 }
                nextRequest += configuration.threads
            }
        } else if let rate = configuration.rate {
            let perWorker = rate / Double(configuration.threads)
            while nextIntended <= now && nextIntended < stopAt {
                queue.append(nextIntended)
                if nextIntended >= measureFrom { result.scheduled += 1 }
                let gap: Double = configuration.arrival == .constant ? 1 / perWorker : -log(1 - rng.unit()) / perWorker
                nextIntended &+= UInt64(gap * 1e9)
            }
        }
        while queueHead < queue.count, let c = idle.popLast() {
            send(on: c, intended: queue[queueHead])
            queueHead += 1
        }
        if queueHead > 4096 && queueHead * 2 > queue.count {
            queue.removeFirst(queueHead)
            queueHead = 0
        }
    }

    private func nextIndex() -> Int {
        if configuration.pacing != nil { return 0 }  // index carried by the schedule
        let i = nextRequest % requests.count
        nextRequest += configuration.threads
        return i
    }

    private var pacedIndex = 0

    private func send(on c: Connection, intended: UInt64) {
        guard let ch = c.channel, !stopped else { return }
        let i: Int
        if configuration.pacing != nil {
            i = index + pacedIndex * configuration.threads
            pacedIndex += 1
        } else {
            i = nextIndex()
        }
        guard i < requests.count else { idle.append(c); return }
        let now = LoadWorker.now()
        c.inFlight = (i, intended, now)
        if intended >= measureFrom && intended < stopAt {
            result.sent += 1
            if !openLoop { result.scheduled += 1 }
        }
        progress.sent.add(1, ordering: .relaxed)
        ch.writeAndFlush(requests[i].bytes, promise: nil)
    }

    private func becameIdle(_ c: Connection) {
        guard !stopped else { return }
        if openLoop {
            if queueHead < queue.count {
                let t = queue[queueHead]
                queueHead += 1
                send(on: c, intended: t)
            } else {
                idle.append(c)
            }
        } else if LoadWorker.now() < start {
            idle.append(c)  // closed loop too starts together: nothing is sent (or used up) before the start
        } else {
            send(on: c, intended: LoadWorker.now())
        }
    }

    fileprivate func completed(_ c: Connection, _ r: LoadResponse) {
        guard let f = c.inFlight else { return }
        c.inFlight = nil
        let now = LoadWorker.now()
        if f.intended >= measureFrom && f.intended < stopAt && now > stopAt {
            result.unanswered += 1  // answered after the end: not within the run (finish() may not have run yet)
        } else if f.intended >= measureFrom && now <= stopAt {
            result.completed += 1
            progress.completed.add(1, ordering: .relaxed)
            result.statuses[r.status, default: 0] += 1
            let corrected = (now &- f.intended) / 1000, uncorrected = (now &- f.sent) / 1000
            _ = result.corrected.record(min(corrected, 60_000_000))
            _ = result.uncorrected.record(min(uncorrected, 60_000_000))
            _ = intervalHistogram.record(min(corrected, 60_000_000))
            if r.status >= 400 {
                if requests[f.request].expectation == nil { count("http-\(r.status / 100)xx") }
                if let code = LoadWorker.tapedeckCode(r.body) { result.tapedeckCodes[code, default: 0] += 1 }
            }
            if configuration.verify, let e = requests[f.request].expectation {
                result.verifyChecked += 1
                if let m = Verifier.check(r.status, r.body, e) {
                    result.verifyMismatched[m.kind, default: 0] += 1
                    // Numbered from 1, as `tapedeck cassette ls` numbers a cassette's exchanges; each request once.
                    let sample = "\(requests[f.request].kind) #\(f.request + 1): \(m.kind): \(m.detail)"
                    if result.mismatchSamples.count < 5 && !result.mismatchSamples.contains(sample) {
                        result.mismatchSamples.append(sample)
                    }
                }
            }
        }
        becameIdle(c)
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

    fileprivate func lost(_ c: Connection, reason: String) {
        all.removeAll { $0 === c }
        idle.removeAll { $0 === c }
        guard !stopped else { return }  // closed by us at the end: in-flight requests are not errors
        if c.inFlight != nil { count(reason) }
        connect()
    }

    fileprivate func count(_ kind: String) {
        progress.errors.add(1, ordering: .relaxed)
        if LoadWorker.now() >= measureFrom { result.errors[kind, default: 0] += 1 }
    }

    private func flushSecond() {
        result.intervals.append(intervalHistogram)
        intervalHistogram.reset()
    }

    private func finish() {
        guard !stopped else { return }
        stopped = true
        tick?.cancel()
        // Every scheduled request is accounted for: queued ones never got a connection (they waited at least
        // until now), in-flight ones got no answer before the end.
        let end = min(LoadWorker.now(), stopAt)
        if openLoop {
            for intended in queue[queueHead...] where intended >= measureFrom && intended < stopAt {
                result.neverSent += 1
                let waited = (end &- min(intended, end)) / 1000
                _ = result.corrected.record(min(waited, 60_000_000))
                _ = intervalHistogram.record(min(waited, 60_000_000))
            }
        }
        for c in all { if let f = c.inFlight, f.intended >= measureFrom && f.intended < stopAt { result.unanswered += 1 } }
        flushSecond()
        for c in all { c.channel?.close(promise: nil) }
        done.succeed(result)
    }
}
