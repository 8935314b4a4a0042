/// `starts_at` in the future: wait until then.
public struct ReservedTimePredicate: SchedulingPredicate {
    public let name = "reserved_time"

    public init() {}

    public func evaluate(_ session: PendingSession, snapshot: SchedulingSnapshot, ledger: PassLedger) -> PredicateOutcome {
        guard let startsAt = session.startsAt, startsAt > snapshot.now else { return .passed }
        let seconds = Int((startsAt - snapshot.now).rounded(.up))
        return .waiting("Reserved to start in \(seconds) s (starts_at).")
    }
}
