import Synchronization

/// Whether this replica could record agent heartbeats lately.
///
/// Silence from an agent means it is gone only if the manager was able to listen: when agent calls fail here for
/// lack of database connections, the agents are fine and the manager is overloaded. Like Kubernetes' node
/// lifecycle controller in a full disruption, the LOST sweep then waits instead of failing healthy sessions.
final class HeartbeatHealth: Sendable {
    private let lastFailure = Mutex<ContinuousClock.Instant?>(nil)

    func recordFailure() {
        self.lastFailure.withLock { $0 = .now }
    }

    /// True when an agent call failed on our side within `window`.
    func failed(within window: Duration) -> Bool {
        self.lastFailure.withLock { instant in instant.map { ContinuousClock.now - $0 < window } ?? false }
    }
}
