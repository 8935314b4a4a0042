/// The keypair's `max_concurrent_sessions` (0: unlimited), counting sessions started earlier in this pass.
public struct ConcurrencyPredicate: SchedulingPredicate {
    public let name = "concurrency"

    public init() {}

    public func evaluate(_ session: PendingSession, snapshot: SchedulingSnapshot, ledger: PassLedger) -> PredicateOutcome {
        guard let budget = ledger.keypairs[session.accessKey], budget.maxConcurrentSessions > 0,
            budget.runningSessions >= budget.maxConcurrentSessions
        else { return .passed }
        return .waiting("You cannot run more than \(budget.maxConcurrentSessions) concurrent sessions")
    }
}
