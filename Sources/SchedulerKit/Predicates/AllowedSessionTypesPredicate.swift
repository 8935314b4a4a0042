/// Re-checks the scaling group's `allowed_session_types`: an admin may narrow it after a session was queued.
public struct AllowedSessionTypesPredicate: SchedulingPredicate {
    public let name = "allowed_session_types"

    public init() {}

    public func evaluate(_ session: PendingSession, snapshot: SchedulingSnapshot, ledger: PassLedger) -> PredicateOutcome {
        guard !snapshot.options.accepts(session.type) else { return .passed }
        return .waiting(
            "The scaling group '\(snapshot.scalingGroup)' does not accept the session type '\(session.type.rawValue)'.")
    }
}
