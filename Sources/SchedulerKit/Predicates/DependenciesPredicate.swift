/// Every dependency must be TERMINATED with result SUCCESS. One that ended otherwise cancels the session with
/// `dependency-failed` (Backend.AI leaves such sessions PENDING forever).
public struct DependenciesPredicate: SchedulingPredicate {
    public let name = "dependencies"

    public init() {}

    public func evaluate(_ session: PendingSession, snapshot: SchedulingSnapshot, ledger: PassLedger) -> PredicateOutcome {
        if let failed = ledger.doomed[session.id] {
            return .cancel(
                statusInfo: "dependency-failed",
                message: "The dependency session '\(failed)' ended without success.")
        }
        let waitingFor = session.dependencies.compactMap { id -> String? in
            guard let state = snapshot.dependencies[id] else {
                // Still pending in this group, or unknown to the snapshot: not finished.
                return ledger.pendingNames[id] ?? id
            }
            return state.isSatisfied ? nil : state.name
        }
        guard waitingFor.isEmpty else {
            return .waiting("Waiting dependency sessions to finish as success. (\(waitingFor.joined(separator: ", ")))")
        }
        return .passed
    }
}
