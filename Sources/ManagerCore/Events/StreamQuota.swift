import Synchronization

/// Open event streams (SSE) per keypair on this replica, capped: the stream past the cap is refused with 429
/// before it subscribes. A stream holds a `Ticket`; the slot comes back when the ticket is released, which happens
/// when the response body (that holds it) is gone, whether the stream ended, failed or was never written.
public final class StreamQuota: Sendable {
    public final class Ticket: Sendable {
        let quota: StreamQuota
        let key: AccessKey

        init(quota: StreamQuota, key: AccessKey) {
            self.quota = quota
            self.key = key
        }

        deinit { self.quota.release(self.key) }
    }

    let maxPerKeypair: Int
    private let open = Mutex<[AccessKey: Int]>([:])

    public init(maxPerKeypair: Int) {
        self.maxPerKeypair = maxPerKeypair
    }

    /// A slot for one more stream of `key`, or 429.
    public func acquire(_ key: AccessKey) throws -> Ticket {
        let admitted = self.open.withLock { open -> Bool in
            let count = open[key, default: 0]
            guard count < self.maxPerKeypair else { return false }
            open[key] = count + 1
            return true
        }
        guard admitted else {
            throw APIError.tooManyRequests(
                "This keypair already has \(self.maxPerKeypair) event streams open; close one first.", retryAfter: 5)
        }
        return Ticket(quota: self, key: key)
    }

    /// Streams `key` has open now.
    public func count(_ key: AccessKey) -> Int {
        self.open.withLock { $0[key, default: 0] }
    }

    fileprivate func release(_ key: AccessKey) {
        self.open.withLock { open in
            let count = open[key, default: 0] - 1
            open[key] = count > 0 ? count : nil
        }
    }
}
