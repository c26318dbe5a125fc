import Synchronization

/// Idempotency tokens (`ClientToken`) of create calls: the first call with a token creates, later calls
/// with the same token and the same parameters get the same resource, as the real API answers retried
/// creates; the same token with other parameters is an error.
final class ClientTokens: Sendable {
    private let made = Mutex<[String: (handle: UInt32, fingerprint: String)]>([:])

    /// Runs `create` once per `token` (always when `token` is nil) and returns what it made for that token;
    /// throws `mismatch()` when the token was used with another `fingerprint`.
    func once<E: Error>(_ token: String?, fingerprint: String, _ create: () throws(E) -> UInt32, mismatch: () -> E) throws(E) -> UInt32 {
        guard let token else { return try create() }
        if let earlier = made.withLock({ $0[token] }) {
            guard earlier.fingerprint == fingerprint else { throw mismatch() }
            return earlier.handle
        }
        let h = try create()
        return made.withLock { m in
            if let earlier = m[token] { return earlier.handle }  // a concurrent twin won; ours stays, as a real race would leave it
            m[token] = (h, fingerprint)
            return h
        }
    }
}
