import Logging
import ServiceLifecycle
import UnixSignals
import Synchronization

/// A load run as a `Service`: SIGINT/SIGTERM (through service-lifecycle's graceful shutdown, like the
/// servers) ends it early, and the report covers what was measured until then.
public final class LoadService: Service, Sendable {
    public let runner: LoadRunner
    private let outcome = Mutex<Result<LoadReport, any Error>?>(nil)

    public init(runner: LoadRunner) { self.runner = runner }

    /// The report, once `run()` has returned.
    public var report: LoadReport? { if case .success(let r)? = outcome.withLock({ $0 }) { return r } else { return nil } }

    public func run() async throws {
        let runner = self.runner
        do {
            let report = try await withGracefulShutdownHandler {
                try await runner.run()
            } onGracefulShutdown: {
                runner.stop()
            }
            outcome.withLock { $0 = .success(report) }
        } catch {
            outcome.withLock { $0 = .failure(error) }
            throw error
        }
    }

    /// Runs the load under a service group that stops it on `signals`; returns its report.
    public static func run(_ runner: LoadRunner, signals: [UnixSignal] = [.sigint, .sigterm], logger: Logger) async throws -> LoadReport {
        let service = LoadService(runner: runner)
        let group = ServiceGroup(
            configuration: .init(
                services: [.init(service: service, successTerminationBehavior: .gracefullyShutdownGroup)],
                gracefulShutdownSignals: signals, logger: logger))
        try await group.run()
        switch service.outcome.withLock({ $0 }) {
        case .success(let report)?: return report
        case .failure(let error)?: throw error
        case nil: throw LoadError("the load run ended before it reported")
        }
    }
}
