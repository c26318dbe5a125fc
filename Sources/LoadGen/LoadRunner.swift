import CloudModel
import Foundation
import NIOCore
import NIOPosix
import Synchronization
import NIOSSL
import TapedeckHTTP

/// A load run that cannot start.
public struct LoadError: Error, CustomStringConvertible {
    public var description: String
    public init(_ d: String) { description = d }
}

/// Runs a load: spreads connections over `threads` event loops, starts every worker at the same
/// instant, waits for the duration (or `stop()`), and merges their measurements.
public final class LoadRunner: Sendable {
    public let configuration: LoadConfiguration
    private let requests: [LoadRequest]
    private let workers = Mutex<[LoadWorker.Handle]>([])

    public init(configuration: LoadConfiguration, requests: [LoadRequest]) {
        self.configuration = configuration
        self.requests = requests
    }

    static func tlsContext(_ conf: LoadConfiguration) throws -> NIOSSLContext {
        var tls = TLSConfiguration.makeClientConfiguration()
        if conf.tlsInsecure { tls.certificateVerification = .none }
        if let ca = conf.tlsCAFile { tls.additionalTrustRoots = [.certificates(try TLSFiles.certificates(ca, flag: "--ca"))] }
        return try NIOSSLContext(configuration: tls)
    }

    /// Ends the run early; the report covers what was measured.
    public func stop() {
        stopped.store(true, ordering: .relaxed)
        for w in workers.withLock({ $0 }) { w.stop() }
    }
    private let stopped = Atomic<Bool>(false)

    public func run() async throws -> LoadReport {
        guard !requests.isEmpty else { throw LoadError("no requests to send: the source produced none") }
        let threads = max(1, configuration.threads)
        var conf = configuration
        conf.threads = threads
        let group = MultiThreadedEventLoopGroup(numberOfThreads: threads)
        let loops = Array(group.makeIterator())
        let progress = Progress()
        let tls = try conf.target.tls ? LoadRunner.tlsContext(conf) : nil
        let ws = loops.map { LoadWorker.Handle(loop: $0) }
        workers.withLock { $0 = ws }
        let startAt = LoadWorker.now() + 50_000_000  // 50 ms to set up, then everyone starts together
        let futures = ws.enumerated().map { i, w in
            let share = conf.connections / threads + (i < conf.connections % threads ? 1 : 0)
            return w.run(
                startAt: startAt, index: i, configuration: conf, requests: requests, progress: progress, tls: tls,
                connections: max(1, share))
        }
        if stopped.load(ordering: .relaxed) { ws.forEach { $0.stop() } }  // stopped before the workers were made
        // A live progress line each second on stderr when it is a terminal.
        let ticker: Task<Void, Never>? =
            isatty(2) == 0
            ? nil
            : Task {
                var seconds = 0, last = 0
                while !Task.isCancelled {
                    try? await Task.sleep(for: .seconds(1))
                    seconds += 1
                    let done = progress.completed.load(ordering: .relaxed)
                    let line =
                        "\r[\(seconds)s] sent \(progress.sent.load(ordering: .relaxed)), completed \(done), errors \(progress.errors.load(ordering: .relaxed)), \(done - last) req/s   "
                    FileHandle.standardError.write(Data(line.utf8))
                    last = done
                }
            }
        defer {
            ticker?.cancel()
            if ticker != nil { FileHandle.standardError.write(Data("\n".utf8)) }
        }
        var total = WorkerResult()
        do {
            for f in futures { total.add(try await f.get()) }
        } catch {
            try? await group.shutdownGracefully()
            throw error
        }
        let ended = LoadWorker.now()
        try? await group.shutdownGracefully()
        // A run stopped early (Ctrl-C) reports over the time it measured, not the duration it was given.
        let measureFrom = startAt &+ UInt64(max(0, conf.warmup.nanoseconds))
        let elapsed = ended > measureFrom ? Double(ended - measureFrom) / 1e9 : 0
        let measured = max(0.001, min(Double(conf.duration.nanoseconds) / 1e9, elapsed))
        var report = LoadReport(configuration: conf, result: total, seconds: measured)
        report.stoppedEarly = stopped.load(ordering: .relaxed) && measured < Double(conf.duration.nanoseconds) / 1e9
        report.stoppedInWarmup = report.stoppedEarly && conf.warmup > .zero && ended <= measureFrom
        return report
    }
}
