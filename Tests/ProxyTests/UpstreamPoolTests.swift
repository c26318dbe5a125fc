@testable import Proxy
import Testing
import NIOCore
import NIOPosix

/// The upstream pool's decisions without a socket.
@Suite struct UpstreamPoolTests {
    /// A stand-in connection: an id and whether it is still usable.
    struct Conn: Equatable {
        var id: Int
        var usable = true
    }

    @Test func emptyPoolSaysConnectAndReleasedConnectionsAreReusedLastInFirstOut() {
        var pool = UpstreamPool<String, Conn>(maxIdlePerKey: 4)
        guard case .connect = pool.lease("a", usable: { $0.usable }).0 else { Issue.record("an empty pool must connect"); return }
        for i in 1...3 {
            guard case .parked = pool.release(Conn(id: i), key: "a", reusable: true) else { Issue.record("must park"); return }
        }
        #expect(pool.idleCount == 3)
        guard case .use(let c) = pool.lease("a", usable: { $0.usable }).0 else { Issue.record("must reuse"); return }
        #expect(c.id == 3)
        guard case .connect = pool.lease("b", usable: { $0.usable }).0 else { Issue.record("another origin must connect"); return }
    }

    @Test func unusableParkedConnectionsAreHandedBackToBeClosed() {
        var pool = UpstreamPool<String, Conn>(maxIdlePerKey: 4)
        _ = pool.release(Conn(id: 1), key: "a", reusable: true)
        _ = pool.release(Conn(id: 2, usable: false), key: "a", reusable: true)
        _ = pool.release(Conn(id: 3, usable: false), key: "a", reusable: true)
        let (lease, stale) = pool.lease("a") { $0.usable }
        guard case .use(let c) = lease else { Issue.record("the usable one must be used"); return }
        #expect(c.id == 1)
        #expect(stale.map(\.id) == [3, 2])
        #expect(pool.idleCount == 0)
        let (again, none) = pool.lease("a") { $0.usable }
        guard case .connect = again else { Issue.record("nothing is left"); return }
        #expect(none.isEmpty)
    }

    @Test func notReusableOrOverTheBoundIsClosed() {
        var pool = UpstreamPool<String, Conn>(maxIdlePerKey: 2)
        guard case .close(let c) = pool.release(Conn(id: 9), key: "a", reusable: false) else { Issue.record("must close"); return }
        #expect(c.id == 9)
        _ = pool.release(Conn(id: 1), key: "a", reusable: true)
        _ = pool.release(Conn(id: 2), key: "a", reusable: true)
        guard case .close(let d) = pool.release(Conn(id: 3), key: "a", reusable: true) else { Issue.record("the key is full"); return }
        #expect(d.id == 3)
        guard case .parked = pool.release(Conn(id: 4), key: "b", reusable: true) else { Issue.record("another key has room"); return }
        #expect(pool.idleCount == 3)
    }
}

/// A failed connect to the upstream is told in a sentence with what to check, not NIO's text ("connection
/// reset (error set): Connection refused) (errno: 111)", unbalanced and calling a refusal a reset).
@Suite struct UpstreamConnectFailureTests {
    @Test func aRefusedConnectionSaysNothingListens() async throws {
        // A port that was just free: nothing listens there.
        let channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton).bind(host: "127.0.0.1", port: 0).get()
        let port = channel.localAddress!.port!
        try await channel.close()
        do {
            _ = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton).connect(host: "127.0.0.1", port: port).get()
            Issue.record("connected to a closed port")
        } catch {
            let text = UpstreamClient.connectFailure(error)
            #expect(text.contains("connection refused") && text.contains("nothing listens there"), "\(text)")
            #expect(text.filter { $0 == "(" }.count == text.filter { $0 == ")" }.count, "\(text)")
            #expect(!text.contains("reset"), "\(text)")
        }
    }
}

@Suite struct LogThrottleTests {
    @Test func aReasonIsLoggedOncePerIntervalWithTheCountLeftUnsaid() {
        let throttle = LogThrottle(interval: .seconds(10))
        let t0 = NIODeadline.uptimeNanoseconds(1_000_000_000)
        #expect(throttle.shouldLog("a", now: t0) == (true, 0))
        for k in 1...5 { #expect(throttle.shouldLog("a", now: t0 + .seconds(Int64(k))) == (false, 0)) }
        #expect(throttle.shouldLog("b", now: t0 + .seconds(1)) == (true, 0), "each reason on its own")
        #expect(throttle.shouldLog("a", now: t0 + .seconds(10)) == (true, 5))
        #expect(throttle.shouldLog("a", now: t0 + .seconds(11)) == (false, 0))
        throttle.reset()
        #expect(throttle.shouldLog("a", now: t0 + .seconds(12)) == (true, 0))
    }
}
