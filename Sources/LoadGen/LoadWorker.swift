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
    /// The first failure of each kind that has one to tell (`tls`, `io`, `protocol`), as the system said it.
    public var errorDetails: [String: String] = [:]
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
        errorDetails.merge(o.errorDetails) { first, _ in first }
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

/// The load on one event loop: carries out what its `LoadWorkerStateMachine` answers over real
/// connections. Lives on `loop` and is only touched there; other threads hold a `LoadWorker.Handle`.
final class LoadWorker {
    let loop: EventLoop
    private var machine: LoadWorkerStateMachine
    /// Open channels by connection slot.
    private var channels: [Channel?] = []
    /// Each slot's response reader, and how many reads it had made when the request in flight was written.
    private var readers: [ResponseReader?] = []
    private var writtenAtRead: [Int] = []
    /// Connections that failed their TLS handshake: replaced after a pause, not at once (a target with a
    /// certificate the client rejects was hammered with a new handshake per request).
    private var failedHandshake = Set<LoadWorkerStateMachine.ConnectionID>()
    private var tick: RepeatedTask?
    private let done: EventLoopPromise<WorkerResult>
    private let connections: Int
    /// Set for `https://` targets.
    private let tls: NIOSSLContext?

    /// A thread-safe handle: every call hops to the worker's loop, where the worker is made and lives.
    struct Handle: Sendable {
        let loop: EventLoop
        private let worker: NIOLoopBoundBox<LoadWorker?>

        init(loop: EventLoop) {
            self.loop = loop
            self.worker = .makeEmptyBox(valueType: LoadWorker.self, eventLoop: loop)
        }

        /// Makes the worker and starts it at `startAt` (uptime ns, shared by all workers); the future
        /// completes at the end with what was measured.
        func run(
            startAt: UInt64, index: Int, configuration: LoadConfiguration, requests: [LoadRequest], progress: Progress,
            tls: NIOSSLContext?, connections: Int
        ) -> EventLoopFuture<WorkerResult> {
            loop.flatSubmit {
                let machine = LoadWorkerStateMachine(
                    index: index, configuration: configuration, requests: requests, startAt: startAt, progress: progress)
                let w = LoadWorker(loop: loop, machine: machine, tls: tls, connections: connections)
                worker.value = w
                return w.run()
            }
        }

        /// Ends early (Ctrl-C): stop sending, report what was measured.
        func stop() { loop.execute { worker.value?.finish() } }
    }

    private init(loop: EventLoop, machine: LoadWorkerStateMachine, tls: NIOSSLContext?, connections: Int) {
        self.loop = loop
        self.machine = machine
        self.tls = tls
        self.connections = connections
        self.done = loop.makePromise()
    }

    /// One connection's inbound end: hands answers and failures to the worker, tagged with its slot.
    final class Connection: ChannelInboundHandler {
        typealias InboundIn = Never
        unowned let worker: LoadWorker
        let id: LoadWorkerStateMachine.ConnectionID
        init(worker: LoadWorker, id: LoadWorkerStateMachine.ConnectionID) {
            self.worker = worker
            self.id = id
        }

        /// An answer from this connection's `ResponseReader`.
        func received(_ r: LoadResponse) { worker.answered(id, r) }
        func channelInactive(context: ChannelHandlerContext) { worker.closed(id) }
        func errorCaught(context: ChannelHandlerContext, error: Error) {
            let kind =
                error is ResponseDecoder.Unsupported
                ? "protocol" : (error is NIOSSLError || error is BoringSSLError || error is NIOSSLExtraError) ? "tls" : "io"
            let detail: String
            if kind == "tls" {
                let peer = try? context.pipeline.syncOperations.handler(type: NIOSSLClientHandler.self).peerCertificate
                let c = worker.machine.configuration
                detail = TLSDiagnosis.sentence(
                    error, host: c.target.host, port: c.target.port, peer: peer, extraCAFile: c.tlsCAFile, advice: LoadWorker.tlsAdvice)
            } else {
                detail = LoadWorker.describe(error)
            }
            if kind == "tls" { worker.failedHandshake.insert(id) }
            worker.machine.failed(id, kind: kind, detail: detail, now: LoadWorker.now())
            context.close(promise: nil)
        }
    }

    static func now() -> UInt64 { UInt64(NIODeadline.now().uptimeNanoseconds) }

    /// An I/O failure in the system's words.
    static func describe(_ error: Error) -> String {
        if let code = ConnectFailure.errno(of: error) { return ConnectFailure.words(code) }
        if error is ChannelError, "\(error)".contains("connectTimeout") { return "no answer to the connection attempt within 2 s" }
        return "\(error)"
    }

    /// The load generator's fixes for a target's certificate.
    static let tlsAdvice = TLSDiagnosis.Advice(
        caFlag: "--ca", reconnect: { name, port in "--target https://\(name):\(port)/…" }, plainHTTP: "use an http:// --target")

    private func run() -> EventLoopFuture<WorkerResult> {
        for _ in 0..<connections { connect() }
        let bound = NIOLoopBound(self, eventLoop: loop)
        tick = loop.scheduleRepeatedTask(initialDelay: .microseconds(200), delay: .microseconds(200)) { _ in bound.value.onTick() }
        return done.futureResult
    }

    private func connect() {
        let id = machine.connecting()
        if channels.count <= id { channels.append(contentsOf: repeatElement(nil, count: id + 1 - channels.count)) }
        if readers.count <= id {
            readers.append(contentsOf: repeatElement(nil, count: id + 1 - readers.count))
            writtenAtRead.append(contentsOf: repeatElement(0, count: id + 1 - writtenAtRead.count))
        }
        let tls = self.tls, host = machine.configuration.target.host, port = machine.configuration.target.port
        let bound = NIOLoopBound(self, eventLoop: loop)
        ClientBootstrap(group: loop)
            .channelOption(.tcpOption(.tcp_nodelay), value: 1)
            .connectTimeout(.seconds(2))
            .channelInitializer { ch in
                ch.eventLoop.makeCompletedFuture {
                    if let tls {
                        let sni = Authority(host: host, port: port).isIPAddress ? nil : host
                        try ch.pipeline.syncOperations.addHandler(NIOSSLClientHandler(context: tls, serverHostname: sni))
                    }
                    let connection = Connection(worker: bound.value, id: id)
                    let reader = ResponseReader { connection.received($0) }
                    bound.value.readers[id] = reader
                    try ch.pipeline.syncOperations.addHandler(reader)
                    try ch.pipeline.syncOperations.addHandler(connection)
                }
            }
            .connect(host: host, port: port)
            .assumeIsolated()
            .whenComplete { r in
                switch r {
                case .success(let ch):
                    self.channels[id] = ch
                    if let s = self.machine.connected(id, now: LoadWorker.now()) { self.write(s) }
                case .failure(let error):
                    if self.machine.connectFailed(id, detail: LoadWorker.describe(error), now: LoadWorker.now()) {
                        self.loop.assumeIsolated().scheduleTask(in: .milliseconds(100)) { if !self.machine.stopped { self.connect() } }
                    }
                }
            }
    }

    private func onTick() {
        let now = LoadWorker.now()
        if case .finish = machine.tick(now: now) { return finish() }
        while let s = machine.nextSend(now: now) { write(s) }
        // Answers that never come: the connection is closed (and replaced when its close arrives).
        while let id = machine.nextTimedOut(now: now) { channels[id]?.close(promise: nil) }
    }

    private func write(_ s: LoadWorkerStateMachine.Send) {
        writtenAtRead[s.connection] = readers[s.connection]?.reads ?? 0
        readers[s.connection]?.expectHeadAnswer(machine.requests[s.request].isHead)
        channels[s.connection]?.writeAndFlush(machine.requests[s.request].bytes, promise: nil)
    }

    private func answered(_ id: LoadWorkerStateMachine.ConnectionID, _ r: LoadResponse) {
        // An answer nobody asked for (none in flight, or decoded from bytes that arrived before the request in
        // flight was written) would be credited to the wrong request: the connection is dropped as broken.
        guard case .busy = machine.slots[id], r.read > writtenAtRead[id] else {
            machine.failed(id, kind: "protocol", now: LoadWorker.now())
            channels[id]?.close(promise: nil)
            return
        }
        if let s = machine.answered(id, status: r.status, body: r.body, closes: r.closes, now: LoadWorker.now()) { write(s) }
        if r.closes { channels[id]?.close(promise: nil) }  // its close opens the replacement
    }

    private func closed(_ id: LoadWorkerStateMachine.ConnectionID) {
        channels[id] = nil
        let pause = failedHandshake.remove(id) != nil
        guard machine.closed(id, now: LoadWorker.now()) else { return }
        if pause {
            loop.assumeIsolated().scheduleTask(in: .milliseconds(100)) { if !self.machine.stopped { self.connect() } }
        } else {
            connect()
        }
    }

    private func finish() {
        guard let result = machine.finish(now: LoadWorker.now()) else { return }
        tick?.cancel()
        for ch in channels { ch?.close(promise: nil) }
        done.succeed(result)
    }
}
