import Foundation
import TapedeckHTTP
import TapedeckTesting
import Testing

/// The built `tapedeck` run as a user who is not root (uid 65534 through `setpriv` when the suite runs as
/// root, as CI does; the current user otherwise): the simulator, the proxy in front of it and a short load
/// must all answer. Root-only socket options once reset every connection of every other user.
@Suite struct UnprivilegedUserTests {
    /// The `tapedeck` executable next to the test bundle (`swift test` builds it).
    static func binary() throws -> String {
        let dir = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        for candidate in [dir, dir.deletingLastPathComponent()] {
            let path = candidate.appendingPathComponent("tapedeck").path
            if FileManager.default.isExecutableFile(atPath: path) { return path }
        }
        throw Failure(description: "no tapedeck executable beside \(dir.path); run `swift build` first")
    }

    struct Failure: Error, CustomStringConvertible { var description: String }

    final class Running: @unchecked Sendable {  // written by the reader thread, read after `listening` is seen
        let process = Process()
        let output = Pipe()
        private let lock = NSLock()
        private var text = ""

        init(_ arguments: [String], as unprivileged: Bool, home: String) throws {
            if unprivileged {
                process.executableURL = URL(fileURLWithPath: "/usr/bin/setpriv")
                process.arguments = ["--reuid=65534", "--regid=65534", "--clear-groups"] + arguments
            } else {
                process.executableURL = URL(fileURLWithPath: arguments[0])
                process.arguments = Array(arguments.dropFirst())
            }
            process.environment = ["HOME": home, "PATH": "/usr/bin:/bin"]
            process.currentDirectoryURL = URL(fileURLWithPath: home)
            process.standardOutput = output
            process.standardError = output
            output.fileHandleForReading.readabilityHandler = { [weak self] h in
                let d = h.availableData
                guard let self, !d.isEmpty else { return }
                self.lock.withLock { self.text += String(decoding: d, as: UTF8.self) }
            }
            try process.run()
        }

        var printed: String { lock.withLock { text } }

        /// The port of the `listening on http://127.0.0.1:PORT` line.
        func port() async throws -> Int {
            for _ in 0..<200 {
                if let r = printed.range(of: "listening on http://127.0.0.1:") {
                    let digits = printed[r.upperBound...].prefix { $0.isNumber }
                    if let p = Int(digits) { return p }
                }
                if !process.isRunning { break }
                try await Task.sleep(for: .milliseconds(50))
            }
            throw Failure(description: "no listening line; it printed: \(printed)")
        }

        func stop() {
            if process.isRunning { process.terminate() }
            process.waitUntilExit()
            output.fileHandleForReading.readabilityHandler = nil
        }
    }

    @Test func simulatorProxyAndLoadWorkForAnUnprivilegedUser() async throws {
        let asRoot = getuid() == 0
        let home = NSTemporaryDirectory() + "tapedeck-nobody-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: home, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o777])
        defer { try? FileManager.default.removeItem(atPath: home) }
        // A copy the unprivileged user can execute, wherever the build lives.
        let exe = home + "/tapedeck"
        try FileManager.default.copyItem(atPath: try Self.binary(), toPath: exe)
        try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: exe)
        try FileManager.default.setAttributes([.posixPermissions: 0o777], ofItemAtPath: home)

        let sim = try Running([exe, "simulate", "--port", "0", "--groups", "10"], as: asRoot, home: home)
        defer { sim.stop() }
        let simPort = try await sim.port()
        let direct = try await RawHTTPClient.request(
            "GET", "/?Action=DescribeSecurityGroups&RegionId=cn-hangzhou&PageSize=1", port: simPort)
        #expect(direct.status == 200, "\(direct.bodyString)")

        let proxy = try Running(
            [
                exe, "proxy", "--port", "0", "--mode", "record", "--cassette", home + "/c.jsonl.gz",
                "--upstream", "http://127.0.0.1:\(simPort)", "--ca-dir", home + "/ca",
            ], as: asRoot, home: home)
        defer { proxy.stop() }
        let proxyPort = try await proxy.port()
        let proxied = try await RawHTTPClient.request(
            "GET", "/?Action=DescribeSecurityGroups&RegionId=cn-hangzhou&PageSize=1", port: proxyPort)
        #expect(proxied.status == 200, "\(proxied.bodyString)")
        #expect(proxied.bodyString.contains("\"SecurityGroups\""))

        let load = try Running(
            [
                exe, "load", "--target", "http://127.0.0.1:\(simPort)/?Action=DescribeSecurityGroups&RegionId=cn-hangzhou",
                "--duration", "1s", "--connections", "4", "--json", home + "/load.json",
            ], as: asRoot, home: home)
        load.process.waitUntilExit()
        #expect(load.process.terminationStatus == 0, "\(load.printed)")
        let report = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: home + "/load.json"))) as? [String: Any]
        #expect(((report?["requests"] as? [String: Any])?["completed"] as? Int ?? 0) > 0, "\(load.printed)")
        #expect((report?["errors"] as? [String: Any])?.isEmpty ?? true, "no connect errors: \(load.printed)")
    }

    /// `--ca-dir` relative to the working directory, one part (`myca`, which once turned interception off:
    /// it has no parent to create) and several (`certs/proxy/ca`, parents created), as the user running it.
    @Test(arguments: ["myca", "certs/proxy/ca"])
    func relativeCADirectoryIsCreatedInTheWorkingDirectory(_ caDir: String) async throws {
        let asRoot = getuid() == 0
        let home = NSTemporaryDirectory() + "tapedeck-relca-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: home, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o777])
        defer { try? FileManager.default.removeItem(atPath: home) }
        let exe = home + "/tapedeck"
        try FileManager.default.copyItem(atPath: try Self.binary(), toPath: exe)
        try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: exe)
        let proxy = try Running(
            [exe, "proxy", "--port", "0", "--mode", "passthrough", "--cassette", "c.jsonl.gz", "--upstream", "http://127.0.0.1:9", "--ca-dir", caDir],
            as: asRoot, home: home)
        defer { proxy.stop() }
        _ = try await proxy.port()
        #expect(!proxy.printed.contains("interception (CONNECT) is off"), "\(proxy.printed)")
        for file in ["ca.pem", "ca-key.pem"] {
            #expect(FileManager.default.fileExists(atPath: "\(home)/\(caDir)/\(file)"), "\(file) in \(home)/\(caDir): \(proxy.printed)")
        }
        let mode = try FileManager.default.attributesOfItem(atPath: "\(home)/\(caDir)")[.posixPermissions] as? Int
        #expect(mode == 0o700, "the CA folder holds its key: owner only")
    }
}
