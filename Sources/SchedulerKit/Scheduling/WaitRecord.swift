/// What a PENDING session's `status_data.scheduler` last said about why it waits.
///
/// A pass re-evaluates every pending session, but rewriting each one's row on every pass makes a long queue cost
/// O(queue) writes per pass, every pass. Kubernetes updates a pod's PodScheduled condition only when it changes;
/// here a wait is written when it says something new, or when the last record is older than the refresh interval,
/// so `retries` and `last_try` still advance (about once per interval, Backend.AI's own timer cadence for a session
/// whose situation does not change) and a reader sees a recent `last_try`.
public struct WaitRecord: Hashable, Sendable {
    public var statusInfo: String?
    public var failed: [PredicateFailure]
    public var message: String?
    /// `last_try`, seconds since the Unix epoch.
    public var lastTry: Double?

    public init(statusInfo: String?, failed: [PredicateFailure], message: String?, lastTry: Double?) {
        self.statusInfo = statusInfo
        self.failed = failed
        self.message = message
        self.lastTry = lastTry
    }
}

extension SchedulingDecision.Waiting {
    /// True when this wait must be written over `previous` (nil: nothing recorded yet).
    public func needsRecording(over previous: WaitRecord?, now: Double, refreshInterval: Double) -> Bool {
        guard let previous, let lastTry = previous.lastTry else { return true }
        if previous.statusInfo != self.statusInfo || previous.failed != self.failed || previous.message != self.message {
            return true
        }
        return now - lastTry >= refreshInterval
    }
}
