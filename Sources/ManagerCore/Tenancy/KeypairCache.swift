import Foundation
import Synchronization

/// Keypairs as authentication last read them, for `ttl`: a signed request costs no database round trip while its
/// keypair is cached. Unknown keys are cached too (as absent), so repeating one costs nothing either.
///
/// Revocation delay: a keypair deactivated or changed through this replica's `modify_keypair` is forgotten at once;
/// on other replicas (or by SQL) the change takes effect within `ttl`.
public final class KeypairCache: Sendable {
    struct Entry {
        let record: KeypairRecord?
        let expires: ContinuousClock.Instant
    }

    let ttl: Duration
    let capacity: Int
    private let entries = Mutex<[AccessKey: Entry]>([:])

    public init(ttl: Duration, capacity: Int = 100_000) {
        self.ttl = ttl
        self.capacity = capacity
    }

    /// `.some(record)` (nil for an unknown key) while fresh; nil when it must be read.
    public func lookup(_ key: AccessKey) -> KeypairRecord?? {
        let now = ContinuousClock.now
        return self.entries.withLock { entries -> KeypairRecord?? in
            guard let entry = entries[key] else { return nil }
            guard entry.expires > now else {
                entries[key] = nil
                return nil
            }
            return .some(entry.record)
        }
    }

    public func store(_ key: AccessKey, _ record: KeypairRecord?) {
        guard self.ttl > .zero else { return }
        let now = ContinuousClock.now
        self.entries.withLock { entries in
            if entries.count >= self.capacity {
                entries = entries.filter { $0.value.expires > now }
                // Still full of fresh entries (a flood of distinct keys): start over rather than grow.
                if entries.count >= self.capacity { entries.removeAll(keepingCapacity: true) }
            }
            entries[key] = Entry(record: record, expires: now + self.ttl)
        }
    }

    public func forget(_ key: AccessKey) {
        _ = self.entries.withLock { $0.removeValue(forKey: key) }
    }

    /// After a change that reaches many keypairs at once (a user's or a domain's status, role or name).
    public func forgetAll() {
        self.entries.withLock { $0.removeAll(keepingCapacity: true) }
    }
}

/// Database lookups of keys not in the cache, limited per client address: a flood of made-up access keys from one
/// address gets 429s instead of taking the connection pool from everyone. A token bucket per address, local to
/// the replica (no Redis trip on this path), with a bounded table.
public final class AddressBudget: Sendable {
    struct Bucket {
        var tokens: Double
        var updated: ContinuousClock.Instant
    }

    /// Lookups an address may make in a burst, and per second after it.
    let burst: Double
    let perSecond: Double
    let capacity: Int
    private let buckets = Mutex<[String: Bucket]>([:])

    public init(burst: Int, perSecond: Double, capacity: Int = 50_000) {
        self.burst = Double(max(1, burst))
        self.perSecond = max(0, perSecond)
        self.capacity = capacity
    }

    /// Takes a token for `address`; false when it has none left.
    public func take(_ address: String) -> Bool {
        let now = ContinuousClock.now
        return self.buckets.withLock { buckets in
            var bucket = buckets[address] ?? Bucket(tokens: self.burst, updated: now)
            let elapsed = now - bucket.updated
            let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
            bucket.tokens = min(self.burst, bucket.tokens + seconds * self.perSecond)
            bucket.updated = now
            guard bucket.tokens >= 1 else {
                buckets[address] = bucket
                return false
            }
            bucket.tokens -= 1
            if buckets.count >= self.capacity, buckets[address] == nil {
                // Full buckets carry no information: drop them first.
                buckets = buckets.filter { $0.value.tokens < self.burst - 1 }
                if buckets.count >= self.capacity { buckets.removeAll(keepingCapacity: true) }
            }
            buckets[address] = bucket
            return true
        }
    }
}
