import Synchronization

/// Idempotency tokens (`ClientToken`) of create calls: the first call with a token creates, later calls
/// with the same token get the same resource, as the real API answers retried creates.
final class ClientTokens: Sendable {
    private let made = Mutex<[String: UInt32]>([:])

    /// Runs `create` once per `token` (always when `token` is nil) and returns what it made for that token.
    func once<E: Error>(_ token: String?, _ create: () throws(E) -> UInt32) throws(E) -> UInt32 {
        guard let token else { return try create() }
        if let h = made.withLock({ $0[token] }) { return h }
        let h = try create()
        return made.withLock { m in
            if let earlier = m[token] { return earlier }  // a concurrent twin won; ours stays, as a real race would leave it
            m[token] = h
            return h
        }
    }
}
