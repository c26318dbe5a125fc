import Logging
import ServiceLifecycle

/// The service ended before it reported that it was ready (and without an error of its own).
public struct ServiceEndedBeforeReady: Error, CustomStringConvertible {
    public var description: String { "the server stopped before it was listening" }
}

/// Runs a server `Service` for the scope of `body`, the way the CLI runs it: inside a `ServiceGroup`,
/// stopped by graceful shutdown (stop accepting, finish what is in flight, flush, close). Tests and the
/// demo use this, so they exercise the same start and stop paths as `tapedeck simulate` and `tapedeck proxy`.
///
/// ```swift
/// let answer = try await withRunning({ ready in SimulatorServer(simulator: sim, configuration: conf) { a, _ in ready(a) } }) { address in
///     try await RawHTTPClient.request("/?Action=…", port: address.port!)
/// }
/// ```
///
/// - Parameters:
///   - makeService: builds the service, given the callback it must call once it accepts connections
///     (with whatever `body` needs: the bound address, or the running server).
///   - body: runs once the service is ready; when it returns or throws, the service is shut down
///     gracefully and awaited before this returns.
/// - Throws: the service's own error if it fails to start (a port in use, an unreadable file), else
///   whatever `body` throws.
public func withRunning<S: Service, Ready: Sendable, T>(
    _ makeService: (_ ready: @escaping @Sendable (Ready) -> Void) -> S,
    logger: Logger = Logger(label: "tapedeck.service"),
    _ body: (Ready) async throws -> T
) async throws -> T {
    let (readiness, continuation) = AsyncStream.makeStream(of: Ready.self, bufferingPolicy: .bufferingNewest(1))
    let service = makeService { continuation.yield($0) }
    let group = ServiceGroup(configuration: .init(services: [service], gracefulShutdownSignals: [], logger: logger))
    return try await withThrowingTaskGroup(of: Void.self) { tasks in
        tasks.addTask {
            defer { continuation.finish() }
            try await group.run()
        }
        var iterator = readiness.makeAsyncIterator()
        guard let result = await whenReady(&iterator, body) else {
            try await tasks.waitForAll()  // the service's own error, if it has one
            throw ServiceEndedBeforeReady()
        }
        await group.triggerGracefulShutdown()
        try await tasks.waitForAll()
        return try result.get()
    }
}

/// `body`'s outcome once the service is ready, or nil if it ended first. Its own scope, so what the service
/// handed over (a running server, holding a quiescing helper that completes a promise when it is released)
/// is released before the service's event loops shut down, not after.
private func whenReady<Ready, T>(
    _ iterator: inout AsyncStream<Ready>.Iterator, _ body: (Ready) async throws -> T
) async -> Result<T, Error>? {
    guard let ready = await iterator.next() else { return nil }
    do { return .success(try await body(ready)) } catch { return .failure(error) }
}
