import NIOCore

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// A server could not bind its address; the message says why in the user's terms and which flag fixes it.
public struct ListenError: Error, Sendable, CustomStringConvertible {
    public var description: String

    public init(host: String, port: Int, underlying: Error) {
        let address = host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)"
        if let io = underlying as? IOError {
            switch io.errnoCode {
            case EADDRINUSE:
                description =
                    "cannot listen on \(address): the port is in use (another tapedeck, or another server); pick another with --port N, or --port 0 for a free one"
                return
            case EACCES:
                description = "cannot listen on \(address): ports below 1024 need root; use a higher --port such as 8080"
                return
            case EADDRNOTAVAIL:
                description =
                    "cannot listen on \(address): this machine has no such address; use --host 127.0.0.1 (this machine only) or 0.0.0.0 (all interfaces)"
                return
            default:
                break
            }
        }
        description = "cannot listen on \(address): \(underlying); check --host and --port"
    }

    /// Binds with `bind`, turning a failure into a `ListenError`.
    public static func binding<T>(host: String, port: Int, _ bind: () async throws -> T) async throws -> T {
        do { return try await bind() } catch { throw ListenError(host: host, port: port, underlying: error) }
    }
}
