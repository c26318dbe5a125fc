import Foundation
import NIOCore
import NIOPosix
import NIOSSL
import TapedeckHTTP

/// Asks a target what it is before a `--verify` run: `GET /__tapedeck/status`, which `tapedeck simulate`
/// answers with its data set and `tapedeck proxy` with its mode. Anything else (a real cloud, another
/// server, no answer within two seconds) is `nil`: then nothing can be checked in advance.
public enum TargetProbe {
    public struct Identity: Sendable, Equatable {
        /// "simulator" or "proxy".
        public var role: String
        /// The simulator's synthetic data set, if it serves one.
        public var groups: Int?
        public var seed: UInt64?
        /// The proxy's mode and exhaustion policy.
        public var mode: String?
        public var onExhausted: String?

        public init(role: String, groups: Int? = nil, seed: UInt64? = nil, mode: String? = nil, onExhausted: String? = nil) {
            self.role = role
            self.groups = groups
            self.seed = seed
            self.mode = mode
            self.onExhausted = onExhausted
        }
    }

    public static func identify(_ configuration: LoadConfiguration) async -> Identity? {
        let group = MultiThreadedEventLoopGroup.singleton
        let target = configuration.target
        let collected = group.next().makePromise(of: [UInt8].self)
        let tls = target.tls ? try? LoadRunner.tlsContext(configuration) : nil
        if target.tls && tls == nil { return nil }
        let bootstrap = ClientBootstrap(group: group)
            .connectTimeout(.seconds(2))
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    if let tls {
                        let isIP = Authority(host: target.host, port: target.port).isIPAddress
                        try channel.pipeline.syncOperations.addHandler(
                            NIOSSLClientHandler(context: tls, serverHostname: isIP ? nil : target.host))
                    }
                    try channel.pipeline.syncOperations.addHandler(Collector(promise: collected))
                }
            }
        do {
            let channel = try await bootstrap.connect(host: target.host, port: target.port).get()
            let request = HTTPRequestWriter.bytes(
                method: "GET", target: "/__tapedeck/status", host: target.authority,
                headers: [("Connection", "close"), ("Accept", "application/json")])
            try await channel.writeAndFlush(channel.allocator.buffer(bytes: request))
            let timeout = channel.eventLoop.scheduleTask(in: .seconds(2)) { channel.close(promise: nil) }
            defer { timeout.cancel() }
            return parse(try await collected.futureResult.get())
        } catch {
            collected.fail(error)
            return nil
        }
    }

    /// The identity in an HTTP response (head and body), if it is a tapedeck status document.
    static func parse(_ response: [UInt8]) -> Identity? {
        guard let split = response.firstRange(of: Array("\r\n\r\n".utf8)),
            String(decoding: response[..<split.lowerBound].prefix(12), as: UTF8.self).hasSuffix("200"),
            let doc = try? JSONSerialization.jsonObject(with: Data(response[split.upperBound...])) as? [String: Any],
            let role = doc["role"] as? String
        else { return nil }
        var id = Identity(role: role)
        if let ds = doc["data_set"] as? [String: Any] {
            id.groups = (ds["groups"] as? NSNumber)?.intValue
            id.seed = (ds["seed"] as? NSNumber)?.uint64Value
        }
        id.mode = doc["mode"] as? String
        id.onExhausted = doc["on_exhausted"] as? String
        return id
    }

    /// Reads until the server closes (the request said `Connection: close`).
    private final class Collector: ChannelInboundHandler, @unchecked Sendable {  // used on its channel's loop only
        typealias InboundIn = ByteBuffer
        let promise: EventLoopPromise<[UInt8]>
        var bytes: [UInt8] = []
        init(promise: EventLoopPromise<[UInt8]>) { self.promise = promise }
        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            bytes += Self.unwrapInboundIn(data).readableBytesView
            if bytes.count > 64 * 1024 { context.close(promise: nil) }
        }
        func channelInactive(context: ChannelHandlerContext) { promise.succeed(bytes) }
        func errorCaught(context: ChannelHandlerContext, error: Error) { context.close(promise: nil) }
    }
}

extension TargetProbe {
    /// Where a run's requests come from, as far as checking the target is concerned.
    public enum Source: Sendable {
        case synthetic(groups: Int, seed: UInt64)
        case cassette(path: String)
        case plain
    }

    /// What `--verify` can know before the run: a simulator serving another data set is an error naming the
    /// flags to change; otherwise notes for the report (how answers will be compared, what will run out).
    public static func check(_ identity: Identity?, source: Source, target: String) throws(LoadError) -> [String] {
        switch (source, identity?.role) {
        case (.synthetic(let groups, let seed), "simulator"):
            guard let g = identity?.groups, let s = identity?.seed else {
                throw LoadError(
                    "--synthetic --verify: the simulator at \(target) serves a fixture, not a synthetic data set, so the expected answers "
                        + "cannot be computed; start it without --fixture, or drop --verify")
            }
            if g != groups || s != seed {
                var fix: [String] = []
                if g != groups { fix.append("--groups \(g)") }
                if s != seed { fix.append("--seed \(s)") }
                throw LoadError(
                    "--synthetic --verify: the simulator at \(target) serves --groups \(g) --seed \(s), this run would expect "
                        + "--groups \(groups) --seed \(seed), and every answer would mismatch. Pass \(fix.joined(separator: " ")) to tapedeck load "
                        + "(or restart the simulator with --groups \(groups) --seed \(seed))")
            }
            return ["the simulator serves the same data set (--groups \(g) --seed \(s)): answers are checked against its ground truth"]
        case (.synthetic, "proxy"):
            return [
                "the target is a tapedeck proxy (mode \(identity?.mode ?? "?")): its data set cannot be checked; --verify assumes --groups/--seed match the simulator behind it"
            ]
        case (.synthetic, _):
            return ["the target did not say what data set it serves (not a tapedeck simulator?): --verify assumes --groups/--seed match it"]
        case (.cassette(let path), "simulator"):
            return [
                "the target is a live simulator: answers are compared with the recording on what the cloud keeps stable (request ids are left out). "
                    + "Calls that change state (creates, deletes, rule changes) answer from the simulator's current state; for byte-exact replay "
                    + "put `tapedeck proxy --mode replay --cassette \(path)` in front and load that"
            ]
        case (.cassette, "proxy"):
            var notes = ["the target is a tapedeck proxy in \(identity?.mode ?? "?") mode"]
            if identity?.mode == "replay" && identity?.onExhausted == "error" {
                notes.append(
                    "it replays with --on-exhausted error: once each recording has been used, requests get Tapedeck.ExchangesExhausted; "
                        + "for load runs start it with --on-exhausted cycle")
            }
            return notes
        default:
            return []
        }
    }
}
