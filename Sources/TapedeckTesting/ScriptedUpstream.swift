import Foundation
import NIOCore
import NIOPosix

/// A misbehaving upstream for fault tests: on 127.0.0.1, port 0, it answers every request it reads
/// (head, and a `Content-Length` body) with `answer`'s bytes, exactly as given — a gzip bomb, a bad status
/// line, two responses for one request.
public enum ScriptedUpstream {
    /// - Parameter delay: how long each answer takes (a slow upstream).
    public static func with<T: Sendable>(
        delay: TimeAmount = .zero, answer: @escaping @Sendable (_ request: String) -> [UInt8],
        _ body: (_ port: Int) async throws -> T
    ) async throws -> T {
        let group = MultiThreadedEventLoopGroup.singleton
        let server = try await ServerBootstrap(group: group)
            .childChannelInitializer { ch in
                ch.eventLoop.makeCompletedFuture { try ch.pipeline.syncOperations.addHandler(Answerer(answer, delay: delay)) }
            }
            .bind(host: "127.0.0.1", port: 0).get()
        let port = server.localAddress?.port ?? 0
        do {
            let r = try await body(port)
            try? await server.close()
            return r
        } catch {
            try? await server.close()
            throw error
        }
    }

    private final class Answerer: ChannelInboundHandler {
        typealias InboundIn = ByteBuffer
        typealias OutboundOut = ByteBuffer
        let answer: @Sendable (String) -> [UInt8]
        let delay: TimeAmount
        var pending: [UInt8] = []
        init(_ answer: @escaping @Sendable (String) -> [UInt8], delay: TimeAmount) {
            self.answer = answer
            self.delay = delay
        }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            pending += unwrapInboundIn(data).readableBytesView
            while let end = headEnd() {
                let head = String(decoding: pending[..<end], as: UTF8.self)
                let length =
                    head.split(separator: "\r\n").first { $0.lowercased().hasPrefix("content-length:") }
                    .flatMap { Int($0.split(separator: ":")[1].trimmingCharacters(in: .whitespaces)) } ?? 0
                guard pending.count >= end + length else { return }
                pending.removeFirst(end + length)
                let bytes = ByteBuffer(bytes: answer(head))
                if delay == .zero {
                    context.writeAndFlush(wrapOutboundOut(bytes), promise: nil)
                } else {
                    let channel = context.channel
                    context.eventLoop.scheduleTask(in: delay) { channel.writeAndFlush(bytes, promise: nil) }
                }
            }
        }

        private func headEnd() -> Int? {
            guard pending.count >= 4 else { return nil }
            for i in 0...(pending.count - 4) where pending[i] == 13 && pending[i + 1] == 10 && pending[i + 2] == 13 && pending[i + 3] == 10
            {
                return i + 4
            }
            return nil
        }
    }
}

/// Runs the `openssl` command line (keys, certificates and `openssl verify -x509_strict` in TLS tests).
public enum OpenSSLTool {
    public struct Failure: Error, CustomStringConvertible { public var description: String }

    @discardableResult
    public static func run(_ arguments: [String], in directory: String) throws -> String {
        let (status, text) = try CommandRunner.run("/usr/bin/env", ["openssl"] + arguments, in: directory)
        guard status == 0 else { throw Failure(description: "openssl \(arguments.joined(separator: " ")): \(text)") }
        return text
    }
}

/// Runs a program to the end and returns its exit status and everything it printed (stdout and stderr).
public enum CommandRunner {
    public static func run(
        _ executable: String, _ arguments: [String], in directory: String? = nil,
        environment: [String: String]? = nil
    ) throws -> (status: Int32, output: String) {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: executable)
        p.arguments = arguments
        if let directory { p.currentDirectoryURL = URL(fileURLWithPath: directory) }
        if let environment { p.environment = environment }
        let out = Pipe()
        p.standardOutput = out
        p.standardError = out
        try p.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return (p.terminationStatus, String(decoding: data, as: UTF8.self))
    }
}
