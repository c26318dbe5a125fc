import Foundation
import NIOCore
import NIOPosix

/// The system's reason a connection failed, read out of NIO's errors: an `IOError`, or the first attempt's
/// inside a `NIOConnectionError` (a name connected through happy eyeballs). The proxy and the load generator
/// each add their own advice to it.
public enum ConnectFailure {
    /// The errno behind `error`, if it carries one.
    public static func errno(of error: Error) -> Int32? {
        if let e = error as? IOError { return e.errnoCode }
        if let e = error as? NIOConnectionError, let io = e.connectionErrors.first?.error as? IOError { return io.errnoCode }
        return nil
    }

    /// `strerror`, lower-cased to sit inside a sentence ("connection refused").
    public static func words(_ code: Int32) -> String { String(cString: strerror(code)).lowercased() }
}
