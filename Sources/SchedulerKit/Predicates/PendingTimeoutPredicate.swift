/// The scaling group's `pending_timeout` (0: never), measured from creation as Backend.AI does.
public struct PendingTimeoutPredicate: SchedulingPredicate {
    public let name = "pending_timeout"

    public init() {}

    public func evaluate(_ session: PendingSession, snapshot: SchedulingSnapshot, ledger: PassLedger) -> PredicateOutcome {
        let timeout = snapshot.options.pendingTimeout
        guard timeout > 0, snapshot.now - session.createdAt >= timeout else { return .passed }
        return .cancel(
            statusInfo: "pending-timeout",
            message: "Pending for longer than the scaling group's pending_timeout (\(JSONValue.number(timeout).text) s).")
    }
}
