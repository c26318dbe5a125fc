import NIOCore
import NIOEmbedded
import Testing
@testable import TapedeckHTTP

/// Plain HTTP sent to a TLS port gets a 400 that says so (nginx's "plain HTTP request was sent to HTTPS
/// port"), not a silent close; a TLS handshake passes on untouched and the handler leaves the pipeline.
@Suite struct PlainHTTPOnTLSPortTests {
    @Test func plainHTTPIsToldToUseHTTPS() throws {
        let channel = EmbeddedChannel(handler: PlainHTTPOnTLSPort(advice: "use https://127.0.0.1:8443"))
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1)).wait()
        try channel.writeInbound(ByteBuffer(string: "GET /?Action=DescribeRegions HTTP/1.1\r\nHost: x\r\n\r\n"))
        let out = try #require(try channel.readOutbound(as: ByteBuffer.self))
        let text = String(buffer: out)
        #expect(text.hasPrefix("HTTP/1.1 400 Bad Request\r\n") && text.contains("use https://127.0.0.1:8443"), "\(text)")
        #expect(try channel.readInbound(as: ByteBuffer.self) == nil, "nothing reaches the TLS handler")
    }

    @Test func aTLSHandshakePassesUntouched() throws {
        let channel = EmbeddedChannel(handler: PlainHTTPOnTLSPort(advice: "x"))
        let hello = ByteBuffer(bytes: [0x16, 0x03, 0x01, 0x00, 0x05, 1, 2, 3, 4, 5])
        try channel.writeInbound(hello)
        #expect(try channel.readInbound(as: ByteBuffer.self) == hello)
        #expect(try channel.readOutbound(as: ByteBuffer.self) == nil)
        #expect(throws: (any Error).self) { try channel.pipeline.syncOperations.handler(type: PlainHTTPOnTLSPort.self) }
        // Later bytes (even ones that look like text) are the TLS stream's.
        try channel.writeInbound(ByteBuffer(string: "GET"))
        #expect(try channel.readInbound(as: ByteBuffer.self) == ByteBuffer(string: "GET"))
    }
}
