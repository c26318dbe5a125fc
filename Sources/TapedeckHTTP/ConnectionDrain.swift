import NIOCore
import NIOExtras
import Synchronization

/// A server's graceful stop (SIGTERM), shared by the simulator and the proxy: stop accepting, ask every
/// connection to finish what it is answering and close (NIOExtras' `ServerQuiescingHelper`; idle ones close
/// at once), and wait for them within a bound. A forced stop (a second signal, or the bound) closes what is
/// still open while the event loops run.
public final class ConnectionDrain: Sendable {
    private let quiesce: ServerQuiescingHelper
    private let open = Mutex<[ObjectIdentifier: Channel]>([:])
    private let drained = Mutex<EventLoopFuture<Void>?>(nil)

    public init(group: EventLoopGroup) {
        quiesce = ServerQuiescingHelper(group: group)
    }

    /// The handler for the listening channel (`serverChannelInitializer`).
    public func serverHandler(for channel: Channel) -> ChannelHandler {
        quiesce.makeServerChannelHandler(channel: channel)
    }

    /// Tracks an accepted connection until it closes (`childChannelInitializer`).
    public func track(_ channel: Channel) {
        let id = ObjectIdentifier(channel)
        open.withLock { $0[id] = channel }
        channel.closeFuture.whenComplete { _ in _ = self.open.withLock { $0.removeValue(forKey: id) } }
    }

    /// The connections open now.
    public var connections: [Channel] { open.withLock { Array($0.values) } }

    /// Closes the listening socket and asks every connection to finish and close. Idempotent; the future
    /// completes once all have closed.
    @discardableResult
    public func begin(on loop: EventLoop) -> EventLoopFuture<Void> {
        drained.withLock { d in
            if let d { return d }
            let p = loop.makePromise(of: Void.self)
            quiesce.initiateShutdown(promise: p)
            d = p.futureResult
            return p.futureResult
        }
    }

    /// Waits until every connection has finished and closed, at most `bound`, or until the task is cancelled
    /// (a second SIGTERM): whichever comes first. On cancellation, `forcing` runs and the connections still open
    /// are closed (waiting at most 2 s for them). Returns whether the stop was forced.
    @discardableResult
    public func waitForConnections(within bound: TimeAmount, on loop: EventLoop, forcing: @Sendable () -> Void = {}) async -> Bool {
        let done = begin(on: loop)
        let ended = loop.makePromise(of: Void.self)  // completed by the first of the three; later ones are no-ops
        done.whenComplete { _ in ended.succeed() }
        let timer = loop.scheduleTask(in: bound) { ended.succeed() }
        await withTaskCancellationHandler {
            try? await ended.futureResult.get()
        } onCancel: {
            ended.succeed()
        }
        timer.cancel()
        guard Task.isCancelled else { return false }
        // Closed by the group's shutdown instead, each would report to the quiescing helper on a loop already stopped.
        let closed = loop.makePromise(of: Void.self)
        done.whenComplete { _ in closed.succeed() }
        let limit = loop.scheduleTask(in: .seconds(2)) { closed.succeed() }
        forcing()
        for channel in connections { channel.close(promise: nil) }
        try? await closed.futureResult.get()
        limit.cancel()
        return true
    }
}
