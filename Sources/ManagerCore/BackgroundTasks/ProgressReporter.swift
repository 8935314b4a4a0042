import Synchronization

/// What a running task tells its watchers. Setting it is cheap and never waits: the service samples the latest
/// value about ten times a second and stores and publishes only what changed, so a fast copy cannot flood anyone.
public final class ProgressReporter: Sendable {
    public struct Snapshot: Sendable, Equatable {
        public var current: Double = 0
        public var total: Double = 0
        public var message = ""
    }

    private let state = Mutex<(snapshot: Snapshot, version: Int)>((Snapshot(), 0))

    public init() {}

    /// Replaces the progress; nil leaves a value as it was.
    public func update(current: Double? = nil, total: Double? = nil, message: String? = nil) {
        self.state.withLock { state in
            var next = state.snapshot
            if let current { next.current = current }
            if let total { next.total = total }
            if let message { next.message = message }
            if next != state.snapshot {
                state.snapshot = next
                state.version += 1
            }
        }
    }

    /// The latest progress and a counter that moves with every change.
    var latest: (snapshot: Snapshot, version: Int) { self.state.withLock { $0 } }
}
