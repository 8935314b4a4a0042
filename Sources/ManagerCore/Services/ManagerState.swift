import Foundation
import Synchronization

/// This replica's view of the shared manager state (status, announcement): read from PostgreSQL at most once a
/// second, since every CLI command asks for the announcement and every gated request for the status. A change made
/// here is seen here at once and on other replicas within the second.
final class ManagerState: Sendable {
    private let store: PostgresManagerStateStore
    private let ttl: Duration
    private let cached = Mutex<(at: ContinuousClock.Instant, snapshot: PostgresManagerStateStore.Snapshot)?>(nil)

    init(store: PostgresManagerStateStore, ttl: Duration = .seconds(1)) {
        self.store = store
        self.ttl = ttl
    }

    func current() async throws -> PostgresManagerStateStore.Snapshot {
        let now = ContinuousClock.now
        if let entry = self.cached.withLock({ $0 }), now - entry.at < self.ttl { return entry.snapshot }
        let snapshot = try await self.store.snapshot()
        self.cached.withLock { $0 = (now, snapshot) }
        return snapshot
    }

    func invalidate() { self.cached.withLock { $0 = nil } }
}
