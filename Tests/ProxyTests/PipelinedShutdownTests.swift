import Foundation
import TapedeckHTTP
import Testing

/// `connect(2)` of a blocking socket to 127.0.0.1:`port` (tests that need a client that stops reading or trickles).
func connectLoopback(_ fd: Int32, port: Int) -> Int32 {
    var addr = sockaddr_in()
    addr.sin_family = sa_family_t(AF_INET)
    addr.sin_port = in_port_t(UInt16(port).bigEndian)
    addr.sin_addr.s_addr = inet_addr("127.0.0.1")
    return withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
}

/// SIGTERM while a client has pipelined many requests and not yet read their answers (the server has stopped
/// reading: the socket is full). Every answer the client gets is whole, and the connection ends with a FIN:
/// the simulator closed its connections mid-answer when it stopped, and a replaying proxy's close with unread
/// requests made the kernel send a reset, which threw away answers the client had not read yet.
@Suite struct PipelinedShutdownTests {
    static let query = "/?Action=DescribeSecurityGroups&RegionId=cn-hangzhou&PageSize=50"

    /// Sends `count` pipelined GETs on one blocking socket, calls `stop`, then reads to EOF. Returns the bytes and
    /// whether the read ended in a reset.
    static func pipeline(port: Int, count: Int, stop: () -> Void) throws -> (bytes: [UInt8], reset: Bool) {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        #expect(fd >= 0)
        defer { close(fd) }
        var small: Int32 = 32 * 1024  // a small receive window: the server is still writing when it is stopped
        setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, socklen_t(MemoryLayout<Int32>.size))
        #expect(connectLoopback(fd, port: port) == 0)
        var timeout = timeval(tv_sec: 20, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        let requests = Array((0..<count).map { "GET \(query)&i=\($0) HTTP/1.1\r\nHost: x\r\n\r\n" }.joined().utf8)
        var sent = 0
        while sent < requests.count {
            let n = requests.withUnsafeBytes { send(fd, $0.baseAddress! + sent, requests.count - sent, Int32(MSG_NOSIGNAL)) }
            guard n > 0 else { break }
            sent += n
        }
        Thread.sleep(forTimeInterval: 0.3)  // the server answers until the socket is full, then stops reading
        stop()
        var out: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 1 << 16)
        while true {
            let n = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n > 0 { out += chunk[0..<n]; continue }
            return (out, n < 0 && errno == ECONNRESET)
        }
    }

    /// The whole answers at the start of `bytes`, and how many bytes follow the last one.
    static func answers(_ bytes: [UInt8]) -> (whole: Int, rest: Int) {
        var whole = 0
        var at = 0
        let crlf2: [UInt8] = [13, 10, 13, 10]
        while let end = (at..<max(at, bytes.count - 3)).first(where: { bytes[$0..<($0 + 4)].elementsEqual(crlf2) }) {
            let head = String(decoding: bytes[at..<end], as: UTF8.self).lowercased()
            guard let cl = head.range(of: "content-length: ") else { break }
            let length = Int(head[cl.upperBound...].prefix { $0.isNumber }) ?? 0
            guard bytes.count - (end + 4) >= length else { break }
            at = end + 4 + length
            whole += 1
        }
        return (whole, bytes.count - at)
    }

    @Test(arguments: ["simulate", "replay"])
    func everyAnswerAPipeliningClientGetsIsWhole(server: String) async throws {
        let dir = NSTemporaryDirectory() + "tapedeck-pipeterm-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let exe = try UnprivilegedUserTests.binary()
        let sim = try UnprivilegedUserTests.Running([exe, "simulate", "--port", "0", "--groups", "1000"], as: false, home: dir)
        defer { sim.stop() }
        let simPort = try await sim.port()
        var target = sim
        if server == "replay" {
            let cassette = dir + "/c.jsonl.gz"
            let recorder = try UnprivilegedUserTests.Running(
                [exe, "proxy", "--port", "0", "--mode", "record", "--upstream", "http://127.0.0.1:\(simPort)", "--cassette", cassette,
                 "--ca-dir", dir + "/ca", "--ignore", "param:i"], as: false, home: dir)
            let recorderPort = try await recorder.port()
            _ = try await RawHTTPClient.request("GET", Self.query + "&i=0", port: recorderPort)
            recorder.stop()
            recorder.process.waitUntilExit()
            target = try UnprivilegedUserTests.Running(
                [exe, "proxy", "--port", "0", "--mode", "replay", "--on-exhausted", "last", "--cassette", cassette, "--ca-dir", dir + "/ca",
                 "--ignore", "param:i"], as: false, home: dir)
        }
        defer { target.stop() }
        let port = try await target.port()
        // Blocking socket calls, on a thread of their own (not the tests' shared concurrency pool).
        let process = target.process
        let (bytes, reset) = try await withCheckedThrowingContinuation { (done: CheckedContinuation<([UInt8], Bool), Error>) in
            Thread.detachNewThread { done.resume(with: Result { try Self.pipeline(port: port, count: 800) { process.terminate() } }) }
        }
        target.process.waitUntilExit()
        let (whole, rest) = Self.answers(bytes)
        #expect(!reset, "the connection ends with a FIN, not a reset (\(whole) answers read)")
        #expect(rest == 0, "no answer is cut off: \(whole) whole answers, then \(rest) bytes of one more")
        #expect(whole >= 20, "the answers written before the stop are read: \(whole)")
        #expect(target.process.terminationStatus == 0, "\(target.printed)")
    }
}
