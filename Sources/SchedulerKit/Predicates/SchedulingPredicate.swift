/// What one predicate says about one pending session.
public enum PredicateOutcome: Hashable, Sendable {
    case passed
    /// Not yet; the message tells the user why.
    case waiting(String)
    /// Never: the session is cancelled with `statusInfo`.
    case cancel(statusInfo: String, message: String)
}

/// One check a pending session must pass before it is placed on an agent.
public protocol SchedulingPredicate: Sendable {
    /// The name users see in `status_data.scheduler` (`reserved_time`, `concurrency`, …).
    var name: String { get }
    func evaluate(_ session: PendingSession, snapshot: SchedulingSnapshot, ledger: PassLedger) -> PredicateOutcome
}

/// The predicates every pass runs, in the order their results are listed.
public enum StandardPredicates {
    public static let all: [any SchedulingPredicate] = [
        ReservedTimePredicate(),
        DependenciesPredicate(),
        AllowedSessionTypesPredicate(),
        ConcurrencyPredicate(),
        KeypairResourceLimitPredicate(),
        GroupResourceLimitPredicate(),
        DomainResourceLimitPredicate(),
        PendingTimeoutPredicate(),
    ]
}
